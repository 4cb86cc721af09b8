// A clip's page: its space, its audio (cut from the recording), the words said in it,
// and its share link. Also the "Clip" form under a replay's player.

import { get, post } from '../api.js';
import { displayName, h, showError, toast } from '../ui.js';
import { failure, loading, mount } from './common.js';

const enc = encodeURIComponent;
const MAX_S = 60;

export const createClip = (spaceId, startMs, endMs) =>
  post(`/spaces/${enc(spaceId)}/clips`, { start_ms: startMs, end_ms: endMs });

function seconds(ms) {
  const s = Math.round(ms / 100) / 10;
  return `${Math.floor(s / 60)}:${(s % 60).toFixed(1).padStart(4, '0')}`;
}

export async function clipView(params) {
  mount('Clip', loading('Opening the clip…'));
  let clip;
  try {
    clip = await get(`/clips/${enc(params.id)}`);
  } catch (err) {
    mount('Clip', failure(err, () => clipView(params)));
    return;
  }
  const link = `${location.origin}${clip.share_url}`;
  const copy = h('button', { type: 'button', class: 'btn btn-small', onclick: async () => {
    try {
      await navigator.clipboard.writeText(link);
      toast('Link copied', 'success');
    } catch {
      toast(link);
    }
  } }, 'Copy link');
  mount(
    `Clip of ${clip.space.title}`,
    h('section', { class: 'card clip-page', 'aria-labelledby': 'clip-title' },
      h('h1', { id: 'clip-title' }, `Clip of “${clip.space.title}”`),
      h('p', { class: 'muted' }, `${seconds(clip.start_ms)} – ${seconds(clip.end_ms)}`,
        clip.by ? ` · clipped by ${displayName(clip.by)}` : '', ' · ',
        h('a', { href: `#/space/${enc(clip.space.id)}?t=${clip.start_ms}` }, 'the whole replay')),
      h('audio', { controls: true, preload: 'metadata', src: clip.audio_url, class: 'clip-audio', 'aria-label': 'The clip' }),
      h('div', { class: 'row' }, h('input', { type: 'text', readonly: true, value: link, 'aria-label': 'Share link', class: 'share-input' }), copy),
      h('h2', {}, 'Words'),
      clip.lines.length
        ? h('ol', { class: 'transcript clip-words' }, clip.lines.map((l) => h('li', {}, h('strong', {}, `${l.user ? displayName(l.user) : 'Someone'}: `), l.text)))
        : h('p', { class: 'muted' }, 'No words were captioned in this clip.')),
  );
}

/** Under a replay's player: cut a clip (up to 60 s) from the player's position. */
export function clipForm(room, player) {
  const start = h('input', { type: 'number', min: '0', step: '0.1', value: '0', id: 'clip-start', class: 'num' });
  const length = h('input', { type: 'number', min: '1', max: String(MAX_S), step: '1', value: '15', id: 'clip-length', class: 'num' });
  const form = h('form', { class: 'row clip-form', 'aria-label': 'Make a clip' },
    h('label', { for: 'clip-start' }, 'Clip from (s)'), start,
    h('label', { for: 'clip-length' }, 'for (s)'), length,
    h('button', { type: 'button', class: 'btn btn-small', onclick: () => { start.value = player.currentTime.toFixed(1); } }, 'Now'),
    h('button', { type: 'submit', class: 'btn btn-small' }, 'Make a clip'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const from = Math.round(Number(start.value) * 1000);
    const to = from + Math.round(Math.min(MAX_S, Number(length.value)) * 1000);
    try {
      const clip = await createClip(room.id, from, to);
      location.hash = clip.share_url.replace(/^\/?/, '').replace(/^#?/, '#');
    } catch (err) {
      showError(err);
    }
  });
  return form;
}

