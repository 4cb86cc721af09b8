// The review queue for the instance's moderators and admins: open reports merged by space
// and person, each with its reasons, reporters and the person's history, and the actions
// that resolve them, and the evidence: the space's audio around the reports (an <audio>
// player) with its timeline (who was on stage, who spoke when). Refreshes live when a
// report is filed or its evidence is ready (`report.filed`, `evidence.ready` on the socket).

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

function clock(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function evidenceBox(evidence) {
  const title = `Audio ${new Date(evidence.window_start).toLocaleTimeString()}–${new Date(evidence.window_end).toLocaleTimeString()}`;
  if (evidence.status !== 'ready') {
    const why =
      evidence.status === 'pending'
        ? 'Being kept: playable once the two minutes after the report have passed.'
        : 'No audio was kept (nobody was connected to the space’s audio, or the server restarted).';
    return h('div', { class: 'evidence', 'data-evidence': String(evidence.id), 'data-status': evidence.status }, h('h3', {}, title), h('p', { class: 'muted' }, why));
  }
  const player = h('audio', { controls: '', preload: 'metadata', src: evidence.url, class: 'evidence-player', 'aria-label': title });
  const seek = (ms) => () => {
    player.currentTime = ms / 1000;
    player.play().catch(() => {});
  };
  const spoke = evidence.timeline.filter((t) => t.kind === 'speaking');
  const stage = evidence.timeline.filter((t) => t.kind === 'stage');
  const line = (t) =>
    h(
      'li',
      {},
      h('button', { type: 'button', class: 'btn btn-small btn-ghost', onclick: seek(t.start_ms) }, clock(t.start_ms)),
      `–${clock(t.end_ms)} @${t.handle || 'deleted account'}`,
    );
  return h(
    'div',
    { class: 'evidence', 'data-evidence': String(evidence.id), 'data-status': evidence.status },
    h('h3', {}, title),
    player,
    evidence.report_at_ms != null
      ? h('p', { class: 'muted' }, 'Reported at ', h('button', { type: 'button', class: 'btn btn-small btn-ghost', onclick: seek(evidence.report_at_ms) }, clock(evidence.report_at_ms)))
      : null,
    h('h4', {}, 'Who spoke when'),
    spoke.length ? h('ul', { class: 'evidence-timeline' }, ...spoke.map(line)) : h('p', { class: 'muted' }, 'Nobody spoke.'),
    stage.length
      ? h('p', { class: 'muted evidence-stage' }, 'On stage, unmuted: ' + [...new Set(stage.map((t) => '@' + (t.handle || '?')))].join(', '))
      : null,
  );
}

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
            toast(`${a.label}: done for ${target}.`, 'success');
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
    ...(group.evidence || []).map(evidenceBox),
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
