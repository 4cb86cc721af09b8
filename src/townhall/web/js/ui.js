// Small DOM helpers shared by the views: element builder, avatars, toasts, announcements.

/**
 * h('button', {class: 'x', onclick: fn, 'aria-label': 'y'}, 'text', child, [more])
 * Attributes starting with "on" become listeners; `dataset` and `style` objects are merged;
 * boolean true sets an empty attribute and false/null/undefined skips it.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (key === 'style' && typeof value === 'object') {
      Object.assign(el.style, value);
    } else if (key === 'class') {
      el.className = value;
    } else if (key === 'value' || key === 'checked' || key === 'selected' || key === 'disabled') {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

const PALETTE = ['#7c3aed', '#2563eb', '#0891b2', '#059669', '#ca8a04', '#ea580c', '#db2777', '#4f46e5'];

export function initials(user) {
  const name = (user && (user.display_name || user.handle)) || '?';
  const parts = name.trim().split(/\s+/).filter(Boolean);
  const letters = parts.length > 1 ? parts[0][0] + parts[1][0] : name.slice(0, 2);
  return letters.toUpperCase();
}

/** A round avatar with the person's initials; decorative (the name is always shown nearby). */
export function avatar(user, size = 'md') {
  const id = Number(user && user.id) || 0;
  return h(
    'span',
    { class: `avatar avatar-${size}`, 'aria-hidden': 'true', style: { background: PALETTE[id % PALETTE.length] } },
    initials(user),
  );
}

export function displayName(user) {
  return (user && (user.display_name || user.handle)) || 'Someone';
}

/**
 * A transient message that disappears by itself. Screen readers hear it once, through
 * the live region (`announce`); the toasts' box itself is not a live region.
 */
export function toast(message, kind = 'info', ms = 5000) {
  const region = document.getElementById('toasts');
  if (!region) return;
  const item = h('div', { class: `toast toast-${kind}` }, message);
  region.appendChild(item);
  announce(message);
  setTimeout(() => item.remove(), ms);
}

/** Take every toast away (leaving a page: its messages do not follow). */
export function clearToasts() {
  const region = document.getElementById('toasts');
  if (region) clear(region);
}

export function showError(err) {
  toast(errorMessage(err), 'error', 7000);
}

export function errorMessage(err) {
  if (!err) return 'Something went wrong.';
  const msg = err.message || String(err);
  return msg.charAt(0).toUpperCase() + msg.slice(1);
}

/** Speak a message to screen readers through the polite live region (newest last). */
export function announce(message) {
  const region = document.getElementById('announcer');
  if (!region) return;
  // A new node per message: assistive technology reads each addition, repeats included.
  region.appendChild(h('p', {}, message));
  while (region.childNodes.length > 6) region.removeChild(region.firstChild);
}

/**
 * Wire a form: on submit, disable it, run `action(values)`, show any error in the form's
 * error box (and mark the field it names), re-enable.
 */
export function bindForm(form, action) {
  const box = form.querySelector('.form-error');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (box) {
      box.textContent = '';
      box.hidden = true;
    }
    form.querySelectorAll('[aria-invalid]').forEach((el) => el.removeAttribute('aria-invalid'));
    const submit = form.querySelector('[type=submit]');
    if (submit) submit.disabled = true;
    try {
      await action(new FormData(form));
    } catch (err) {
      const message = errorMessage(err);
      if (box) {
        box.textContent = message;
        box.hidden = false;
      } else {
        toast(message, 'error');
      }
      const field = err && err.field ? form.querySelector(`[name="${CSS.escape(err.field)}"]`) : null;
      if (field) {
        field.setAttribute('aria-invalid', 'true');
        field.focus();
      }
    } finally {
      if (submit && submit.isConnected) submit.disabled = false;
    }
  });
}

export function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  const hintEl = hint ? h('small', { class: 'hint', id: `${id}-hint` }, hint) : null;
  if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: id }, label), input, hintEl);
}

export function formError() {
  return h('p', { class: 'form-error', role: 'alert', hidden: true });
}

export function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleString(undefined, { weekday: 'short', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

export function ago(iso) {
  const d = new Date(iso);
  const s = Math.round((Date.now() - d.getTime()) / 1000);
  if (!Number.isFinite(s)) return '';
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return d.toLocaleDateString();
}

export function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}
