// Staff: the instance's moderators and admins, and any account looked up by handle, with
// the actions staff take on accounts (warn, suspend, ban, restore) and, for admins, roles,
// invite quotas and admin invite codes. Every action is logged in the audit log.

import { api } from '../api.js';
import { currentUser } from '../session.js';
import { announce, bindForm, clear, field, formError, h, showError, toast, when } from '../ui.js';
import { adminNav, allowed } from './admin_nav.js';
import { failure, loading, mount } from './common.js';

const ROLES = ['member', 'moderator', 'admin'];

function status(user) {
  if (user.banned) return 'banned';
  if (user.suspended_until) return `suspended until ${when(user.suspended_until)}`;
  return 'in good standing';
}

function accountCard(user, onChange) {
  const me = currentUser();
  const admin = me && me.role === 'admin';
  const reason = h('input', { type: 'text', class: 'input', maxlength: '2000', placeholder: 'Why (kept in the audit log)', 'aria-label': `Reason for the action on @${user.handle}` });
  const act = (action, extra = {}) => async (ev) => {
    const button = ev.currentTarget;
    button.disabled = true;
    try {
      const out = await api('POST', `/admin/users/${encodeURIComponent(user.handle)}/actions`, { action, reason: reason.value, ...extra });
      announce(`${action}: done for @${user.handle}.`);
      onChange(out);
    } catch (err) {
      showError(err);
    } finally {
      if (button.isConnected) button.disabled = false;
    }
  };
  const role = h('select', { class: 'input', 'aria-label': `Role of @${user.handle}`, disabled: !admin || user.id === me.id },
    ...ROLES.map((r) => h('option', { value: r, selected: r === user.role }, r)));
  role.addEventListener('change', async () => {
    try {
      const out = await api('PUT', `/admin/users/${encodeURIComponent(user.handle)}/role`, { role: role.value });
      toast(`@${user.handle} is now ${out.role}.`, 'success');
      onChange(out);
    } catch (err) {
      role.value = user.role;
      showError(err);
    }
  });
  const quota = h('input', { type: 'number', min: '0', max: '1000', class: 'input', value: user.invite_quota ?? '', placeholder: 'default', 'aria-label': `Invite quota of @${user.handle}`, disabled: !admin });
  quota.addEventListener('change', async () => {
    try {
      const value = quota.value === '' ? null : Number(quota.value);
      onChange(await api('PUT', `/admin/users/${encodeURIComponent(user.handle)}/invite-quota`, { invite_quota: value }));
      announce(`Invite quota of @${user.handle} saved.`);
    } catch (err) {
      showError(err);
    }
  });
  return h(
    'article',
    { class: 'card admin-account', 'data-handle': user.handle },
    h('h2', {}, h('a', { href: `#/u/${encodeURIComponent(user.handle)}` }, `@${user.handle}`), ` · ${user.display_name}`),
    h('p', { class: 'muted account-status' }, `${user.role} · ${status(user)} · joined ${when(user.created_at)}` + (user.invited_by ? ` · invited by @${user.invited_by}` : '')),
    h('div', { class: 'admin-row' }, field('Role', role), field('Invite quota', quota)),
    reason,
    h('div', { class: 'report-actions', role: 'group', 'aria-label': `Actions on @${user.handle}` },
      h('button', { type: 'button', class: 'btn', onclick: act('warn') }, 'Warn'),
      h('button', { type: 'button', class: 'btn', onclick: act('suspend', { hours: 24 }) }, 'Suspend 24 h'),
      h('button', { type: 'button', class: 'btn btn-danger', onclick: act('ban') }, 'Ban'),
      h('button', { type: 'button', class: 'btn', onclick: act('restore') }, 'Restore'),
    ),
  );
}

function lookupForm(show) {
  const input = h('input', { name: 'handle', class: 'input', maxlength: '15', required: true, autocomplete: 'off' });
  const form = h('form', { class: 'card admin-lookup' }, field('Look up an account by handle', input), formError(),
    h('button', { type: 'submit', class: 'btn btn-primary' }, 'Look up'));
  bindForm(form, async (values) => {
    const handle = String(values.get('handle') || '').replace(/^@/, '').trim();
    show(await api('GET', `/admin/users/${encodeURIComponent(handle)}`));
  });
  return form;
}

function inviteBox() {
  const out = h('p', { class: 'invite-code', role: 'status' });
  return h('div', { class: 'card' }, h('h2', {}, 'Invite someone'),
    h('p', { class: 'muted' }, 'An admin’s code lets one person sign up, even when registration is closed. It expires in 7 days.'),
    h('button', { type: 'button', class: 'btn', onclick: async () => {
      try {
        const invite = await api('POST', '/admin/invites', { expires_in_days: 7 });
        out.textContent = `Code: ${invite.code}`;
      } catch (err) {
        showError(err);
      }
    } }, 'Create an invite code'), out);
}

export function adminPeopleView() {
  if (!allowed('People', false)) return undefined;
  const me = currentUser();
  const found = h('div', { class: 'admin-found' });
  const staff = h('div', { class: 'report-list' }, loading());
  const show = (user) => {
    clear(found);
    found.append(accountCard(user, show));
    refresh();
  };
  async function refresh() {
    try {
      const list = await api('GET', '/admin/staff');
      clear(staff);
      for (const user of list.staff) staff.append(accountCard(user, show));
    } catch (err) {
      clear(staff);
      staff.append(failure(err, refresh));
    }
  }
  mount('People', adminNav('/admin/people'), h('h1', {}, 'People'), lookupForm(show), found,
    me.role === 'admin' ? inviteBox() : null, h('h2', {}, 'Moderators and admins'), staff);
  refresh();
  return undefined;
}
