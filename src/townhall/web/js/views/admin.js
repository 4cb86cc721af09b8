// The review queue for the instance's moderators and admins: open reports merged by space
// and person, each with its reasons, reporters and the person's history, and the actions
// that resolve them. Refreshes live when a report is filed (`report.filed` on the socket).

import { api } from '../api.js';
import { currentUser } from '../session.js';
import { announce, ago, clear, h, plural, showError, toast } from '../ui.js';
import { failure, loading, mount } from './common.js';
import { live } from '../ws.js';
import { adminNav } from './admin_nav.js';

const ACTIONS = [
  { action: 'dismiss', label: 'Dismiss' },
  { action: 'warn', label: 'Warn', person: true },
  { action: 'end_space', label: 'End space', live: true },
  { action: 'remove_recording', label: 'Remove recording' },
  { action: 'suspend', label: 'Suspend 24 h', person: true, hours: 24 },
  { action: 'ban', label: 'Ban', person: true, danger: true },
];

function groupCard(group, refresh) {
  const who = group.person ? `@${group.person.handle || 'deleted account'}` : 'the space';
  const reasonInput = h('input', {
    type: 'text',
    maxlength: '500',
    class: 'input',
    placeholder: 'Why (kept in the audit log)',
    'aria-label': `Reason for the action on ${who}`,
  });
  const subject = group.person || (group.space.host_handle ? { handle: group.space.host_handle } : null);
  const buttons = ACTIONS.filter((a) => !a.live || group.space.state === 'live').map((a) =>
    h(
      'button',
      {
        type: 'button',
        class: `btn ${a.danger ? 'btn-danger' : ''}`,
        'data-action': a.action,
        onclick: async (ev) => {
          ev.currentTarget.disabled = true;
          try {
            const body = { action: a.action, reason: reasonInput.value };
            if (a.hours) body.hours = a.hours;
            await api('POST', `/admin/reports/${group.id}/actions`, body);
            const target = a.person && subject ? `@${subject.handle}` : group.space.title;
            announce(`${a.label}: done for ${target}.`);
            toast(`${a.label}: done.`, 'success');
            refresh();
          } catch (err) {
            ev.currentTarget.disabled = false;
            showError(err);
          }
        },
      },
      a.person && subject ? `${a.label} @${subject.handle}` : a.label,
    ),
  );
  const history = group.history
    ? h(
        'p',
        { class: 'muted' },
        `${plural(group.history.reports, 'report', 'reports')} ever; ` +
          (group.history.actions.length
            ? `earlier actions: ${group.history.actions.map((a) => a.action).join(', ')}`
            : 'no earlier actions'),
      )
    : null;
  return h(
    'article',
    { class: 'card report-group', 'data-report': String(group.id) },
    h(
      'h2',
      {},
      group.person ? `@${group.person.handle || '?'} in “${group.space.title}”` : `Space “${group.space.title}”`,
    ),
    h(
      'p',
      { class: 'report-meta' },
      h('strong', { class: 'report-count' }, plural(group.count, 'report', 'reports')),
      ` · last ${ago(group.last_at)} · space ${group.space.state || 'deleted'}` +
        (group.space.host_handle ? ` · host @${group.space.host_handle}` : ''),
    ),
    h(
      'ul',
      { class: 'report-reasons' },
      ...group.reports.map((r) => h('li', {}, `“${r.reason}” — ${r.reporter ? '@' + r.reporter : 'word list'}`)),
    ),
    history,
    reasonInput,
    h('div', { class: 'report-actions', role: 'group', 'aria-label': 'Actions' }, ...buttons),
  );
}

export function adminReportsView() {
  const me = currentUser();
  if (!me || !['admin', 'moderator'].includes(me.role)) {
    mount('Reports', failure({ message: 'Only the instance’s moderators and admins see reports.' }));
    return undefined;
  }
  const list = h('div', { class: 'report-list', 'aria-live': 'polite' }, loading());
  const status = h('p', { class: 'muted report-status', role: 'status' });
  mount('Reports', adminNav('/admin/reports'), h('h1', {}, 'Reports to review'), status, list);
  let stopped = false;

  async function refresh() {
    try {
      const queue = await api('GET', '/admin/reports?status=open&sort=newest');
      if (stopped) return;
      clear(list);
      status.textContent = queue.groups.length
        ? `${plural(queue.groups.length, 'group', 'groups')} of open reports`
        : 'No open reports.';
      for (const group of queue.groups) list.append(groupCard(group, refresh));
    } catch (err) {
      if (!stopped) {
        clear(list);
        list.append(failure(err, refresh));
      }
    }
  }
  const onReport = () => refresh();
  live.addEventListener('report', onReport);
  refresh();
  return () => {
    stopped = true;
    live.removeEventListener('report', onReport);
  };
}
