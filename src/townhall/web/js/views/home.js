// Home: live now (people I follow first), upcoming, search.

import { get, qs } from '../api.js';
import { items, listSpaces } from '../spaces.js';
import { avatar, clear, displayName, h } from '../ui.js';
import { live } from '../ws.js';
import { loading, mount } from './common.js';
import { spaceCard } from './spacecard.js';

const REFRESH_MS = 20000;

export async function homeView(_params, query) {
  const q = query.q || '';
  const search = h(
    'form',
    { class: 'search', role: 'search', onsubmit: (ev) => {
      ev.preventDefault();
      const value = input.value.trim();
      location.hash = value ? `#/?q=${encodeURIComponent(value)}` : '#/';
    } },
    h('label', { for: 'search-q', class: 'sr-only' }, 'Search spaces'),
    h('input', { id: 'search-q', name: 'q', type: 'search', placeholder: 'Search: spaces, people, or words said', value: q }),
    h('button', { type: 'submit', class: 'btn' }, 'Search'),
  );
  const input = search.querySelector('input');
  const liveSection = h('section', { class: 'section', 'aria-labelledby': 'h-live', 'aria-busy': 'true' }, h('h2', { id: 'h-live' }, q ? `Live now matching “${q}”` : 'Live now'), loading());
  const upSection = h('section', { class: 'section', 'aria-labelledby': 'h-up', 'aria-busy': 'true' }, h('h2', { id: 'h-up' }, q ? `Upcoming matching “${q}”` : 'Upcoming'), loading());
  const peopleSection = q ? h('section', { class: 'section', 'aria-labelledby': 'h-people', 'aria-busy': 'true' }, h('h2', { id: 'h-people' }, `People matching “${q}”`), loading()) : null;
  const saidSection = q ? h('section', { class: 'section', 'aria-labelledby': 'h-said', 'aria-busy': 'true' }, h('h2', { id: 'h-said' }, `Said in past spaces: “${q}”`), loading()) : null;
  mount(
    q ? `Search: ${q}` : 'Home',
    h('div', { class: 'home-head' }, h('h1', { class: 'sr-only' }, 'Home'), search, q ? h('a', { href: '#/', class: 'btn btn-ghost btn-small' }, 'Clear search') : null),
    peopleSection,
    liveSection,
    upSection,
    saidSection,
  );
  if (saidSection) searchSaid(saidSection, q);
  if (peopleSection) searchPeople(peopleSection, q);

  async function refresh(force = false) {
    try {
      // The server orders live spaces: people I follow (hosting or co-hosting) first, then
      // by listeners; upcoming ones soonest first.
      const [liveOut, upOut] = await Promise.all([listSpaces({ state: 'live', q }), listSpaces({ state: 'scheduled', q })]);
      fill(liveSection, items(liveOut), q ? 'No live space matches.' : 'Nobody is live right now. Start a space!', force);
      fill(upSection, items(upOut), q ? 'No upcoming space matches.' : 'Nothing scheduled yet.', force);
    } catch (err) {
      fill(liveSection, [], err.message || 'Could not load spaces.');
      fill(upSection, [], '');
    }
  }

  function fill(section, list, empty, force = false) {
    const heading = section.querySelector('h2');
    const focused = section.contains(document.activeElement) ? document.activeElement : null;
    // A periodic refresh does not yank the list from under a keyboard user (the next one
    // will do); after the user's own change, focus goes to the section's heading.
    if (focused && !force) return;
    clear(section).append(heading);
    if (focused) {
      heading.tabIndex = -1;
      heading.focus();
    }
    section.setAttribute('aria-busy', 'false');
    if (!list.length) {
      if (empty) section.append(h('p', { class: 'muted empty' }, empty));
      return;
    }
    section.append(h('ul', { class: 'space-list' }, list.map((s) => h('li', {}, spaceCard(s, { onChange: () => refresh(true) })))));
  }

  await refresh();
  const timer = setInterval(refresh, REFRESH_MS);
  const onNotification = (ev) => {
    if (ev.detail && ['space.started', 'space.reminder'].includes(ev.detail.kind)) refresh();
  };
  live.addEventListener('notification', onNotification);
  return () => {
    clearInterval(timer);
    live.removeEventListener('notification', onNotification);
  };
}

/** People by handle or name (GET /users?q=), each linking to their profile. */
async function searchPeople(section, q) {
  const heading = section.querySelector('h2');
  let out;
  try {
    out = await get(`/users${qs({ q })}`);
  } catch (err) {
    clear(section).append(heading, h('p', { class: 'muted empty' }, err.message || 'Could not search.'));
    section.setAttribute('aria-busy', 'false');
    return;
  }
  clear(section).append(heading);
  section.setAttribute('aria-busy', 'false');
  if (!out.users.length) {
    section.append(h('p', { class: 'muted empty' }, 'Nobody by that handle or name.'));
    return;
  }
  section.append(h('ul', { class: 'people-list' }, out.users.map((u) => h('li', { class: 'person' },
    avatar(u, 'sm'),
    h('a', { href: `#/u/${encodeURIComponent(u.handle)}` }, displayName(u)),
    h('span', { class: 'handle' }, `@${u.handle}`)))));
}

function clock(ms) {
  const s = Math.floor(Math.max(0, ms) / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** Ended spaces by what was said (transcripts): each with its best line, linking to the
 * replay at that moment. */
async function searchSaid(section, q) {
  const heading = section.querySelector('h2');
  let out;
  try {
    out = await get(`/search${qs({ q })}`);
  } catch (err) {
    clear(section).append(heading, h('p', { class: 'muted empty' }, err.message || 'Could not search.'));
    section.setAttribute('aria-busy', 'false');
    return;
  }
  clear(section).append(heading);
  section.setAttribute('aria-busy', 'false');
  if (!out.results.length) {
    section.append(h('p', { class: 'muted empty' }, 'Nothing said in an ended space matches.'));
    return;
  }
  section.append(h('ul', { class: 'said-list' }, out.results.map((r) => {
    const at = r.line.replay_ms ?? r.line.start_ms;
    const href = `#/space/${encodeURIComponent(r.space.id)}?t=${at}`;
    return h('li', { class: 'said-hit' },
      h('a', { href }, h('strong', {}, r.space.title)),
      h('p', { class: 'said-line' },
        h('time', {}, clock(r.line.start_ms)), ' ',
        r.line.user ? h('span', {}, `${displayName(r.line.user)}: `) : null,
        `“${r.line.text}”`));
  })));
}
