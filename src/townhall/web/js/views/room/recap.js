// @ts-check
// The end of a space: a banner saying why (ended, cancelled, removed), and for an ended
// space its recap: how long it lasted (to the second), the peak audience, who spoke;
// the replay player and transcript follow (recording.js, captions.js).

import { avatar, displayName, h, plural } from '../../ui.js';

/** @typedef {import('./state.js').RoomState} RoomState */
/** @typedef {import('../../types.js').SpaceHistory} SpaceHistory */

/**
 * "42 s", "3 min 05 s", "1 h 02 min 05 s".
 * @param {number} seconds
 */
export function duration(seconds) {
  const total = Math.max(0, Math.round(seconds));
  const hh = Math.floor(total / 3600);
  const mm = Math.floor((total % 3600) / 60);
  const ss = total % 60;
  const two = (/** @type {number} */ n) => String(n).padStart(2, '0');
  if (hh) return `${hh} h ${two(mm)} min ${two(ss)} s`;
  if (mm) return `${mm} min ${two(ss)} s`;
  return `${ss} s`;
}

/**
 * @param {HTMLElement} banner
 * @param {RoomState} state
 */
export function paintBanner(banner, state) {
  banner.hidden = !state.over;
  if (!state.over) return;
  if (banner.dataset.kind === state.over && banner.dataset.message === state.overMessage) return;
  banner.dataset.kind = state.over;
  banner.dataset.message = state.overMessage;
  banner.className = `room-banner ended ${state.over}`;
  banner.setAttribute('role', state.over === 'removed' ? 'alert' : 'status');
  banner.replaceChildren(h('p', {}, state.overMessage), h('a', { class: 'btn', href: '#/' }, 'Back to home'));
}

/**
 * The recap card of an ended space, from its history.
 * @param {SpaceHistory} hist
 */
export function recapCard(hist) {
  const facts = h('dl', { class: 'recap-facts' });
  /** @param {string} term @param {string} value @param {string} key */
  const fact = (term, value, key) => facts.append(h('div', { dataset: { fact: key } }, h('dt', {}, term), h('dd', {}, value)));
  if (hist.duration_seconds !== null) fact('Lasted', duration(hist.duration_seconds), 'duration');
  fact('Peak audience', plural(hist.peak_listeners, 'listener', 'listeners'), 'peak');
  fact('Listened', plural(hist.total_listeners, 'person', 'people'), 'total');
  const speakers = h('ul', { class: 'recap-speakers', 'aria-label': 'Who spoke' },
    hist.speakers.map((u) => h('li', {}, avatar(u, 'sm'), h('span', {}, displayName(u)))));
  return h('section', { class: 'card recap', 'aria-labelledby': 'recap-title' },
    h('h2', { id: 'recap-title' }, 'Recap'),
    facts,
    hist.speakers.length ? h('h3', {}, 'Who spoke') : null,
    hist.speakers.length ? speakers : null);
}
