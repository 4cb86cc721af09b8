// The notifications bell: unread count (live over the WebSocket) and a panel to read them.

import { get, post } from './api.js';
import { ago, announce, clear, displayName, h, showError } from './ui.js';
import { live } from './ws.js';

function describe(n) {
  const d = n.data || {};
  const by = d.by ? displayName(d.by) : 'Someone';
  const title = d.title ? `“${d.title}”` : 'a space';
  switch (n.kind) {
    case 'space.started':
      return `${by} started ${title}`;
    case 'space.reminder':
      return `${title} by ${by} is live now`;
    case 'cohost.added':
      return `${d.user ? displayName(d.user) : 'Someone'} is now co-hosting ${title}`;
    case 'invite':
      return `${by} invited you to ${d.role === 'cohost' ? 'co-host' : 'speak in'} ${title}`;
    default:
      return `${by}: ${title}`;
  }
}

class Bell {
  constructor() {
    this.count = 0;
    this.items = [];
    this.open = false;
    this.badge = h('span', { class: 'badge', hidden: true, 'aria-hidden': 'true' }, '0');
    this.button = h(
      'button',
      {
        type: 'button',
        class: 'btn btn-icon bell',
        'aria-haspopup': 'true',
        'aria-expanded': 'false',
        'aria-controls': 'notif-panel',
        onclick: () => this.toggle(),
      },
      h('span', { class: 'icon', 'aria-hidden': 'true' }, bellIcon()),
      this.badge,
    );
    this.list = h('ul', { class: 'notif-list' });
    this.panel = h(
      'div',
      { id: 'notif-panel', class: 'notif-panel', role: 'region', 'aria-label': 'Notifications', hidden: true },
      h('div', { class: 'notif-head' }, h('h2', {}, 'Notifications'), h('button', { type: 'button', class: 'btn btn-small btn-ghost', onclick: () => this.readAll() }, 'Mark all read')),
      this.list,
    );
    this.root = h('div', { class: 'bell-wrap' }, this.button, this.panel);
    this.paintCount();
    live.addEventListener('notification', (ev) => {
      this.items.unshift(ev.detail);
      if (!ev.detail.read) this.setCount(this.count + 1);
      announce(`New notification: ${describe(ev.detail)}`);
      if (this.open) this.paintList();
    });
    live.addEventListener('open', (ev) => {
      if (ev.detail.reconnect) this.load(); // pushes may have been missed while away
    });
    live.addEventListener('notifications-lagged', () => this.load());
    document.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape' && this.open) {
        this.toggle(false);
        this.button.focus();
      }
    });
    document.addEventListener('click', (ev) => {
      if (this.open && !this.root.contains(ev.target)) this.toggle(false);
    });
    document.addEventListener('townhall:routed', () => this.toggle(false));
  }

  element() {
    return this.root;
  }

  reset() {
    this.items = [];
    this.setCount(0);
    this.toggle(false);
  }

  async load() {
    try {
      const out = await get('/notifications/unread_count');
      this.setCount(out.count);
      if (this.open) await this.loadList();
    } catch (err) {
      if (err.status !== 401) console.warn('unread count failed', err);
    }
  }

  setCount(n) {
    this.count = Math.max(0, n);
    this.paintCount();
  }

  paintCount() {
    this.badge.textContent = this.count > 99 ? '99+' : String(this.count);
    this.badge.hidden = this.count === 0;
    this.button.setAttribute('aria-label', this.count ? `Notifications, ${this.count} unread` : 'Notifications');
    this.button.dataset.unread = String(this.count);
  }

  async toggle(force) {
    const open = force === undefined ? !this.open : force;
    if (open === this.open) return;
    this.open = open;
    this.panel.hidden = !open;
    this.button.setAttribute('aria-expanded', String(open));
    if (open) await this.loadList();
  }

  async loadList() {
    try {
      const out = await get('/notifications?limit=20');
      this.items = out.items || [];
      this.paintList();
      const unread = this.items.filter((n) => !n.read).map((n) => n.id);
      if (unread.length) {
        const r = await post('/notifications/read', { ids: unread });
        this.setCount(r.unread);
      }
    } catch (err) {
      showError(err);
    }
  }

  async readAll() {
    try {
      const r = await post('/notifications/read', { all: true });
      this.setCount(r.unread);
      this.items.forEach((n) => {
        n.read = true;
      });
      this.paintList();
    } catch (err) {
      showError(err);
    }
  }

  paintList() {
    clear(this.list);
    if (!this.items.length) {
      this.list.append(h('li', { class: 'muted' }, 'Nothing yet. When people you follow go live, you will hear it here.'));
      return;
    }
    for (const n of this.items) {
      const d = n.data || {};
      const text = describe(n);
      this.list.append(
        h(
          'li',
          { class: n.read ? 'notif' : 'notif unread' },
          d.space_id ? h('a', { href: `#/space/${encodeURIComponent(d.space_id)}` }, text) : h('span', {}, text),
          h('small', { class: 'muted' }, ago(n.created_at)),
        ),
      );
    }
  }
}

function bellIcon() {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', '22');
  svg.setAttribute('height', '22');
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', 'M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22zm7-6V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1z');
  path.setAttribute('fill', 'currentColor');
  svg.append(path);
  return svg;
}

export const bell = new Bell();
