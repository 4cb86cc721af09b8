// @ts-check
// The hand queue (hosts and co-hosts): raised hands in order with Approve and Decline,
// and the count in its heading. Kept by user id, so the buttons of the others stay put.

import { avatar, displayName, h } from '../../ui.js';
import { keyed, setText } from './keyed.js';
import { handQueue, moderates, myRole } from './state.js';

/** @typedef {import('./state.js').Member} Member */
/** @typedef {import('./state.js').RoomState} RoomState */

export function buildQueue() {
  const count = h('span', { class: 'count-pill', 'aria-hidden': 'true' });
  const title = h('h2', { id: 'queue-title' }, 'Raised hands ', count);
  const list = h('ul', { class: 'queue' });
  const section = h('section', { class: 'card queue-card', 'aria-labelledby': 'queue-title', hidden: true }, title, list);
  return { section, title, count, list };
}

/** Whether the viewer sees the queue. @param {RoomState} state @param {{joined: boolean}} view */
export function showsQueue(state, view) {
  return moderates(myRole(state)) && view.joined && !state.over;
}

/**
 * @param {ReturnType<typeof buildQueue>} q
 * @param {RoomState} state
 * @param {{joined: boolean}} view
 * @param {{approve: (m: Member) => void, decline: (m: Member) => void}} on
 */
export function paintQueue(q, state, view, on) {
  q.section.hidden = !showsQueue(state, view);
  if (q.section.hidden) return;
  const hands = handQueue(state);
  setText(q.count, String(hands.length));
  q.count.dataset.count = String(hands.length);
  q.title.setAttribute('aria-label', `Raised hands (${hands.length})`);
  keyed(q.list, hands, (m) => String(m.user.id), (m) => {
    const name = displayName(m.user);
    return h('li', { dataset: { userId: String(m.user.id) } },
      avatar(m.user, 'sm'),
      h('span', { class: 'qname' }, name),
      h('span', { class: 'q-actions' },
        h('button', { type: 'button', class: 'btn btn-primary btn-small', 'data-action': 'approve_hand', 'aria-label': `Approve ${name} to speak`, onclick: () => on.approve(m) }, 'Approve'),
        h('button', { type: 'button', class: 'btn btn-small', 'data-action': 'decline_hand', 'aria-label': `Decline ${name}'s request`, onclick: () => on.decline(m) }, 'Decline')));
  }, (li, m) => {
    // What the server offers (while not known since a change, both: it answers anyway).
    for (const button of Array.from(li.querySelectorAll('button[data-action]'))) {
      const action = /** @type {HTMLElement} */ (button).dataset.action || '';
      /** @type {HTMLElement} */ (button).hidden = m.actions !== null && !m.actions.includes(action);
    }
  });
  let empty = /** @type {HTMLElement | null} */ (q.list.querySelector(':scope > .empty'));
  if (hands.length && empty) empty.remove();
  if (!hands.length && !empty) {
    empty = h('li', { class: 'muted empty' }, 'No raised hands.');
    q.list.append(empty);
  }
}
