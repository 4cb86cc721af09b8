// One space in a list: host, title, topics, listener count, some speakers, reminder.

import { confirmDialog } from '../dialog.js';
import { currentUser } from '../session.js';
import * as spaces from '../spaces.js';
import { announce, avatar, displayName, h, showError, when } from '../ui.js';
import { go } from '../router.js';

/** Everyone in the room, on stage or listening (as Spaces counts "N listening"). */
export function peopleCount(space) {
  return space.listener_count + space.stage_count;
}

export function spaceCard(space, { onChange } = {}) {
  const me = currentUser();
  const host = space.host || {};
  const isLive = space.state === 'live';
  const href = `#/space/${encodeURIComponent(space.id)}`;
  const titleId = `sc-${space.id}`;
  const speakers = space.speakers.slice(0, 4);
  const topics = space.topics || [];
  const footer = h('div', { class: 'card-foot' });

  if (isLive) {
    footer.append(
      h('span', { class: 'listeners', 'data-count': String(peopleCount(space)) }, `${peopleCount(space)} listening`),
      h('a', { class: 'btn btn-primary btn-small', href, 'aria-describedby': titleId }, 'Listen'),
    );
  } else if (space.state === 'scheduled') {
    footer.append(h('span', { class: 'when' }, h('time', { datetime: space.scheduled_for || '' }, when(space.scheduled_for))));
    if (me && host.id === me.id) {
      footer.append(
        h('button', {
          type: 'button',
          class: 'btn btn-primary btn-small',
          'aria-describedby': titleId,
          onclick: async (ev) => {
            ev.currentTarget.disabled = true;
            try {
              await spaces.start(space.id);
              go(`/space/${encodeURIComponent(space.id)}`);
            } catch (err) {
              showError(err);
              ev.currentTarget.disabled = false;
            }
          },
        }, 'Start now'),
        h('button', {
          type: 'button',
          class: 'btn btn-small btn-ghost',
          'aria-describedby': titleId,
          onclick: async () => {
            if (!(await confirmDialog({ title: `Cancel “${space.title}”?`, message: 'People who set a reminder are not called.', confirm: 'Cancel space', danger: true }))) return;
            try {
              await spaces.cancel(space.id);
              announce('Space cancelled');
              if (onChange) onChange();
            } catch (err) {
              showError(err);
            }
          },
        }, 'Cancel'),
      );
    } else {
      footer.append(reminderButton(space, titleId));
    }
  }

  return h(
    'article',
    { class: `card space-card ${isLive ? 'is-live' : ''}`, 'aria-labelledby': titleId, dataset: { spaceId: String(space.id) } },
    h(
      'div',
      { class: 'card-top' },
      isLive ? h('span', { class: 'live-pill' }, 'LIVE') : h('span', { class: 'sched-pill' }, space.state === 'scheduled' ? 'Upcoming' : space.state),
      space.visibility === 'private' ? h('span', { class: 'private-pill' }, 'Private') : null,
    ),
    h('h3', { class: 'space-title', id: titleId }, h('a', { href }, space.title)),
    h(
      'p',
      { class: 'host-line' },
      avatar(host, 'xs'),
      h('a', { href: `#/u/${encodeURIComponent(host.handle || '')}` }, displayName(host)),
      h('span', { class: 'muted' }, ' · host'),
    ),
    topics.length ? h('ul', { class: 'topics', 'aria-label': 'Topics' }, topics.map((t) => h('li', { class: 'topic' }, t))) : null,
    speakers.length
      ? h(
          'div',
          { class: 'speaker-faces', 'aria-label': `Speakers: ${speakers.map(displayName).join(', ')}`, role: 'img' },
          speakers.map((u) => avatar(u, 'sm')),
          h('span', { class: 'muted small' }, speakers.map(displayName).join(', ')),
        )
      : null,
    footer,
  );
}

function reminderButton(space, titleId) {
  let on = Boolean(space.reminder_set);
  const button = h('button', {
    type: 'button',
    class: 'btn btn-small',
    'aria-describedby': titleId,
    onclick: async () => {
      button.disabled = true;
      try {
        if (on) await spaces.unremind(space.id);
        else await spaces.remind(space.id);
        on = !on;
        paint();
        announce(on ? 'We will notify you when it starts' : 'Reminder removed');
      } catch (err) {
        showError(err);
      } finally {
        button.disabled = false;
      }
    },
  });
  function paint() {
    button.textContent = on ? 'Reminder set ✓' : 'Remind me';
    button.setAttribute('aria-pressed', String(on));
  }
  paint();
  return button;
}
