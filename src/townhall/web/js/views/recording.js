// Recording in the room: the "● Recording" badge everyone sees, the host's switch, and on
// an ended space the player for its recording (with Delete for the host). The player
// plays the replay as VOD HLS (seeking fetches only the segments it needs): the
// hls.js where MSE exists, else the browser's own HLS; the Ogg Opus file when neither works.

import Hls from '../../vendor/hls.light.min.mjs';
import { del, get, post } from '../api.js';
import { attachHls } from '../hlsplay.js';
import { confirmDialog } from '../dialog.js';
import { announce, clear, h, showError, toast } from '../ui.js';
import { offerTranscriptDeletion } from './captions.js';
import { clipForm } from './clip.js';

const enc = encodeURIComponent;

export const setRecording = (id, on) => post(`/spaces/${enc(id)}/recording`, { on });
export const deleteRecording = (id) => del(`/spaces/${enc(id)}/recording`);

/** `recording.changed {on}`: set (not toggle) the room's state and tell screen readers. */
export function applyRecordingEvent(room, data) {
  room.dispatch('recording.changed', { on: Boolean(data && data.on) });
}

function minutesSeconds(seconds) {
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** Paint `room.el.recording` from `room.space` (idempotent). */
export function paintRecording(room) {
  const box = room.el.recording;
  const s = room.space;
  const rec = s.recording;
  const open = s.state === 'live' || s.state === 'scheduled';
  const key = JSON.stringify([s.state, rec, room.isHost]);
  if (key === room.recordingKey) return;
  room.recordingKey = key;
  stopReplay(room);
  clear(box);
  if (open) {
    room.recordingTold = rec === true;
    if (rec === true) announce('This space is being recorded');
    if (rec === true) box.append(h('span', { class: 'rec-pill', title: 'This space is being recorded' }, '● Recording'));
    if (room.isHost) {
      const button = h('button', { type: 'button', class: 'btn btn-small', 'aria-pressed': String(rec === true) }, rec === true ? 'Pause recording' : 'Record this space');
      button.addEventListener('click', async () => {
        button.disabled = true;
        try {
          const out = await setRecording(room.id, rec !== true);
          applyRecordingEvent(room, { on: out.recording });
        } catch (err) {
          showError(err);
          button.disabled = false;
        }
      });
      box.append(button);
    }
    box.hidden = !box.childNodes.length;
    return;
  }
  if (s.state !== 'ended' || !rec || typeof rec !== 'object') {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  const player = h('audio', { controls: true, preload: 'metadata', class: 'replay', 'aria-label': 'Recording of this space' });
  playReplay(room, player, rec);
  box.append(
    h('h2', { id: 'replay-title' }, 'Recording'),
    player,
    h('p', { class: 'muted small' }, `${minutesSeconds(rec.duration_seconds)} · `, h('a', { href: rec.url, download: `${room.id}.ogg` }, 'Download (Ogg Opus)')),
  );
  if (!s.captions || s.captions.clips !== false) box.append(clipForm(room, player));
  if (room.isHost) {
    box.append(h('button', {
      type: 'button',
      class: 'btn btn-small btn-danger',
      onclick: async () => {
        if (!(await confirmDialog({ title: 'Delete the recording?', message: 'This cannot be undone.', confirm: 'Delete recording', danger: true }))) return;
        try {
          await deleteRecording(room.id);
          room.patchSpace({ recording: null });
          paintRecording(room);
          toast('Recording deleted', 'success');
          await offerTranscriptDeletion(room);
        } catch (err) {
          showError(err);
        }
      },
    }, 'Delete recording'));
  }
}

function stopReplay(room) {
  if (room.replayHls) room.replayHls.destroy();
  room.replayHls = null;
}

/** The replay's VOD HLS in `player` (its signed URL asked for), else the Ogg file. */
async function playReplay(room, player, rec) {
  const ogg = () => {
    stopReplay(room);
    player.dataset.hls = 'none';
    player.src = rec.url;
  };
  let link;
  try {
    link = await get(`/spaces/${enc(room.id)}/replay/hls`);
  } catch {
    ogg();
    return;
  }
  if (room.destroyed || !player.isConnected) return;
  const { how, hls } = attachHls(player, link.path, Hls, {
    config: { enableWorker: false },
    onFatal: () => {
      if (player.isConnected) ogg();
    },
  });
  room.replayHls = hls;
  if (!how) ogg();
  if (hls) {
    // The view may go without repainting (the room is left): stop hls.js with it.
    const watch = setInterval(() => {
      if (player.isConnected) return;
      clearInterval(watch);
      if (room.replayHls === hls) stopReplay(room);
    }, 5000);
  }
}

/** After the end: the media server finishes the file a moment later, so ask a few times. */
export async function loadReplay(room, getSpace, tries = 8) {
  const wasRecorded = room.space.recording === true;
  for (let i = 0; i < tries && !room.destroyed; i += 1) {
    try {
      const s = await getSpace(room.id);
      room.patchSpace({ recording: s.recording });
      paintRecording(room);
      if (s.recording || !wasRecorded) return;
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 750));
  }
}
