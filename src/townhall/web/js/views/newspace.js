// Start a space now, or schedule one.

import { get } from '../api.js';
import { primeAudio, primedFor } from '../media.js';
import { go } from '../router.js';
import { createSpace } from '../spaces.js';
import { bindForm, field, formError, h } from '../ui.js';
import { mount } from './common.js';

export function shareUrl(spaceId) {
  return `${location.origin}${location.pathname}#/space/${encodeURIComponent(spaceId)}`;
}

/** The copyable link; `url` is the server's share_url (TOWNHALL_PUBLIC_URL) when known. */
export function shareBox(spaceId, url = shareUrl(spaceId)) {
  const input = h('input', { type: 'text', readonly: true, value: url, id: `share-${spaceId}`, class: 'share-url', onfocus: (ev) => ev.target.select() });
  const status = h('span', { class: 'muted small', role: 'status' });
  return h(
    'div',
    { class: 'share' },
    h('label', { for: input.id }, 'Share link'),
    h(
      'div',
      { class: 'share-row' },
      input,
      h('button', {
        type: 'button',
        class: 'btn btn-small',
        onclick: async () => {
          try {
            await navigator.clipboard.writeText(url);
            status.textContent = 'Copied';
          } catch {
            input.select();
            status.textContent = 'Press Ctrl+C to copy';
          }
        },
      }, 'Copy'),
    ),
    status,
  );
}

function localIsoWithOffset(value) {
  // <input type=datetime-local> gives local wall time; the API wants an aware timestamp.
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return null;
  return d.toISOString();
}

/** Handles typed by the host ("@ann, bob") to user ids; an unknown one is a form error. */
export async function handlesToIds(text, fieldName = 'guests') {
  const handles = String(text || '')
    .split(/[\s,]+/)
    .map((x) => x.replace(/^@/, '').trim())
    .filter(Boolean);
  const ids = [];
  for (const handle of handles) {
    try {
      const user = await get(`/users/${encodeURIComponent(handle)}`);
      ids.push(user.id);
    } catch (err) {
      const e = new Error(err.status === 404 ? `There is no one with the handle @${handle}` : err.message);
      e.field = fieldName;
      throw e;
    }
  }
  return ids;
}

export function newSpaceView() {
  const whenNow = h('input', { type: 'radio', name: 'when', value: 'now', checked: true, id: 'when-now' });
  const whenLater = h('input', { type: 'radio', name: 'when', value: 'later', id: 'when-later' });
  const at = h('input', { type: 'datetime-local', name: 'scheduled_for', id: 'scheduled-for' });
  const atField = field('Start time', at, 'Up to 30 days ahead, in your local time.');
  atField.hidden = true;
  const toggle = () => {
    atField.hidden = !whenLater.checked;
    at.required = whenLater.checked;
    submit.textContent = whenLater.checked ? 'Schedule space' : 'Start space now';
  };
  whenNow.addEventListener('change', toggle);
  whenLater.addEventListener('change', toggle);
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, 'Start space now');
  const privateBox = h(
    'div',
    { class: 'private-options', hidden: true },
    field('Guests', h('input', { name: 'guests', placeholder: '@ann, @bob', autocapitalize: 'none', spellcheck: 'false' }), 'Handles of the people who may join, separated by commas.'),
    h('label', { class: 'radio' }, h('input', { type: 'checkbox', name: 'followers_may_join', value: 'yes' }), ' My followers may join too'),
  );
  const form = h(
    'form',
    { class: 'card form', novalidate: true, 'aria-labelledby': 'new-title' },
    h('h1', { id: 'new-title' }, 'Start a space'),
    field('Title', h('input', { name: 'title', required: true, maxlength: 70, placeholder: 'What do you want to talk about?' })),
    field('Topics', h('input', { name: 'topics', maxlength: 100, placeholder: 'music, late night' }), 'Up to 3, separated by commas.'),
    h(
      'fieldset',
      { class: 'choice' },
      h('legend', {}, 'Who can join'),
      h('label', { class: 'radio' }, h('input', { type: 'radio', name: 'visibility', value: 'public', checked: true }), ' Public: anyone can listen'),
      h('label', { class: 'radio' }, h('input', { type: 'radio', name: 'visibility', value: 'private' }), ' Private: only people I invite'),
      privateBox,
    ),
    field(
      'Who can request to speak',
      h(
        'select',
        { name: 'speaker_policy' },
        h('option', { value: 'everyone' }, 'Everyone'),
        h('option', { value: 'followed' }, 'People I follow'),
        h('option', { value: 'invited' }, 'Only people I invite'),
      ),
    ),
    h(
      'fieldset',
      { class: 'choice' },
      h('legend', {}, 'When'),
      h('label', { class: 'radio', for: 'when-now' }, whenNow, ' Now'),
      h('label', { class: 'radio', for: 'when-later' }, whenLater, ' Schedule for later'),
    ),
    atField,
    h('label', { class: 'radio' }, h('input', { type: 'checkbox', name: 'record', value: 'yes', id: 'record' }), ' Record this space (you can pause it; listeners see that it is recorded)'),
    formError(),
    submit,
  );
  form.addEventListener('change', (ev) => {
    if (ev.target.name === 'visibility') privateBox.hidden = ev.target.value !== 'private';
  });
  bindForm(form, async (data) => {
    if (!whenLater.checked) primeAudio(); // in the click that puts the host on air: audio may play
    const body = {
      title: String(data.get('title') || '').trim(),
      visibility: String(data.get('visibility') || 'public'),
      speaker_policy: String(data.get('speaker_policy') || 'everyone'),
      topics: String(data.get('topics') || '')
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean),
      record: data.get('record') === 'yes',
    };
    if (body.visibility === 'private') {
      body.guest_ids = await handlesToIds(data.get('guests')).catch((err) => {
        primedFor(null);
        throw err;
      });
      body.followers_may_join = data.get('followers_may_join') === 'yes';
    }
    if (whenLater.checked) {
      const iso = localIsoWithOffset(at.value);
      if (!iso) {
        primedFor(null);
        const err = new Error('Pick a start time');
        err.field = 'scheduled_for';
        throw err;
      }
      body.scheduled_for = iso;
    }
    let space;
    try {
      space = await createSpace(body);
    } catch (err) {
      primedFor(null);
      throw err;
    }
    primedFor(space.state === 'live' ? space.id : null);
    if (space.state === 'scheduled') {
      mount(
        'Scheduled',
        h(
          'section',
          { class: 'card' },
          h('h1', {}, 'Space scheduled'),
          h('p', {}, `“${space.title}” is on the calendar. People can set a reminder from its page.`),
          shareBox(space.id, space.share_url),
          h('p', { class: 'row' }, h('a', { class: 'btn btn-primary', href: `#/space/${encodeURIComponent(space.id)}` }, 'Open the space page'), h('a', { class: 'btn', href: '#/' }, 'Home')),
        ),
      );
    } else {
      go(`/space/${encodeURIComponent(space.id)}`);
    }
  });
  mount('Start a space', form);
  form.querySelector('input[name=title]').focus();
}
