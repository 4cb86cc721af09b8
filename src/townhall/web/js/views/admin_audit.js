// Admins: the append-only audit log of every moderation action (hosts' in their spaces and
// staff's on the instance), newest first, filtered by action, space or person, paged.

import { api, qs } from '../api.js';
import { bindForm, clear, field, formError, h, when } from '../ui.js';
import { adminNav, allowed } from './admin_nav.js';
import { failure, loading, mount } from './common.js';

function row(r) {
  return h('tr', { 'data-audit': String(r.id) },
    h('td', {}, when(r.created_at)),
    h('td', { class: 'audit-action' }, r.action),
    h('td', {}, r.actor_handle ? `@${r.actor_handle}` : 'operator'),
    h('td', {}, r.target_handle ? `@${r.target_handle}` : ''),
    h('td', {}, r.space_id ? h('a', { href: `#/space/${r.space_id}` }, r.space_id) : ''),
    h('td', {}, r.reason || ''),
  );
}

async function personId(handle) {
  if (!handle) return undefined;
  return (await api('GET', `/admin/users/${encodeURIComponent(handle.replace(/^@/, ''))}`)).id;
}

export function adminAuditView() {
  if (!allowed('Audit log', true)) return undefined;
  const body = h('tbody', {});
  const more = h('button', { type: 'button', class: 'btn', hidden: true }, 'Older records');
  const box = h('div', { class: 'audit-box' }, loading());
  const table = h('table', { class: 'audit-table' },
    h('thead', {}, h('tr', {}, ...['When', 'Action', 'By', 'On', 'Space', 'Why'].map((t) => h('th', { scope: 'col' }, t)))), body);
  let filter = {};
  let before = null;

  async function load(reset) {
    try {
      const page = await api('GET', `/admin/audit${qs({ ...filter, before: reset ? undefined : before })}`);
      if (reset) clear(body);
      clear(box);
      box.append(page.records.length || !reset ? table : h('p', { class: 'muted audit-empty' }, 'No records.'));
      for (const r of page.records) body.append(row(r));
      before = page.next_before;
      more.hidden = !before;
    } catch (err) {
      clear(box);
      box.append(failure(err, () => load(true)));
    }
  }
  const action = h('input', { name: 'action', class: 'input', maxlength: '40', placeholder: 'e.g. space.ban' });
  const actor = h('input', { name: 'actor', class: 'input', maxlength: '16', placeholder: '@handle' });
  const target = h('input', { name: 'target', class: 'input', maxlength: '16', placeholder: '@handle' });
  const space = h('input', { name: 'space', class: 'input', maxlength: '12', placeholder: 'space id' });
  const form = h('form', { class: 'card audit-filter' },
    h('div', { class: 'admin-row' }, field('Action', action), field('By', actor), field('On', target), field('Space', space)),
    formError(), h('button', { type: 'submit', class: 'btn btn-primary' }, 'Filter'));
  bindForm(form, async (values) => {
    filter = {
      action: String(values.get('action') || '').trim() || undefined,
      actor_id: await personId(String(values.get('actor') || '').trim()),
      target_user_id: await personId(String(values.get('target') || '').trim()),
      space_id: String(values.get('space') || '').trim() || undefined,
    };
    await load(true);
  });
  more.addEventListener('click', () => load(false));
  mount('Audit log', adminNav('/admin/audit'), h('h1', {}, 'Audit log'), form, box, more);
  load(true);
  return undefined;
}
