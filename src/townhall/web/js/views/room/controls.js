// @ts-check
// The room's controls (sticky at the bottom): mic or raised hand, Leave, End space for
// the host, reactions. Built once; each paint updates the same buttons (focus stays).

import { h } from '../../ui.js';
import { setAttr, setText } from './keyed.js';
import { myMember, myRole, onStage } from './state.js';

/** @typedef {import('./state.js').RoomState} RoomState */
/** @typedef {{joined: boolean, micBusy: boolean, micMessage: string}} View */

/**
 * @param {string[]} reactions
 * @param {{toggleMic: () => void, toggleHand: () => void, leave: () => void, end: () => void, react: (emoji: string) => void}} on
 */
export function buildControls(reactions, on) {
  const mic = h('button', { type: 'button', class: 'btn', 'data-key': 'mic', onclick: on.toggleMic }, h('span', { 'aria-hidden': 'true' }), h('span', { class: 'label' }));
  const hand = h('button', { type: 'button', class: 'btn', 'data-key': 'hand', onclick: on.toggleHand }, h('span', { 'aria-hidden': 'true' }, '✋ '), h('span', { class: 'label' }));
  const policy = h('p', { class: 'muted small policy-note' }, 'The hosts invite the speakers in this space.');
  const leave = h('button', { type: 'button', class: 'btn', 'data-key': 'leave', onclick: on.leave }, 'Leave');
  const end = h('button', { type: 'button', class: 'btn btn-danger', 'data-key': 'end', onclick: on.end }, 'End space');
  const bar = h('div', { class: 'reactions-bar', role: 'group', 'aria-label': 'Reactions' },
    reactions.map((emoji) => h('button', { type: 'button', class: 'btn btn-ghost btn-small reaction-btn', 'data-key': `react-${emoji}`, 'aria-label': `React ${emoji}`, onclick: () => on.react(emoji) }, emoji)));
  const message = h('p', { class: 'mic-msg', role: 'alert' });
  const box = h('div', { class: 'controls', role: 'toolbar', 'aria-label': 'Room controls', hidden: true }, mic, hand, policy, leave, end, bar);
  return { box, mic, hand, policy, leave, end, message };
}

/**
 * @param {ReturnType<typeof buildControls>} c
 * @param {RoomState} state
 * @param {View} view
 */
export function paintControls(c, state, view) {
  const show = view.joined && !state.over && state.space.state === 'live';
  c.box.hidden = !show;
  if (!show) return;
  const me = myMember(state);
  const staged = Boolean(me && onStage(me.role));
  c.mic.hidden = !staged;
  if (me && staged) {
    const on = !me.muted;
    c.mic.classList.toggle('mic-on', on);
    setAttr(c.mic, 'aria-pressed', String(on));
    c.mic.toggleAttribute('disabled', view.micBusy);
    setText(/** @type {HTMLElement} */ (c.mic.firstChild), on ? '🎙️ ' : '🔇 ');
    setText(/** @type {HTMLElement} */ (c.mic.lastChild), on ? 'Mute' : 'Unmute');
  }
  const invitedOnly = state.space.speaker_policy === 'invited';
  c.hand.hidden = !me || staged || (invitedOnly && !me.hand);
  c.policy.hidden = !me || staged || !(invitedOnly && !me.hand);
  if (me && !c.hand.hidden) {
    setAttr(c.hand, 'aria-pressed', String(me.hand));
    setText(/** @type {HTMLElement} */ (c.hand.lastChild), me.hand ? 'Lower hand' : 'Request to speak');
  }
  c.end.hidden = myRole(state) !== 'host';
  // The mic's message is there only while it says something (an alert each time it comes).
  setText(c.message, view.micMessage);
  if (view.micMessage && !c.message.isConnected) c.box.append(c.message);
  else if (!view.micMessage && c.message.isConnected) c.message.remove();
  // A hidden button that had the focus hands it to the first visible control.
  const focused = document.activeElement;
  if (focused && c.box.contains(focused) && /** @type {HTMLElement} */ (focused).hidden) firstControl(c)?.focus();
}

/** @param {ReturnType<typeof buildControls>} c */
export function firstControl(c) {
  return /** @type {HTMLButtonElement | undefined} */ (Array.from(c.box.querySelectorAll('button')).find((b) => !b.hidden && !b.closest('[hidden]')));
}
