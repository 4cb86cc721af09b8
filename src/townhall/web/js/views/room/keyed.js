// @ts-check
// Keyed updates of a list: one element per key, created once and updated in place, so
// that an update keeps the elements (and the keyboard focus on them) instead of painting
// the list again.

/**
 * Make `list`'s children exactly `items`, in order, one element per key.
 * @template T
 * @param {HTMLElement} list
 * @param {T[]} items
 * @param {(item: T) => string} keyOf
 * @param {(item: T) => HTMLElement} create  a new element for an item
 * @param {(el: HTMLElement, item: T) => void} update  bring an element up to date
 */
export function keyed(list, items, keyOf, create, update) {
  /** @type {Map<string, HTMLElement>} */
  const old = new Map();
  for (const child of Array.from(list.children)) {
    const el = /** @type {HTMLElement} */ (child);
    if (el.dataset.key !== undefined) old.set(el.dataset.key, el);
    else el.remove();
  }
  /** @type {Element | null} */
  let at = list.firstElementChild;
  for (const item of items) {
    const key = keyOf(item);
    let el = old.get(key);
    if (el) old.delete(key);
    else {
      el = create(item);
      el.dataset.key = key;
    }
    update(el, item);
    if (el !== at) list.insertBefore(el, at);
    else at = at.nextElementSibling;
  }
  for (const el of old.values()) el.remove();
}

/**
 * Set an element's text only when it changed (no needless DOM writes).
 * @param {HTMLElement} el
 * @param {string} text
 */
export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

/**
 * Set or remove an attribute only when it changed.
 * @param {Element} el
 * @param {string} name
 * @param {string | null} value
 */
export function setAttr(el, name, value) {
  if (value === null) {
    if (el.hasAttribute(name)) el.removeAttribute(name);
  } else if (el.getAttribute(name) !== value) {
    el.setAttribute(name, value);
  }
}
