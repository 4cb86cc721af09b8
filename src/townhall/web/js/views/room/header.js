// @ts-check
// The room's header card: title, host, topics, state and counts (with the raised hands
// a moderator has to answer), the recording badge's box, what happens to the audio, and
// the audio connection's status.

import { avatar, displayName, errorMessage, h, plural } from '../../ui.js';
import { setAttr, setText } from './keyed.js';
import { handQueue } from './state.js';

/** @typedef {import('./state.js').RoomState} RoomState */

export const EVIDENCE_NOTE = 'Audio may be kept for review if someone reports this space.';

export function buildHeader() {
  const title = h('h1', { id: 'room-title' });
  const hostLine = h('p', { class: 'host-line' });
  const topics = h('ul', { class: 'topics', 'aria-label': 'Topics' });
  const pill = h('span', { class: 'live-pill' });
  const privacy = h('span', { class: 'private-pill' }, 'Private');
  const count = h('span', { class: 'listener-count' });
  const hands = h('a', { class: 'hand-count', href: '#queue-title', hidden: true });
  const meta = h('p', { class: 'room-meta' }, pill, privacy, count, hands);
  const recording = h('div', { class: 'recording-box', hidden: true });
  // Where the audio may go (evidence kept for reports: docs/MODERATION.md).
  const evidence = h('p', { class: 'muted small evidence-note' }, EVIDENCE_NOTE);
  const conn = h('p', { class: 'audio-status muted', role: 'status', 'aria-live': 'polite' });
  const card = h('section', { class: 'card room-head', 'aria-labelledby': 'room-title' }, title, hostLine, topics, meta, recording, evidence, conn);
  hands.addEventListener('click', (ev) => {
    ev.preventDefault();
    const target = document.getElementById('queue-title');
    if (target) target.scrollIntoView({ block: 'start' });
  });
  return { card, title, hostLine, topics, pill, privacy, count, hands, meta, recording, evidence, conn, painted: '' };
}

/**
 * @param {ReturnType<typeof buildHeader>} e
 * @param {RoomState} state
 * @param {boolean} showsQueue  the viewer moderates (and is in the room)
 */
export function paintHeader(e, state, showsQueue) {
  const s = state.space;
  document.title = `${s.title} · townhall`;
  setText(e.title, s.title);
  const host = s.host;
  const hostKey = JSON.stringify([host, s.topics]);
  if (hostKey !== e.painted) {
    e.painted = hostKey;
    e.hostLine.replaceChildren(
      avatar(host, 'xs'),
      h('a', { href: `#/u/${encodeURIComponent(host ? host.handle : '')}`, target: '_blank', rel: 'noopener' }, displayName(host)),
      h('span', { class: 'muted' }, ' · host'),
    );
    e.topics.replaceChildren(...s.topics.map((t) => h('li', { class: 'topic' }, t)));
  }
  e.topics.hidden = !s.topics.length;
  const live = s.state === 'live';
  e.pill.className = live ? 'live-pill' : s.state === 'scheduled' ? 'sched-pill' : 'private-pill';
  setText(e.pill, live ? 'LIVE' : s.state === 'scheduled' ? 'Upcoming' : s.state === 'ended' ? 'Ended' : s.state);
  e.privacy.hidden = s.visibility !== 'private';
  e.count.hidden = !live;
  setText(e.count, plural(state.listenerCount, 'listener', 'listeners'));
  e.count.dataset.count = String(state.listenerCount);
  const raised = showsQueue ? handQueue(state).length : 0;
  e.hands.hidden = !raised;
  setText(e.hands, `✋ ${raised}`);
  setAttr(e.hands, 'aria-label', `${plural(raised, 'raised hand', 'raised hands')}: go to the queue`);
  e.evidence.hidden = !(live || s.state === 'scheduled');
}

const AUDIO_TEXT = {
  connecting: 'Connecting audio…',
  reconnecting: 'Audio interrupted. Reconnecting…',
  interrupted: 'Audio interrupted. Reconnecting…',
  failed: 'Audio connection failed. Retrying…',
  connected: 'Audio connected.',
  hls: "You are listening with a few seconds' delay.",
  closed: '',
};

/**
 * @param {HTMLElement} conn
 * @param {{state: string, error?: any}} detail  the AudioLink's `state` event
 */
export function paintAudioStatus(conn, detail) {
  const text = detail.state === 'refused'
    ? `Audio unavailable: ${detail.error ? errorMessage(detail.error) : 'refused by the server'}`
    : AUDIO_TEXT[/** @type {keyof AUDIO_TEXT} */ (detail.state)] ?? '';
  setText(conn, text);
  conn.dataset.audio = detail.state;
}
