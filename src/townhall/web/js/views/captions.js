// Captions in the room: the "Captions on" badge everyone sees, the host's switch, each
// listener's own Show/Hide toggle, and the live lines (who said what, newest at the
// bottom; a partial line is replaced by its final one, and only final lines are announced
// to screen readers). After the end: the transcript beside the player, the line being
// played highlighted, a click on a line seeks the player there.

import { del, get, post } from '../api.js';
import { confirmDialog } from '../dialog.js';
import { announce, clear, displayName, h, showError, toast } from '../ui.js';

const enc = encodeURIComponent;
const SHOW_KEY = 'townhall.captions.hidden';
const MAX_LINES = 8;

export const setCaptions = (id, body) => post(`/spaces/${enc(id)}/captions`, body);
export const getTranscript = (id) => get(`/spaces/${enc(id)}/transcript`);
export const deleteTranscript = (id) => del(`/spaces/${enc(id)}/transcript`);

function hiddenByMe() {
  try {
    return localStorage.getItem(SHOW_KEY) === '1';
  } catch {
    return false;
  }
}

function clock(ms) {
  const s = Math.floor(Math.max(0, ms) / 1000);
  const hms = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  const [hh, mm, ss] = hms;
  return (hh ? `${hh}:${String(mm).padStart(2, '0')}` : String(mm)) + `:${String(ss).padStart(2, '0')}`;
}

/** The captions card's parts, built once by the room (`room.el.captions*`). */
export function buildCaptions(room) {
  const e = room.el;
  e.captions = h('div', { class: 'captions', 'aria-live': 'polite', 'aria-relevant': 'additions', 'aria-label': 'Captions' });
  e.captionsEmpty = h('p', { class: 'muted captions-empty' }, 'Captions will appear here when someone speaks.');
  e.captions.append(e.captionsEmpty);
  e.captionsBadge = h('span', { class: 'cc-pill', hidden: true });
  e.captionsTools = h('div', { class: 'row captions-tools' });
  room.captionsHidden = hiddenByMe();
  room.partials = new Map();
  return h(
    'section',
    { class: 'card captions-card', 'aria-labelledby': 'captions-title' },
    h('div', { class: 'row' }, h('h2', { id: 'captions-title' }, 'Captions'), e.captionsBadge),
    e.captionsTools,
    e.captions,
  );
}

/** Paint the badge and the switches from `room.space.captions` (idempotent). */
export function paintCaptions(room) {
  const e = room.el;
  const c = room.space.captions || { on: false };
  const open = room.space.state === 'live' || room.space.state === 'scheduled';
  const key = JSON.stringify([c.on, c.paused, c.clips, open, room.isHost, room.captionsHidden]);
  if (key === room.captionsKey) return;
  room.captionsKey = key;
  e.captionsBadge.hidden = !(open && c.on);
  e.captionsBadge.textContent = c.paused ? 'Captions paused' : 'Captions on';
  e.captionsBadge.title = c.paused ? 'The speech recogniser is restarting' : 'What is said on stage is captioned';
  e.captionsBadge.classList.toggle('paused', Boolean(c.paused));
  clear(e.captionsTools);
  e.captions.hidden = room.captionsHidden;
  if (!open) return;
  if (c.on) {
    const mine = h('button', { type: 'button', class: 'btn btn-small', 'aria-pressed': String(!room.captionsHidden) }, room.captionsHidden ? 'Show captions' : 'Hide captions');
    mine.addEventListener('click', () => {
      room.captionsHidden = !room.captionsHidden;
      try {
        localStorage.setItem(SHOW_KEY, room.captionsHidden ? '1' : '0');
      } catch {
        /* private mode: the choice lasts for this page */
      }
      paintCaptions(room);
    });
    e.captionsTools.append(mine);
  } else {
    e.captionsTools.append(h('p', { class: 'muted small' }, 'Captions are off for this space.'));
  }
  if (room.isHost && room.space.captions && room.space.captions.available !== false) {
    const button = h('button', { type: 'button', class: 'btn btn-small', 'aria-pressed': String(Boolean(c.on)) }, c.on ? 'Turn captions off' : 'Turn captions on');
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        const out = await setCaptions(room.id, { on: !c.on });
        applyCaptionsEvent(room, out);
      } catch (err) {
        showError(err);
        button.disabled = false;
      }
    });
    e.captionsTools.append(button);
  }
  if (room.isHost) {
    const clips = c.clips !== false;
    const toggle = h('button', { type: 'button', class: 'btn btn-small', 'aria-pressed': String(clips) }, clips ? 'Turn clips off' : 'Allow clips');
    toggle.addEventListener('click', async () => {
      toggle.disabled = true;
      try {
        applyCaptionsEvent(room, await setCaptions(room.id, { clips: !clips }));
      } catch (err) {
        showError(err);
        toggle.disabled = false;
      }
    });
    e.captionsTools.append(toggle);
  }
}

/** `captions.changed {on, language, clips?, paused?}`. */
export function applyCaptionsEvent(room, data) {
  room.dispatch('captions.changed', data);
}

/** `caption {user_id, text, final, utterance}`: add or update that utterance's line. */
export function showCaption(room, d, who) {
  const box = room.el.captions;
  const key = String(d.utterance ?? `${d.user_id}`);
  let line = room.partials.get(key);
  if (!d.text) {
    if (line && d.final) line.remove();
    if (d.final) room.partials.delete(key);
    return;
  }
  if (room.el.captionsEmpty.isConnected) room.el.captionsEmpty.remove();
  const name = who ? displayName(who) : 'Someone';
  if (d.final) {
    // A new node: an addition, so screen readers announce the finished line once.
    const done = h('p', { class: 'caption', dataset: { userId: String(d.user_id) } }, h('strong', {}, `${name}: `), d.text);
    if (line) line.replaceWith(done);
    else box.append(done);
    room.partials.delete(key);
  } else if (line) {
    line.lastChild.textContent = d.text;
  } else {
    line = h('p', { class: 'caption partial', 'aria-hidden': 'true', dataset: { userId: String(d.user_id) } }, h('strong', {}, `${name}: `), h('span', {}, d.text));
    box.append(line);
    room.partials.set(key, line);
  }
  while (box.querySelectorAll('.caption').length > MAX_LINES) box.querySelector('.caption').remove();
  box.scrollTop = box.scrollHeight; // the newest line at the bottom, in view
}

/** The host deleted the recording: ask whether the transcript goes too. */
export async function offerTranscriptDeletion(room) {
  if (!room.el.transcript) return;
  if (!(await confirmDialog({ title: 'Delete the transcript too?', message: 'The words said in this space go with the recording.', confirm: 'Delete transcript', danger: true }))) return;
  try {
    await deleteTranscript(room.id);
    room.el.transcript.remove();
    room.el.transcript = null;
    announce('Transcript deleted');
  } catch (err) {
    showError(err);
  }
}

/** After the end: the transcript, beside the recording's player when there is one. */
export async function loadTranscript(room) {
  let body;
  try {
    body = await getTranscript(room.id);
  } catch {
    return;
  }
  if (room.destroyed || !body.lines.length) return;
  const card = room.el.transcript || h('section', { class: 'card transcript-card', 'aria-labelledby': 'transcript-title' });
  room.el.transcript = card;
  clear(card).append(
    h('div', { class: 'row' },
      h('h2', { id: 'transcript-title' }, 'Transcript'),
      h('a', { class: 'btn btn-small', href: `/api/v1/spaces/${enc(room.id)}/transcript?format=vtt`, download: `${room.id}.vtt` }, 'WebVTT')),
  );
  const list = h('ol', { class: 'transcript' });
  for (const line of body.lines) {
    const at = line.replay_ms ?? line.start_ms;
    const item = h('li', { class: 'transcript-line', dataset: { at: String(at), end: String(at + (line.end_ms - line.start_ms)) } },
      h('button', { type: 'button', class: 'linkish', title: 'Play from here', onclick: () => seek(room, at) },
        h('time', {}, clock(line.start_ms)), ' ',
        h('strong', {}, `${line.user ? displayName(line.user) : 'Someone'}: `), line.text));
    list.append(item);
  }
  card.append(list);
  if (room.isHost) {
    card.append(h('button', {
      type: 'button',
      class: 'btn btn-small btn-danger',
      onclick: async () => {
        if (!(await confirmDialog({ title: 'Delete the transcript?', message: 'This cannot be undone.', confirm: 'Delete transcript', danger: true }))) return;
        try {
          await deleteTranscript(room.id);
          card.remove();
          room.el.transcript = null;
          toast('Transcript deleted', 'success');
        } catch (err) {
          showError(err);
        }
      },
    }, 'Delete transcript'));
  }
  if (!card.isConnected) room.el.recording.after(card);
  followPlayer(room);
}

function player() {
  return document.querySelector('audio.replay');
}

function seek(room, ms) {
  const audio = player();
  if (!audio) return;
  audio.currentTime = ms / 1000;
  audio.play().catch(() => {});
  highlight(room, ms);
}

function highlight(room, ms) {
  if (!room.el.transcript) return;
  let current = null;
  for (const li of room.el.transcript.querySelectorAll('.transcript-line')) {
    if (Number(li.dataset.at) <= ms + 50) current = li;
  }
  for (const li of room.el.transcript.querySelectorAll('.transcript-line.current')) {
    if (li !== current) li.classList.remove('current');
  }
  if (current && !current.classList.contains('current')) {
    current.classList.add('current');
    current.setAttribute('aria-current', 'true');
  }
}

function followPlayer(room) {
  const audio = player();
  if (!audio || audio.dataset.transcript) return;
  audio.dataset.transcript = '1';
  audio.addEventListener('timeupdate', () => highlight(room, audio.currentTime * 1000));
  const wanted = Number(new URLSearchParams(location.hash.split('?')[1] || '').get('t'));
  if (wanted > 0) {
    audio.addEventListener('loadedmetadata', () => { audio.currentTime = wanted / 1000; highlight(room, wanted); }, { once: true });
  }
}
