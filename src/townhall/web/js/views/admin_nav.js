// The staff pages' shared header: which staff page this is, and links to the others.
// Admins see every page; moderators see the review queue and the accounts page.

import { currentUser } from '../session.js';
import { h } from '../ui.js';
import { failure, mount } from './common.js';

const PAGES = [
  { path: '/admin/reports', label: 'Reports' },
  { path: '/admin/people', label: 'People' },
  { path: '/admin/audit', label: 'Audit log', admin: true },
  { path: '/admin/words', label: 'Word list', admin: true },
];

export function isStaff(me) {
  return Boolean(me && ['admin', 'moderator'].includes(me.role));
}

export function adminNav(current) {
  const me = currentUser();
  const pages = PAGES.filter((p) => !p.admin || (me && me.role === 'admin'));
  return h(
    'nav',
    { class: 'admin-nav', 'aria-label': 'Staff pages' },
    ...pages.map((p) =>
      h(
        'a',
        { class: `btn btn-ghost${p.path === current ? ' active' : ''}`, href: `#${p.path}`, 'aria-current': p.path === current ? 'page' : null },
        p.label,
      ),
    ),
  );
}

/** Mount a refusal and return false when the signed-in person may not see this page. */
export function allowed(title, adminOnly) {
  const me = currentUser();
  const ok = adminOnly ? Boolean(me && me.role === 'admin') : isStaff(me);
  if (!ok) {
    const who = adminOnly ? 'the instance’s admins' : 'the instance’s moderators and admins';
    mount(title, failure({ message: `Only ${who} see this page.` }));
  }
  return ok;
}
