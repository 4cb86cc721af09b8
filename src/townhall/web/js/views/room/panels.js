// @ts-check
// The room's boxes around the stage: the scheduled space's card (Start now, Cancel,
// Remind me), the Join panel, an invitation to speak, and the host's settings. Each is
// made again only when what it shows changes (so its buttons keep the focus).

import * as S from '../../spaces.js';
import { bindForm, field, formError, h, when } from '../../ui.js';
import { handlesToIds } from '../newspace.js';
import { isHost, myMember } from './state.js';

/** @typedef {import('./state.js').RoomState} RoomState */

/**
 * Re-make `box` with `make()` when `key` changed since the last time.
 * @param {HTMLElement & {paintKey?: string}} box
 * @param {string} key
 * @param {() => (Node | null)[] | null} make  the children, or null to hide the box
 */
function remake(box, key, make) {
  if (box.paintKey === key) return;
  box.paintKey = key;
  const children = make();
  box.hidden = children === null;
  box.replaceChildren(...(children ?? []).filter((c) => c !== null));
}

/**
 * @param {HTMLElement} box
 * @param {RoomState} state
 * @param {{start: () => void, cancel: () => void, remind: (on: boolean) => Promise<boolean>}} on
 */
export function paintSchedule(box, state, on) {
  const s = state.space;
  const host = isHost(state);
  remake(box, [s.state, host].join(), () => {
    if (s.state !== 'scheduled') return null;
    const card = h('div', { class: 'card room-banner info' }, h('p', {}, 'Starts ', h('time', { datetime: s.scheduled_for || '' }, when(s.scheduled_for)), '.'));
    if (host) {
      card.append(h('div', { class: 'row' },
        h('button', { type: 'button', class: 'btn btn-primary', onclick: on.start }, 'Start now'),
        h('button', { type: 'button', class: 'btn', onclick: on.cancel }, 'Cancel space')));
    } else {
      let set = Boolean(s.reminder_set);
      const b = h('button', { type: 'button', class: 'btn', 'aria-pressed': String(set) }, set ? 'Reminder set ✓' : 'Remind me');
      b.addEventListener('click', async () => {
        if (await on.remind(!set)) {
          set = !set;
          b.textContent = set ? 'Reminder set ✓' : 'Remind me';
          b.setAttribute('aria-pressed', String(set));
        }
      });
      card.append(b);
    }
    return [card];
  });
}

/**
 * @param {HTMLElement} box
 * @param {RoomState} state
 * @param {{joined: boolean}} view
 * @param {(button: HTMLButtonElement) => void} join
 */
export function paintJoin(box, state, view, join) {
  const show = state.space.state === 'live' && !view.joined && !state.over;
  const host = isHost(state);
  remake(box, [show, host].join(), () => {
    if (!show) return null;
    const button = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', class: 'btn btn-primary btn-big join-btn' }, host ? 'Join as host' : 'Join space'));
    button.addEventListener('click', () => join(button));
    return [h('p', {}, host ? 'Your space is live. Join to start the audio.' : 'Join to listen. Audio starts when you press the button.'), button];
  });
}

/**
 * @param {HTMLElement} box
 * @param {RoomState} state
 * @param {{joined: boolean}} view
 * @param {{accept: () => void, decline: () => void}} on
 */
export function paintInvite(box, state, view, on) {
  const me = myMember(state);
  const role = me && me.invited;
  const show = Boolean(role && view.joined && !state.over);
  remake(box, [show, role].join(), () => {
    if (!show) return null;
    return [
      h('p', {}, h('strong', {}, role === 'cohost' ? 'You are invited to co-host.' : 'You are invited to speak.')),
      h('div', { class: 'row' },
        h('button', { type: 'button', class: 'btn btn-primary', onclick: on.accept }, 'Accept'),
        h('button', { type: 'button', class: 'btn', onclick: on.decline }, 'Decline')),
    ];
  });
}

/**
 * The host's settings (title, topics, who may speak, guests), or Report for others.
 * @param {HTMLElement} box
 * @param {RoomState} state
 * @param {{edit: (body: any) => Promise<void>, addGuests: (ids: number[]) => Promise<void>, report: () => void}} on
 */
export function paintTools(box, state, on) {
  const s = state.space;
  const host = isHost(state);
  const open = !state.over && (s.state === 'live' || s.state === 'scheduled');
  remake(box, [host, open, s.visibility].join(), () => {
    if (!open) return null;
    const title = h('h2', { id: 'tools-title' }, host ? 'Space settings' : 'More');
    if (!host) return [title, h('button', { type: 'button', class: 'btn btn-small', onclick: on.report }, 'Report this space')];
    const form = h('form', { class: 'form', novalidate: true },
      field('Title', h('input', { name: 'title', required: true, maxlength: 70, value: s.title })),
      field('Topics', h('input', { name: 'topics', maxlength: 100, value: s.topics.join(', ') }), 'Up to 3, separated by commas.'),
      field('Who can request to speak', h('select', { name: 'speaker_policy' },
        ['everyone', 'followed', 'invited'].map((v) => h('option', { value: v, selected: s.speaker_policy === v }, { everyone: 'Everyone', followed: 'People I follow', invited: 'Only people I invite' }[v])))),
      formError(),
      h('button', { type: 'submit', class: 'btn btn-small' }, 'Save changes'));
    bindForm(form, (data) => on.edit({
      title: String(data.get('title') || '').trim(),
      topics: String(data.get('topics') || '').split(',').map((t) => t.trim()).filter(Boolean),
      speaker_policy: String(data.get('speaker_policy')),
    }));
    const parts = [title, h('details', {}, h('summary', {}, 'Edit title, topics, speakers'), form)];
    if (s.visibility === 'private') {
      const guests = h('form', { class: 'form', novalidate: true },
        field('Add guests', h('input', { name: 'guests', placeholder: '@ann, @bob', autocapitalize: 'none', spellcheck: 'false' }), 'They can join with the share link.'),
        formError(),
        h('button', { type: 'submit', class: 'btn btn-small' }, 'Add'));
      bindForm(guests, async (data) => {
        const ids = await handlesToIds(data.get('guests'));
        if (!ids.length) return;
        await on.addGuests(ids);
        /** @type {HTMLFormElement} */ (guests).reset();
      });
      parts.push(h('details', {}, h('summary', {}, 'Invite people to this private space'), guests));
    }
    return parts;
  });
}
