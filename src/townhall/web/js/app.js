// Boot: session, navigation bar, notifications bell, connection banner, routes.

import { onUnauthorized } from './api.js';
import { bell } from './bell.js';
import { currentPath, go, render, route, setGuard, setNotFound, start } from './router.js';
import { currentUser, loadSession, onUserChange, setUser } from './session.js';
import { avatar, clear, h } from './ui.js';
import { failure, mount } from './views/common.js';
import { adminReportsView } from './views/admin.js';
import { adminAuditView } from './views/admin_audit.js';
import { adminPeopleView } from './views/admin_people.js';
import { adminWordsView } from './views/admin_words.js';
import { loginView, signupView } from './views/auth.js';
import { homeView } from './views/home.js';
import { newSpaceView } from './views/newspace.js';
import { followListView, profileView, settingsView } from './views/profile.js';
import { roomView } from './views/room/index.js';
import { clipView } from './views/clip.js';
import { live } from './ws.js';

const PUBLIC = new Set(['/login', '/signup']);

route('/', homeView);
route('/login', loginView);
route('/signup', signupView);
route('/new', newSpaceView);
route('/settings', settingsView);
route('/u/:handle', profileView);
route('/u/:handle/:direction', (params) =>
  ['followers', 'following'].includes(params.direction) ? followListView(params) : notFound(),
);
route('/space/:id', roomView);
route('/admin/reports', adminReportsView);
route('/admin/people', adminPeopleView);
route('/admin/audit', adminAuditView);
route('/admin/words', adminWordsView);
route('/clip/:id', clipView);
setNotFound(notFound);

function notFound() {
  mount('Not found', failure({ message: 'There is no page at this address.' }));
}

setGuard((match) => {
  const signedIn = Boolean(currentUser());
  if (!signedIn && !PUBLIC.has(match.path)) {
    const next = match.path === '/' ? '' : `?next=${encodeURIComponent(match.raw)}`;
    return `#/login${next}`;
  }
  if (signedIn && PUBLIC.has(match.path)) return '#/';
  return null;
});

function renderNav() {
  const nav = document.getElementById('nav');
  clear(nav);
  const me = currentUser();
  if (!me) {
    nav.append(
      h('a', { class: 'btn btn-ghost', href: '#/login' }, 'Log in'),
      h('a', { class: 'btn btn-primary', href: '#/signup' }, 'Sign up'),
    );
    return;
  }
  const staff = ['admin', 'moderator'].includes(me.role);
  nav.append(
    ...(staff ? [h('a', { class: 'btn btn-ghost nav-reports', href: '#/admin/reports' }, 'Reports')] : []),
    h('a', { class: 'btn btn-primary nav-start', href: '#/new' }, h('span', { 'aria-hidden': 'true' }, '+ '), 'Start a space'),
    bell.element(),
    h(
      'a',
      { class: 'nav-me', href: `#/u/${encodeURIComponent(me.handle)}`, 'aria-label': `Your profile (@${me.handle})`, title: `@${me.handle}` },
      avatar(me, 'sm'),
    ),
  );
}

function connectionBanner() {
  const banner = document.getElementById('conn-banner');
  let hideTimer = null;
  live.addEventListener('state', (ev) => {
    const { state } = ev.detail;
    clearTimeout(hideTimer);
    if ((state === 'closed' || state === 'connecting') && live.everOpened) {
      banner.hidden = false;
      banner.className = 'conn-banner offline';
      banner.textContent = 'Connection lost. Reconnecting…';
    } else if (state === 'open' && live.reconnects > 0) {
      banner.hidden = false;
      banner.className = 'conn-banner online';
      banner.textContent = 'Reconnected.';
      hideTimer = setTimeout(() => {
        banner.hidden = true;
      }, 3000);
    } else if (state === 'idle') {
      banner.hidden = true;
    }
  });
}

async function boot() {
  connectionBanner();
  onUnauthorized(() => {
    if (!currentUser()) return;
    setUser(null);
    if (!PUBLIC.has(currentPath())) go('/login', { replace: true });
  });
  live.addEventListener('unauthorized', () => {
    if (currentUser()) {
      setUser(null);
      go('/login', { replace: true });
    }
  });
  let lastUserId = null;
  onUserChange((me) => {
    renderNav();
    const id = me ? me.id : null;
    if (id !== lastUserId) {
      lastUserId = id;
      live.stop();
      bell.reset();
      if (me) {
        live.start();
        bell.load();
      }
    }
  });
  try {
    await loadSession();
  } catch (err) {
    mount('Offline', failure(err, () => location.reload()));
    return;
  }
  renderNav();
  if (currentUser()) {
    lastUserId = currentUser().id;
    live.start();
    bell.load();
  }
  await start();
  document.body.dataset.ready = 'true';
}

window.townhallDebug = Object.assign(window.townhallDebug || {}, { live, render });
boot();
