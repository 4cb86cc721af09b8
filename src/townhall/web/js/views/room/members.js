// @ts-check
// The stage and the listeners: one tile per person, kept by user id and updated in place
// (role, mute and hand badges, speaking ring, the open menu).

import { avatar, displayName, h } from '../../ui.js';
import { keyed, setAttr, setText } from './keyed.js';
import { fillMenu, menuElement, menuItems } from './menu.js';
import { listeners, onStage, stage } from './state.js';

/** @typedef {import('./state.js').Member} Member */
/** @typedef {import('./state.js').RoomState} RoomState */
/** @typedef {{joined: boolean, openMenu: number | null}} View */
/** @typedef {{toggleMenu: (id: number) => void, closeMenu: () => void, act: any, report: (m: Member) => void}} Handlers */

const ROLE_LABEL = { host: 'Host', cohost: 'Co-host', speaker: 'Speaker', listener: 'Listener' };
export const SPEAKING_LEVEL = 0.04;

/**
 * @param {HTMLElement} list
 * @param {string} text
 */
function emptyNote(list, text) {
  let note = /** @type {HTMLElement | null} */ (list.querySelector(':scope > .empty'));
  if (!text) {
    if (note) note.remove();
    return;
  }
  if (!note) {
    note = h('li', { class: 'muted empty' });
    list.append(note);
  }
  setText(note, text);
}

/**
 * @param {RoomState} state
 * @param {View} view
 * @param {Handlers} handlers
 * @param {'lg' | 'md'} size
 */
function tiles(state, view, handlers, size) {
  return {
    /** @param {Member} m */
    create(m) {
      const face = h('span', { class: 'face' }, avatar(m.user, size));
      const who = h('button', { type: 'button', class: 'who' }, face, h('span', { class: 'name' }), h('span', { class: 'role' }));
      who.addEventListener('click', (ev) => {
        ev.stopPropagation();
        handlers.toggleMenu(Number(li.dataset.userId));
      });
      const li = h('li', { class: 'member', dataset: { userId: String(m.user.id) } }, who);
      return li;
    },
    /**
     * @param {HTMLElement} li
     * @param {Member} m
     */
    update(li, m) {
      const me = m.user.id === state.myId;
      const name = displayName(m.user);
      const staged = onStage(m.role);
      const bits = [ROLE_LABEL[m.role]];
      if (staged) bits.push(m.muted ? 'muted' : 'mic on');
      if (m.hand) bits.push('hand raised');
      if (m.invited) bits.push('invited');
      const items = menuItems(state, view, m, handlers);
      const open = view.openMenu === m.user.id && items.length > 0;
      const who = /** @type {HTMLElement} */ (li.querySelector('.who'));
      setAttr(who, 'aria-label', `${name}${me ? ' (you)' : ''}, ${bits.join(', ')}`);
      setAttr(who, 'aria-haspopup', 'menu');
      setAttr(who, 'aria-expanded', String(open));
      setText(/** @type {HTMLElement} */ (li.querySelector('.name')), me ? `${name} (you)` : name);
      setText(/** @type {HTMLElement} */ (li.querySelector('.role')), ROLE_LABEL[m.role]);
      li.dataset.role = m.role;
      li.dataset.muted = String(m.muted);
      li.dataset.hand = String(m.hand);
      const speaking = staged && !m.muted && (state.levels[m.user.id] || 0) >= SPEAKING_LEVEL;
      li.classList.toggle('speaking', speaking);
      li.dataset.speaking = String(speaking);
      const face = /** @type {HTMLElement} */ (li.querySelector('.face'));
      badge(face, 'mute-badge', staged && m.muted, () => h('span', { class: 'mute-badge', title: 'Muted' }, mutedIcon()));
      badge(face, 'hand-badge', m.hand, () => h('span', { class: 'hand-badge', title: 'Hand raised' }, '✋'));
      let menu = /** @type {HTMLElement | null} */ (li.querySelector(':scope > .menu'));
      if (menu && !open) menu.remove();
      if (open) {
        if (!menu) {
          menu = menuElement(m);
          li.append(menu);
        }
        fillMenu(menu, items, handlers.closeMenu);
      }
    },
  };
}

/**
 * @param {HTMLElement} face
 * @param {string} cls
 * @param {boolean} want
 * @param {() => HTMLElement} make
 */
function badge(face, cls, want, make) {
  const el = face.querySelector(`.${cls}`);
  if (want && !el) face.append(make());
  else if (!want && el) el.remove();
}

/**
 * @param {{stage: HTMLElement, stageCount: HTMLElement}} el
 * @param {RoomState} state
 * @param {View} view
 * @param {Handlers} handlers
 */
export function paintStage(el, state, view, handlers) {
  const people = stage(state);
  const t = tiles(state, view, handlers, 'lg');
  keyed(el.stage, people, (m) => String(m.user.id), t.create, t.update);
  emptyNote(el.stage, people.length || state.over ? '' : 'The stage is empty.');
  setText(el.stageCount, people.length ? `(${people.length})` : '');
}

/**
 * @param {{listeners: HTMLElement, listenersTitle: HTMLElement}} el
 * @param {RoomState} state
 * @param {View} view
 * @param {Handlers} handlers
 */
export function paintListeners(el, state, view, handlers) {
  const people = listeners(state);
  const t = tiles(state, view, handlers, 'md');
  keyed(el.listeners, people, (m) => String(m.user.id), t.create, t.update);
  emptyNote(el.listeners, people.length || state.over ? '' : 'No listeners yet.');
  setText(el.listenersTitle, `Listeners (${state.listenerCount})`);
}

/** Only the speaking rings (levels arrive often). @param {HTMLElement} list @param {RoomState} state */
export function paintSpeaking(list, state) {
  for (const li of Array.from(list.querySelectorAll('.member'))) {
    const item = /** @type {HTMLElement} */ (li);
    const m = state.members[Number(item.dataset.userId)];
    const speaking = Boolean(m && onStage(m.role) && !m.muted && (state.levels[m.user.id] || 0) >= SPEAKING_LEVEL);
    item.classList.toggle('speaking', speaking);
    item.dataset.speaking = String(speaking);
  }
}

function mutedIcon() {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', '14');
  svg.setAttribute('height', '14');
  svg.setAttribute('aria-hidden', 'true');
  const p = document.createElementNS(ns, 'path');
  p.setAttribute('fill', 'currentColor');
  p.setAttribute('d', 'M19 11a7 7 0 0 1-1.2 3.9l-1.5-1.5c.4-.7.7-1.5.7-2.4h2zM15 11V5a3 3 0 0 0-5.9-.8L15 10.1V11zM4.3 3 3 4.3l6 6V11a3 3 0 0 0 4.6 2.5l1.6 1.6A5 5 0 0 1 7 11H5a7 7 0 0 0 6 6.9V21h2v-3.1a7 7 0 0 0 3.7-1.5l3 3 1.3-1.3z');
  svg.append(p);
  return svg;
}
