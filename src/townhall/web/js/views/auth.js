// Sign up and log in.

import { post } from '../api.js';
import { go } from '../router.js';
import { setUser } from '../session.js';
import { bindForm, field, formError, h } from '../ui.js';
import { items, listSpaces } from '../spaces.js';
import { mount } from './common.js';
import { spaceCard } from './spacecard.js';

function nextTarget(query) {
  const next = query.next || '';
  return next.startsWith('/') && !next.startsWith('//') ? next : '/';
}

export function signupView(_params, query) {
  const form = h(
    'form',
    { class: 'card form narrow', novalidate: true, 'aria-labelledby': 'signup-title' },
    h('h1', { id: 'signup-title' }, 'Create your account'),
    h('p', { class: 'muted' }, 'Host live audio rooms, listen in, and take the stage.'),
    field(
      'Handle',
      h('input', {
        name: 'handle',
        autocomplete: 'username',
        required: true,
        minlength: 3,
        maxlength: 15,
        pattern: '[A-Za-z0-9_]{3,15}',
        autocapitalize: 'none',
        spellcheck: 'false',
      }),
      '3 to 15 letters, digits or underscores. People find you by it.',
    ),
    field('Display name', h('input', { name: 'display_name', autocomplete: 'name', required: true, maxlength: 50 })),
    field(
      'Password',
      h('input', { name: 'password', type: 'password', autocomplete: 'new-password', required: true, minlength: 8 }),
      'At least 8 characters.',
    ),
    formError(),
    h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, 'Sign up'),
    h('p', { class: 'muted center' }, 'Already have an account? ', h('a', { href: `#/login${query.next ? `?next=${encodeURIComponent(query.next)}` : ''}` }, 'Log in')),
  );
  bindForm(form, async (data) => {
    const out = await post('/auth/signup', {
      handle: String(data.get('handle') || '').trim(),
      display_name: String(data.get('display_name') || '').trim(),
      password: String(data.get('password') || ''),
    });
    setUser(out.user);
    go(nextTarget(query), { replace: true });
  });
  mount('Sign up', form);
  form.querySelector('input').focus();
}

export function loginView(_params, query) {
  const form = h(
    'form',
    { class: 'card form narrow', novalidate: true, 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title' }, 'Log in'),
    query.next ? h('p', { class: 'notice' }, 'Log in to open that page.') : null,
    field('Handle', h('input', { name: 'handle', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' })),
    field('Password', h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true })),
    formError(),
    h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, 'Log in'),
    h('p', { class: 'muted center' }, 'New here? ', h('a', { href: `#/signup${query.next ? `?next=${encodeURIComponent(query.next)}` : ''}` }, 'Create an account')),
  );
  bindForm(form, async (data) => {
    const out = await post('/auth/login', {
      handle: String(data.get('handle') || '').trim(),
      password: String(data.get('password') || ''),
    });
    setUser(out.user);
    go(nextTarget(query), { replace: true });
  });
  if (query.next) mount('Log in', form);
  else mount('Log in', intro(), form, publicSpaces()); // the visitor's home page
  form.querySelector('input').focus();
}

/** What townhall is, for someone who has never been here. */
function intro() {
  return h('section', { class: 'intro narrow', 'aria-labelledby': 'intro-title' },
    h('h2', { id: 'intro-title' }, 'Live audio rooms, in your browser'),
    h('p', {}, 'townhall is a place for live conversations. Start a space and talk; invite people up to speak; ',
      'or just listen in. Spaces can be recorded, captioned and replayed.'));
}

/** The public spaces live now (anyone may look; joining needs an account). */
function publicSpaces() {
  const section = h('section', { class: 'section', 'aria-labelledby': 'h-public', 'aria-busy': 'true' }, h('h2', { id: 'h-public' }, 'Live now'));
  listSpaces({ state: 'live' }).then((out) => {
    const list = items(out);
    section.setAttribute('aria-busy', 'false');
    if (!list.length) section.append(h('p', { class: 'muted empty' }, 'Nobody is live right now. Create an account and start a space!'));
    else section.append(h('ul', { class: 'space-list' }, list.map((s) => h('li', {}, spaceCard(s)))));
  }).catch(() => section.remove());
  return section;
}
