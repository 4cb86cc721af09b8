// @ts-check
// A person's menu: a table from the server's action names to labels and calls. The
// server decides which actions the viewer may take on each member (`member.actions`,
// from domain/actions.py); this module only names and runs them.

import * as S from '../../spaces.js';
import { displayName, h } from '../../ui.js';
import { keyed } from './keyed.js';

/** @typedef {import('./state.js').Member} Member */
/** @typedef {import('./state.js').RoomState} RoomState */

/**
 * @typedef {object} MenuAction
 * @property {string} label
 * @property {boolean} [danger]
 * @property {(name: string, m: Member) => string} [confirm]  asked in a dialog first
 * @property {string} [confirmLabel]
 * @property {(space: string, m: Member) => Promise<unknown>} call
 * @property {(name: string) => string} done  announced once it is done
 */

/** @type {Record<string, MenuAction>} in menu order */
export const ACTIONS = {
  step_down: { label: 'Move myself to listeners', call: (id) => S.stepDown(id), done: () => 'You moved to the listeners' },
  invite_speaker: { label: 'Invite to speak', call: (id, m) => S.invite(id, m.user.id, 'speaker'), done: (n) => `Invited ${n} to speak` },
  invite_cohost: { label: 'Make co-host', call: (id, m) => S.invite(id, m.user.id, 'cohost'), done: (n) => `Invited ${n} to co-host` },
  mute: { label: 'Mute', call: (id, m) => S.setMute(id, m.user.id, true), done: (n) => `${n} muted` },
  transfer_host: {
    label: 'Make host',
    confirm: (n) => `Hand the host role to ${n}? You become a co-host.`,
    confirmLabel: 'Make host',
    call: (id, m) => S.transferHost(id, m.user.id),
    done: (n) => `${n} is now the host`,
  },
  make_speaker: { label: 'Make speaker', call: (id, m) => S.setRole(id, m.user.id, 'speaker'), done: (n) => `${n} is now a speaker` },
  make_listener: { label: 'Move to listeners', call: (id, m) => S.setRole(id, m.user.id, 'listener'), done: (n) => `${n} moved to the listeners` },
  remove: {
    label: 'Remove from space',
    danger: true,
    confirm: (n) => `Remove ${n} from this space? They cannot come back.`,
    confirmLabel: 'Remove',
    call: (id, m) => S.remove(id, m.user.id),
    done: (n) => `${n} was removed`,
  },
  block: {
    label: 'Block',
    danger: true,
    confirm: (_n, m) => `Block @${m.user.handle}? They are removed and cannot follow you or join your spaces.`,
    confirmLabel: 'Block',
    call: (id, m) => S.block(id, m.user.id),
    done: (n) => `${n} was removed and blocked`,
  },
};

/**
 * The actions the viewer may take on `m`, as the server said (none while not known).
 * @param {Member} m
 * @returns {string[]}
 */
export function actionsOn(m) {
  return m.actions ?? [];
}

/**
 * @typedef {object} MenuItem
 * @property {string} key
 * @property {string} label
 * @property {boolean} [danger]
 * @property {() => void} run
 */

/**
 * The menu's items for one person (profile and report for everyone, then the actions).
 * @param {RoomState} state
 * @param {{joined: boolean}} view
 * @param {Member} m
 * @param {{act: (a: MenuAction, m: Member) => void, report: (m: Member) => void}} handlers
 * @returns {MenuItem[]}
 */
export function menuItems(state, view, m, handlers) {
  /** @type {MenuItem[]} */
  const items = [
    // A new tab, so that looking someone up does not leave the space.
    { key: 'profile', label: 'View profile (new tab)', run: () => window.open(`#/u/${encodeURIComponent(m.user.handle)}`, '_blank', 'noopener') },
  ];
  if (state.over || !view.joined) return items;
  const self = m.user.id === state.myId;
  if (!self) items.push({ key: 'report', label: 'Report', run: () => handlers.report(m) });
  for (const name of actionsOn(m)) {
    const action = ACTIONS[name];
    if (action) items.push({ key: name, label: action.label, danger: action.danger, run: () => handlers.act(action, m) });
  }
  return items;
}

/**
 * The open menu's element (arrow keys move between items); `fillMenu` puts its items.
 * @param {Member} m
 */
export function menuElement(m) {
  const uid = m.user.id;
  const menu = h('ul', { class: 'menu', role: 'menu', id: `menu-${uid}`, 'aria-label': `Actions for ${displayName(m.user)}` });
  menu.addEventListener('keydown', (ev) => {
    const buttons = Array.from(menu.querySelectorAll('button'));
    const i = buttons.indexOf(/** @type {HTMLButtonElement} */ (document.activeElement));
    if (ev.key === 'ArrowDown') {
      ev.preventDefault();
      buttons[(i + 1) % buttons.length].focus();
    } else if (ev.key === 'ArrowUp') {
      ev.preventDefault();
      buttons[(i - 1 + buttons.length) % buttons.length].focus();
    }
  });
  return menu;
}

/**
 * The menu's items, kept by action (a new snapshot's actions add or drop items; the
 * others stay, and so does the focus on them).
 * @param {HTMLElement} menu
 * @param {MenuItem[]} items
 * @param {() => void} close
 */
export function fillMenu(menu, items, close) {
  const focused = menu.contains(document.activeElement);
  keyed(menu, items, (item) => item.key, (item) => {
    const button = h('button', { type: 'button', role: 'menuitem', 'data-action': item.key });
    const li = h('li', { role: 'none' }, button);
    button.addEventListener('click', (ev) => {
      ev.stopPropagation();
      close();
      /** @type {any} */ (li).run();
    });
    return li;
  }, (li, item) => {
    /** @type {any} */ (li).run = item.run;
    const button = /** @type {HTMLElement} */ (li.firstChild);
    button.className = item.danger ? 'danger' : '';
    if (button.textContent !== item.label) button.textContent = item.label;
  });
  // The focused item went (an action no longer offered): the first one takes it.
  if (focused && !menu.contains(document.activeElement)) /** @type {HTMLElement | null} */ (menu.querySelector('button'))?.focus();
}
