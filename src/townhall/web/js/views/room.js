// The room: stage, listeners, hands, moderation, mic, reactions, audio, resilience.

import { AudioLink, MicError } from '../media.js';
import { go } from '../router.js';
import { currentUser } from '../session.js';
import * as S from '../spaces.js';
import { applyCaptionsEvent, buildCaptions, loadTranscript, paintCaptions, showCaption } from './captions.js';
import { applyRecordingEvent, loadReplay, paintRecording } from './recording.js';
import { announce, avatar, bindForm, clear, displayName, errorMessage, field, formError, h, plural, showError, toast, when } from '../ui.js';
import { live } from '../ws.js';
import { failure, loading, mount } from './common.js';
import { handlesToIds, shareBox } from './newspace.js';

const STAGE = new Set(['host', 'cohost', 'speaker']);
const MODS = new Set(['host', 'cohost']);
const ROLE_LABEL = { host: 'Host', cohost: 'Co-host', speaker: 'Speaker', listener: 'Listener' };
const SPEAKING_LEVEL = 0.04;

// -- normalising server data ------------------------------------------------

function userOf(m) {
  if (!m) return null;
  if (m.user) return m.user;
  return { id: m.user_id ?? m.id, handle: m.handle, display_name: m.display_name };
}

function idOf(x) {
  if (x === null || x === undefined) return null;
  if (typeof x === 'object') return Number(x.user_id ?? (x.user ? x.user.id : x.id));
  return Number(x);
}

function memberFrom(m) {
  const user = userOf(m);
  return {
    user,
    role: m.role || 'listener',
    muted: m.muted !== undefined ? Boolean(m.muted) : true,
    hand: Boolean(m.hand_raised ?? m.hand ?? m.hand_raised_at),
    handAt: m.hand_raised_at ? Date.parse(m.hand_raised_at) || Number(m.hand_raised_at) || 0 : 0,
    invited: m.invited_as || m.invited || null,
  };
}

// -- the view -----------------------------------------------------------------

export async function roomView(params) {
  const spaceId = params.id;
  mount('Space', loading('Opening the space…'));
  let space;
  try {
    space = await S.getSpace(spaceId);
  } catch (err) {
    mount('Space', failure(err, () => roomView(params)));
    return undefined;
  }
  const room = new Room(space);
  room.mount();
  return () => room.destroy();
}

class Room {
  constructor(space) {
    this.me = currentUser();
    this.space = space;
    this.id = String(space.id);
    this.members = new Map();
    this.listenerCount = 0;
    this.handOrder = 0;
    this.joined = false;
    this.joining = false;
    this.over = null; // 'ended' | 'removed' | 'cancelled'
    this.synced = false;
    this.levels = new Map(); // user id -> last reported speaking level
    this.openMenu = null;
    this.micBusy = false;
    this.micMessage = '';
    this.destroyed = false;
    this.audio = h('audio', { autoplay: true, playsinline: true, class: 'sr-only', 'aria-hidden': 'true' });
    this.link = new AudioLink(this.id, this.audio);
    this.link.addEventListener('state', (ev) => this.paintAudioStatus(ev.detail));
    this.link.addEventListener('mic-ended', () => {
      this.micMessage = 'Your microphone stopped. Press Unmute to try again.';
      this.paintControls();
    });
    this.onSocketState = (ev) => this.paintConnection(ev.detail.state);
    this.onSocketOpen = (ev) => {
      if (ev.detail.reconnect && this.joined && !this.over && this.link.state !== 'connected') this.link.reconnect();
    };
    this.onOnline = () => {
      if (this.joined && !this.over && this.link.state !== 'connected') this.link.reconnect();
    };
    this.onPageHide = () => {
      if (this.joined && !this.over) {
        fetch(`/api/v1/spaces/${encodeURIComponent(this.id)}/leave`, {
          method: 'POST',
          keepalive: true,
          credentials: 'same-origin',
          headers: { 'Content-Type': 'application/json' },
          body: '{}',
        }).catch(() => {});
      }
    };
    this.onKey = (ev) => {
      if (ev.key === 'Escape' && this.openMenu !== null) {
        const id = this.openMenu;
        this.openMenu = null;
        this.paintPeople();
        const btn = document.querySelector(`[data-key="who-${id}"]`);
        if (btn) btn.focus();
      }
    };
    this.onDocClick = (ev) => {
      if (this.openMenu !== null && !ev.target.closest('.member')) {
        this.openMenu = null;
        this.paintPeople();
      }
    };
  }

  get myId() {
    return this.me ? this.me.id : null;
  }

  get myRole() {
    const m = this.members.get(this.myId);
    return m ? m.role : null;
  }

  get onStage() {
    return STAGE.has(this.myRole);
  }

  get isMod() {
    return MODS.has(this.myRole);
  }

  get isHost() {
    return this.space.host && this.space.host.id === this.myId;
  }

  // -- building -------------------------------------------------------------

  mount() {
    this.el = {};
    const e = this.el;
    e.title = h('h1', { id: 'room-title' });
    e.hostLine = h('p', { class: 'host-line' });
    e.topics = h('ul', { class: 'topics', 'aria-label': 'Topics' });
    e.meta = h('p', { class: 'room-meta' });
    e.recording = h('div', { class: 'recording-box', hidden: true });
    e.banner = h('div', { class: 'room-banner', role: 'alert', hidden: true });
    e.conn = h('p', { class: 'audio-status muted', role: 'status', 'aria-live': 'polite' });
    e.join = h('div', { class: 'card join-panel' });
    e.invite = h('div', { class: 'card invite-box', role: 'region', 'aria-label': 'Invitation', hidden: true });
    e.stage = h('ul', { class: 'stage', 'aria-label': 'Speakers on stage' });
    e.stageCount = h('span', { class: 'muted small' });
    e.queueSection = h('section', { class: 'card', 'aria-labelledby': 'queue-title', hidden: true });
    e.queue = h('ul', { class: 'queue' });
    e.listeners = h('ul', { class: 'listeners-list', 'aria-label': 'Listeners' });
    e.listenersTitle = h('h2', { id: 'listeners-title' }, 'Listeners');
    e.controls = h('div', { class: 'controls', role: 'toolbar', 'aria-label': 'Room controls', hidden: true });
    const captionsCard = buildCaptions(this);
    e.float = h('div', { class: 'float-layer', 'aria-hidden': 'true' });
    e.share = h('div', {});
    e.tools = h('section', { class: 'card', 'aria-labelledby': 'tools-title' });
    e.schedule = h('div', {});
    e.queueSection.append(h('h2', { id: 'queue-title' }, 'Raised hands'), e.queue);

    const main = h(
      'div',
      { class: 'room-main' },
      h('section', { class: 'card room-head', 'aria-labelledby': 'room-title' }, e.title, e.hostLine, e.topics, e.meta, e.recording, e.conn, h('p', { class: 'muted small evidence-note' }, 'Audio may be kept for review if someone reports this space.')),
      e.banner,
      e.schedule,
      e.join,
      e.invite,
      h('section', { class: 'card', 'aria-labelledby': 'stage-title' }, h('div', { class: 'row' }, h('h2', { id: 'stage-title' }, 'On stage'), e.stageCount), e.stage),
      e.controls,
      captionsCard,
    );
    const side = h(
      'div',
      { class: 'room-side' },
      e.queueSection,
      h('section', { class: 'card', 'aria-labelledby': 'listeners-title' }, e.listenersTitle, e.listeners),
      h('section', { class: 'card' }, e.share),
      e.tools,
    );
    mount(this.space.title, h('div', { class: 'room', dataset: { spaceId: this.id } }, main, side), this.audio, e.float);
    e.share.append(shareBox(this.id, this.space.share_url));

    live.addEventListener('state', this.onSocketState);
    live.addEventListener('open', this.onSocketOpen);
    window.addEventListener('online', this.onOnline);
    window.addEventListener('pagehide', this.onPageHide);
    document.addEventListener('keydown', this.onKey);
    document.addEventListener('click', this.onDocClick);
    this.unsubscribe = live.subscribe(this.id, (msg) => this.onMessage(msg));
    window.townhallDebug = Object.assign(window.townhallDebug || {}, {
      room: this,
      analyse: (opts) => this.link.analyse(opts),
    });
    this.paintAll();
  }

  destroy() {
    this.destroyed = true;
    live.removeEventListener('state', this.onSocketState);
    live.removeEventListener('open', this.onSocketOpen);
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('pagehide', this.onPageHide);
    document.removeEventListener('keydown', this.onKey);
    document.removeEventListener('click', this.onDocClick);
    if (this.unsubscribe) this.unsubscribe();
    if (this.joined && !this.over) S.leave(this.id).catch(() => {});
    this.link.close();
    if (window.townhallDebug && window.townhallDebug.room === this) {
      delete window.townhallDebug.room;
      delete window.townhallDebug.analyse;
    }
  }

  // -- server messages ------------------------------------------------------

  onMessage(msg) {
    if (this.destroyed) return;
    const d = msg.data || {};
    switch (msg.type) {
      case 'snapshot':
        this.applySnapshot(d);
        break;
      case 'subscribed':
        return;
      case 'error':
        if (msg.error && msg.error.code === 'removed_from_space') {
          this.finish('removed', 'You were removed from this space by a moderator.');
        } else if (msg.error && msg.error.code === 'not_found') {
          this.finish('removed', 'This space is not available to you.');
        }
        return;
      case 'unsubscribed':
        if (msg.reason === 'removed') this.finish('removed', 'You were removed from this space by a moderator.');
        return;
      case 'space.started':
      case 'space.updated':
        if (d.space) this.space = { ...this.space, ...d.space };
        if (msg.type === 'space.started') {
          this.space.state = 'live';
          announce('The space has started');
        }
        this.paintAll();
        return;
      case 'recording.changed':
        applyRecordingEvent(this, d);
        return;
      case 'captions.changed':
        applyCaptionsEvent(this, d);
        return;
      case 'space.ended':
        if (d.reason === 'cancelled') {
          this.finish('cancelled', 'This space was cancelled.');
          return;
        }
        this.finish('ended', d.reason === 'host_gone' ? 'This space has ended: the host left.' : 'This space has ended.');
        return;
      case 'member.joined': {
        const u = d.user;
        const prev = this.members.get(u.id);
        this.members.set(u.id, { ...(prev || memberFrom({ user: u, role: d.role })), user: u, role: d.role || (prev && prev.role) || 'listener' });
        if (STAGE.has(d.role)) announce(`${displayName(u)} joined the stage`);
        break;
      }
      case 'member.left': {
        const id = idOf(d.user_id);
        const m = this.members.get(id);
        this.members.delete(id);
        this.levels.delete(id);
        if (m && STAGE.has(m.role)) announce(`${displayName(m.user)} left the stage`);
        if (id === this.myId && this.joined && !this.over) {
          // Left from another tab or device.
          this.joined = false;
          this.link.close();
          this.link = this.freshLink();
        }
        break;
      }
      case 'member.removed': {
        const id = idOf(d.user_id);
        const m = this.members.get(id);
        this.members.delete(id);
        if (id === this.myId) {
          this.finish('removed', 'You were removed from this space by a moderator.');
          return;
        }
        if (m) announce(`${displayName(m.user)} was removed`);
        break;
      }
      case 'hand.raised': {
        const m = this.members.get(idOf(d.user_id));
        if (m) {
          m.hand = true;
          m.handAt = m.handAt || Date.now() + this.handOrder++;
          if (this.isMod) announce(`${displayName(m.user)} raised a hand`);
        } else if (this.isMod) {
          this.resyncSoon(); // a listener beyond the listed ones: the snapshot's queue has them
        }
        break;
      }
      case 'hand.lowered': {
        const m = this.members.get(idOf(d.user_id));
        if (m) {
          m.hand = false;
          m.handAt = 0;
        }
        break;
      }
      case 'invite.sent': {
        const m = this.members.get(idOf(d.user_id));
        if (m) m.invited = d.role;
        if (idOf(d.user_id) === this.myId) announce(`You are invited to ${d.role === 'cohost' ? 'co-host' : 'speak'}`);
        break;
      }
      case 'invite.declined': {
        const m = this.members.get(idOf(d.user_id));
        if (m) m.invited = null;
        if (m && this.isMod && idOf(d.user_id) !== this.myId) announce(`${displayName(m.user)} declined the invitation`);
        break;
      }
      case 'role.changed':
        this.applyRole(idOf(d.user_id), d.role, d.by);
        break;
      case 'mute.changed':
        this.applyMute(idOf(d.user_id), Boolean(d.muted), d.by);
        break;
      case 'reaction':
        this.floatReaction(d.emoji, idOf(d.user_id));
        return;
      case 'levels':
        this.applyLevels(d.levels || {});
        return;
      case 'media.moved':
        this.link.moved(d.user_ids, this.myId);
        return;
      case 'listeners.count':
        this.listenerCount = Number(d.count) || 0;
        this.paintMeta();
        this.paintListenersTitle();
        return;
      case 'caption': {
        const who = this.members.get(idOf(d.user_id));
        showCaption(this, d, who ? who.user : null);
        return;
      }
      default:
        return;
    }
    this.paintPeople();
    this.paintControls();
    this.paintMeta();
  }

  applySnapshot(d) {
    if (d.space) this.space = { ...this.space, ...d.space };
    this.members.clear();
    const all = [];
    for (const key of ['members', 'stage', 'speakers', 'listeners']) {
      if (Array.isArray(d[key])) all.push(...d[key]);
    }
    for (const m of all) {
      const mm = memberFrom(m);
      if (mm.user && mm.user.id !== undefined) this.members.set(Number(mm.user.id), mm);
    }
    const queue = d.hand_queue || d.hands || d.raised_hands;
    if (Array.isArray(queue)) {
      queue.forEach((q, i) => {
        const id = idOf(q);
        let m = this.members.get(id);
        if (!m && typeof q === 'object' && userOf(q)) {
          m = memberFrom({ ...q, role: 'listener' });
          this.members.set(id, m);
        }
        if (m) {
          m.hand = true;
          m.handAt = i + 1;
        }
      });
      this.handOrder = queue.length + 1;
    }
    const invites = d.invitations || d.invites;
    if (Array.isArray(invites)) {
      for (const inv of invites) {
        const m = this.members.get(idOf(inv));
        if (m) m.invited = inv.role || inv.invited_as || 'speaker';
      }
    }
    if (d.me && d.me.role && this.myId !== null) {
      const mine = this.members.get(this.myId) || memberFrom({ user: this.me, role: d.me.role });
      mine.role = d.me.role;
      mine.muted = Boolean(d.me.muted);
      mine.hand = Boolean(d.me.hand_raised);
      if (mine.hand && !mine.handAt) mine.handAt = this.handOrder++;
      mine.invited = d.me.invited_as || null;
      this.members.set(this.myId, mine);
      this.link.setStage(STAGE.has(mine.role));
    }
    const count = d.listener_count ?? d.listeners_count ?? (this.space && this.space.listener_count);
    if (typeof count === 'number') this.listenerCount = count;
    else this.listenerCount = [...this.members.values()].filter((m) => m.role === 'listener').length;
    this.synced = true;
    if (['ended', 'cancelled'].includes(this.space.state)) {
      this.finish(this.space.state, this.space.state === 'ended' ? 'This space has ended.' : 'This space was cancelled.');
      return;
    }
    // After a resync the server's truth wins for my own mic too.
    const me = this.members.get(this.myId);
    if (this.joined) {
      if (!me) {
        // The server no longer counts me in (e.g. presence expired while offline): join again.
        this.rejoin();
      } else {
        this.syncMyMic(me);
      }
    }
    this.paintAll();
  }

  async rejoin() {
    try {
      await S.join(this.id);
    } catch (err) {
      if (err.code === 'removed_from_space') this.finish('removed', 'You were removed from this space by a moderator.');
      else showError(err);
    }
  }

  applyRole(id, role, by) {
    const m = this.members.get(id);
    if (!m) {
      // Someone the page does not list (long listener lists are cut): ask for the picture.
      if (STAGE.has(role)) this.resyncSoon();
      return;
    }
    const before = m.role;
    m.role = role;
    m.hand = false;
    m.handAt = 0;
    m.invited = null;
    if (role === 'listener') m.muted = true;
    if (before === role) return;
    const name = id === this.myId ? 'You' : displayName(m.user);
    if (role === 'listener') announce(`${name} moved to the listeners`);
    else announce(`${name} ${id === this.myId ? 'are' : 'is'} now ${role === 'cohost' ? 'a co-host' : role === 'host' ? 'the host' : 'a speaker'}`);
    if (role === 'host' && this.space.host && this.space.host.id !== id) this.space.host = m.user;
    if (id === this.myId) {
      this.micMessage = '';
      this.link.setStage(STAGE.has(role));
      // Moderators see the hand queue, which the snapshot only gives them: fetch it again.
      if (MODS.has(role) !== MODS.has(before)) live.resync(this.id);
      if (!STAGE.has(role)) {
        this.link.setMic(false).catch(() => {});
        this.link.setMuted(true);
        if (STAGE.has(before) && by && idOf(by) !== this.myId) toast('You were moved to the listeners.', 'info');
      } else if (!STAGE.has(before)) {
        toast(role === 'speaker' ? 'You are a speaker now. Press Unmute to talk.' : 'You are on stage now.', 'success');
      }
    }
  }

  resyncSoon() {
    if (this.resyncTimer) return;
    this.resyncTimer = setTimeout(() => {
      this.resyncTimer = null;
      if (!this.destroyed) live.resync(this.id);
    }, 300);
  }

  applyMute(id, muted, by) {
    const m = this.members.get(id);
    if (!m) return;
    const changed = m.muted !== muted;
    m.muted = muted;
    if (id === this.myId) {
      this.link.setMuted(muted);
      if (muted && changed && by !== undefined && idOf(by) !== this.myId) {
        toast('A moderator muted you.', 'info');
        announce('A moderator muted you');
      }
    } else if (changed && muted && this.joined) {
      announce(`${displayName(m.user)} is muted`);
    }
  }

  syncMyMic(me) {
    if (!STAGE.has(me.role)) {
      if (this.link.wantMic) this.link.setMic(false).catch(() => {});
      return;
    }
    this.link.setMuted(me.muted);
  }

  /**
   * The server publishes levels when they change (a steady voice sends nothing new), so a
   * level holds until the next event names that person again; 0 means silent or gone.
   */
  applyLevels(levels) {
    for (const [key, value] of Object.entries(levels)) {
      const level = Number(value) || 0;
      if (level > 0) this.levels.set(Number(key), level);
      else this.levels.delete(Number(key));
    }
    this.paintSpeaking();
  }

  paintSpeaking() {
    for (const li of this.el.stage.querySelectorAll('.member')) {
      const id = Number(li.dataset.userId);
      const m = this.members.get(id);
      const speaking = (this.levels.get(id) || 0) >= SPEAKING_LEVEL && m && !m.muted;
      li.classList.toggle('speaking', Boolean(speaking));
      li.dataset.speaking = speaking ? 'true' : 'false';
    }
  }

  floatReaction(emoji, userId) {
    if (!emoji) return;
    const left = 10 + Math.random() * 80;
    const el = h('span', { class: 'floater', style: { left: `${left}%` } }, emoji);
    this.el.float.append(el);
    setTimeout(() => el.remove(), 2700);
    const m = this.members.get(userId);
    this.el.float.dataset.last = emoji;
    this.el.float.dataset.count = String(Number(this.el.float.dataset.count || 0) + 1);
    if (m && userId !== this.myId) this.el.float.dataset.from = m.user.handle || '';
  }

  finish(kind, message) {
    if (this.over === 'removed') return; // already told
    this.over = kind;
    this.joined = false;
    this.link.close();
    this.space.state = kind === 'ended' ? 'ended' : this.space.state;
    this.openMenu = null;
    this.el.banner.hidden = false;
    this.el.banner.className = 'room-banner ended';
    this.el.banner.dataset.kind = kind;
    const summary = h('p', { class: 'history' });
    clear(this.el.banner).append(h('p', {}, message), summary, h('a', { class: 'btn', href: '#/' }, 'Back to home'));
    this.members.clear();
    this.levels.clear();
    this.listenerCount = 0;
    this.paintAll();
    if (kind === 'ended') {
      this.loadHistory(summary);
      loadReplay(this, S.getSpace).then(() => loadTranscript(this));
    }
  }

  async loadHistory(el) {
    try {
      const s = await S.getSpace(this.id);
      const hist = s.history;
      if (!hist) return;
      const bits = [];
      if (hist.duration_seconds !== null && hist.duration_seconds !== undefined) {
        const min = Math.max(1, Math.round(hist.duration_seconds / 60));
        bits.push(`It lasted ${plural(min, 'minute', 'minutes')}`);
      }
      bits.push(`${plural(hist.total_listeners, 'person', 'people')} listened (at most ${hist.peak_listeners} at once)`);
      el.textContent = `${bits.join('; ')}.`;
    } catch {
      /* the summary is a nicety */
    }
  }

  freshLink() {
    const link = new AudioLink(this.id, this.audio);
    link.addEventListener('state', (ev) => this.paintAudioStatus(ev.detail));
    const me = this.members.get(this.myId);
    link.stage = Boolean(me && STAGE.has(me.role));
    return link;
  }

  // -- actions --------------------------------------------------------------

  async join(button) {
    if (this.joining) return;
    this.joining = true;
    if (button) button.disabled = true;
    // In the click handler: lets audio play and starts the AudioContext.
    if (this.link.closed) this.link = this.freshLink();
    this.link.unlockAudio();
    try {
      const snap = await S.join(this.id);
      this.joined = true;
      if (snap && snap.space) this.applySnapshot(snap);
      this.link.connect();
      await this.restoreMic();
      announce('You joined the space');
      this.paintAll();
      const next = this.el.controls.querySelector('button');
      if (next) next.focus();
    } catch (err) {
      showError(err);
      if (err.code === 'removed_from_space') this.finish('removed', 'You were removed from this space by a moderator.');
    } finally {
      this.joining = false;
      if (button && button.isConnected) button.disabled = false;
    }
  }

  /** Back on stage with the mic on (after a reload): take the mic again, or say muted. */
  async restoreMic() {
    const me = this.members.get(this.myId);
    if (!me || !STAGE.has(me.role) || me.muted) return;
    try {
      await this.link.setMic(true);
      this.link.setMuted(false);
    } catch (err) {
      this.micMessage = err instanceof MicError ? err.message : errorMessage(err);
      me.muted = true;
      this.link.setMuted(true);
      await S.setMute(this.id, null, true).catch(() => {});
      this.paintPeople();
      this.paintControls();
    }
  }

  async leave() {
    try {
      await S.leave(this.id);
    } catch (err) {
      if (err.status !== 409) showError(err);
    }
    this.joined = false;
    this.link.close();
    go('/');
  }

  async end() {
    if (!confirm('End this space for everyone?')) return;
    try {
      await S.end(this.id);
    } catch (err) {
      showError(err);
    }
  }

  async toggleMic() {
    if (this.micBusy) return;
    const me = this.members.get(this.myId);
    if (!me || !STAGE.has(me.role)) return;
    this.micBusy = true;
    this.micMessage = '';
    this.paintControls();
    try {
      if (me.muted) {
        await this.link.setMic(true); // asks for permission the first time
        this.link.setMuted(false);
        await S.setMute(this.id, null, false);
        me.muted = false;
        announce('Your microphone is on');
      } else {
        this.link.setMuted(true);
        await S.setMute(this.id, null, true);
        me.muted = true;
        announce('Your microphone is off');
      }
    } catch (err) {
      if (err instanceof MicError) {
        this.micMessage = err.message;
        announce(err.message);
      } else {
        showError(err);
      }
      this.link.setMuted(true);
    } finally {
      this.micBusy = false;
      this.paintPeople();
      this.paintControls();
      const btn = this.el.controls.querySelector('[data-key=mic]');
      if (btn) btn.focus();
    }
  }

  report(m) {
    const who = m ? displayName(m.user) : 'this space';
    const reason = prompt(`Why are you reporting ${who}?`);
    if (!reason || !reason.trim()) return;
    this.run(async () => {
      await S.report(this.id, reason.trim(), m ? Number(m.user.id) : null);
      toast('Thank you. The report was sent.', 'success');
    }, 'Thank you. The report was sent.');
  }

  async run(fn, done) {
    try {
      await fn();
      if (done) announce(done);
    } catch (err) {
      showError(err);
    }
  }

  // -- painting -----------------------------------------------------------------

  paintAll() {
    this.paintTools();
    this.paintHead();
    this.paintMeta();
    paintRecording(this);
    paintCaptions(this);
    this.paintSchedule();
    this.paintJoin();
    this.paintInvite();
    this.paintPeople();
    this.paintControls();
  }

  paintHead() {
    const s = this.space;
    document.title = `${s.title} · townhall`;
    this.el.title.textContent = s.title;
    const host = s.host || {};
    clear(this.el.hostLine).append(
      avatar(host, 'xs'),
      h('a', { href: `#/u/${encodeURIComponent(host.handle || '')}`, target: '_blank', rel: 'noopener' }, displayName(host)),
      h('span', { class: 'muted' }, ' · host'),
    );
    clear(this.el.topics);
    for (const t of s.topics || []) this.el.topics.append(h('li', { class: 'topic' }, t));
    this.el.topics.hidden = !(s.topics || []).length;
  }

  paintTools() {
    const box = this.el.tools;
    const s = this.space;
    const open = !this.over && ['live', 'scheduled'].includes(s.state);
    const key = [this.isHost, open, s.visibility].join();
    if (key === this.toolsKey) return;
    this.toolsKey = key;
    clear(box);
    box.hidden = !open;
    if (!open) return;
    box.append(h('h2', { id: 'tools-title' }, this.isHost ? 'Space settings' : 'More'));
    if (!this.isHost) {
      box.append(h('button', { type: 'button', class: 'btn btn-small', onclick: () => this.report(null) }, 'Report this space'));
      return;
    }
    const form = h(
      'form',
      { class: 'form', novalidate: true },
      field('Title', h('input', { name: 'title', required: true, maxlength: 70, value: s.title })),
      field('Topics', h('input', { name: 'topics', maxlength: 100, value: (s.topics || []).join(', ') }), 'Up to 3, separated by commas.'),
      field('Who can request to speak', h('select', { name: 'speaker_policy' },
        ['everyone', 'followed', 'invited'].map((v) => h('option', { value: v, selected: s.speaker_policy === v }, { everyone: 'Everyone', followed: 'People I follow', invited: 'Only people I invite' }[v])))),
      formError(),
      h('button', { type: 'submit', class: 'btn btn-small' }, 'Save changes'),
    );
    bindForm(form, async (data) => {
      const out = await S.editSpace(this.id, {
        title: String(data.get('title') || '').trim(),
        topics: String(data.get('topics') || '').split(',').map((t) => t.trim()).filter(Boolean),
        speaker_policy: String(data.get('speaker_policy')),
      });
      this.space = { ...this.space, ...out };
      this.paintHead();
      this.paintMeta();
      announce('Space updated');
      toast('Space updated', 'success');
    });
    box.append(h('details', {}, h('summary', {}, 'Edit title, topics, speakers'), form));
    if (s.visibility === 'private') {
      const guests = h(
        'form',
        { class: 'form', novalidate: true },
        field('Add guests', h('input', { name: 'guests', placeholder: '@ann, @bob', autocapitalize: 'none', spellcheck: 'false' }), 'They can join with the share link.'),
        formError(),
        h('button', { type: 'submit', class: 'btn btn-small' }, 'Add'),
      );
      bindForm(guests, async (data) => {
        const ids = await handlesToIds(data.get('guests'));
        if (!ids.length) return;
        await S.addGuests(this.id, ids);
        guests.reset();
        announce('Guests added');
        toast('Guests added', 'success');
      });
      box.append(h('details', {}, h('summary', {}, 'Invite people to this private space'), guests));
    }
  }

  paintMeta() {
    const s = this.space;
    const bits = [];
    if (s.state === 'live') bits.push(h('span', { class: 'live-pill' }, 'LIVE'));
    else if (s.state === 'scheduled') bits.push(h('span', { class: 'sched-pill' }, 'Upcoming'));
    else bits.push(h('span', { class: 'private-pill' }, s.state === 'ended' ? 'Ended' : s.state));
    if (s.visibility === 'private') bits.push(h('span', { class: 'private-pill' }, 'Private'));
    if (s.state === 'live') bits.push(h('span', { class: 'listener-count', 'data-count': String(this.listenerCount) }, plural(this.listenerCount, 'listener', 'listeners')));
    clear(this.el.meta).append(...bits);
  }

  paintListenersTitle() {
    this.el.listenersTitle.textContent = `Listeners (${this.listenerCount})`;
  }

  paintSchedule() {
    const box = this.el.schedule;
    const key = [this.space.state, this.isHost].join();
    if (key === this.scheduleKey) return;
    this.scheduleKey = key;
    clear(box);
    if (this.space.state !== 'scheduled') return;
    const card = h('div', { class: 'card room-banner info' }, h('p', {}, 'Starts ', h('time', { datetime: this.space.scheduled_for || '' }, when(this.space.scheduled_for)), '.'));
    if (this.isHost) {
      card.append(
        h('div', { class: 'row' },
          h('button', { type: 'button', class: 'btn btn-primary', onclick: () => this.run(async () => {
            const out = await S.start(this.id);
            if (out && out.state) this.space = { ...this.space, ...out };
            else this.space.state = 'live';
            this.paintAll();
          }, 'The space has started') }, 'Start now'),
          h('button', { type: 'button', class: 'btn', onclick: () => {
            if (!confirm('Cancel this space?')) return;
            this.run(async () => {
              await S.cancel(this.id);
              this.finish('cancelled', 'This space was cancelled.');
            });
          } }, 'Cancel space')),
      );
    } else {
      let on = Boolean(this.space.reminder_set ?? this.space.reminded ?? this.space.has_reminder);
      const b = h('button', { type: 'button', class: 'btn', 'aria-pressed': String(on) }, on ? 'Reminder set ✓' : 'Remind me');
      b.addEventListener('click', () => this.run(async () => {
        if (on) await S.unremind(this.id);
        else await S.remind(this.id);
        on = !on;
        this.space.reminder_set = on;
        b.textContent = on ? 'Reminder set ✓' : 'Remind me';
        b.setAttribute('aria-pressed', String(on));
      }, on ? 'Reminder removed' : 'We will notify you when it starts'));
      card.append(b);
    }
    box.append(card);
  }

  paintJoin() {
    const box = this.el.join;
    const show = this.space.state === 'live' && !this.joined && !this.over;
    const key = [show, this.isHost].join();
    if (key === this.joinKey) return; // keep the button (and the keyboard focus on it)
    this.joinKey = key;
    clear(box);
    box.hidden = !show;
    if (!show) return;
    const button = h('button', { type: 'button', class: 'btn btn-primary btn-big join-btn' }, this.isHost ? 'Join as host' : 'Join space');
    button.addEventListener('click', () => this.join(button));
    box.append(
      h('p', {}, this.isHost ? 'Your space is live. Join to start the audio.' : 'Join to listen. Audio starts when you press the button.'),
      button,
    );
  }

  paintInvite() {
    const box = this.el.invite;
    const me = this.members.get(this.myId);
    const role = me && me.invited;
    const show = Boolean(role && this.joined && !this.over);
    const key = [show, role].join();
    if (key === this.inviteKey) return; // keep the buttons (and the keyboard focus)
    this.inviteKey = key;
    clear(box);
    box.hidden = !show;
    if (!show) return;
    box.append(
      h('p', {}, h('strong', {}, role === 'cohost' ? 'You are invited to co-host.' : 'You are invited to speak.')),
      h('div', { class: 'row' },
        h('button', { type: 'button', class: 'btn btn-primary', onclick: () => this.run(() => S.acceptInvite(this.id), 'Invitation accepted') }, 'Accept'),
        h('button', { type: 'button', class: 'btn', onclick: () => this.run(() => S.declineInvite(this.id), 'Invitation declined') }, 'Decline')),
    );
  }

  paintPeople() {
    const focusKey = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.key : null;
    this.paintInvite();
    const order = { host: 0, cohost: 1, speaker: 2 };
    const all = [...this.members.values()];
    const stage = all.filter((m) => STAGE.has(m.role)).sort((a, b) => order[a.role] - order[b.role] || String(displayName(a.user)).localeCompare(displayName(b.user)));
    const listeners = all.filter((m) => m.role === 'listener');
    clear(this.el.stage);
    for (const m of stage) this.el.stage.append(this.memberItem(m, 'lg'));
    if (!stage.length) this.el.stage.append(h('li', { class: 'muted' }, this.over ? 'Nobody is on stage.' : 'The stage is empty.'));
    this.el.stageCount.textContent = stage.length ? `(${stage.length})` : '';
    clear(this.el.listeners);
    for (const m of listeners) this.el.listeners.append(this.memberItem(m, 'md'));
    if (!listeners.length) this.el.listeners.append(h('li', { class: 'muted' }, 'No listeners yet.'));
    if (this.listenerCount < listeners.length) this.listenerCount = listeners.length;
    this.paintListenersTitle();
    // Hand queue (moderators only).
    const hands = all.filter((m) => m.hand && !STAGE.has(m.role)).sort((a, b) => a.handAt - b.handAt);
    this.el.queueSection.hidden = !(this.isMod && this.joined && !this.over);
    clear(this.el.queue);
    if (!hands.length) this.el.queue.append(h('li', { class: 'muted' }, 'No raised hands.'));
    for (const m of hands) {
      const name = displayName(m.user);
      const uid = m.user.id;
      this.el.queue.append(
        h('li', { dataset: { userId: String(uid) } },
          avatar(m.user, 'sm'),
          h('span', { class: 'qname' }, name),
          h('span', { class: 'q-actions' },
            h('button', { type: 'button', class: 'btn btn-primary btn-small', 'data-key': `approve-${uid}`, 'aria-label': `Approve ${name} to speak`, onclick: () => this.run(() => S.approveHand(this.id, uid), `${name} is invited on stage`) }, 'Approve'),
            h('button', { type: 'button', class: 'btn btn-small', 'data-key': `decline-${uid}`, 'aria-label': `Decline ${name}'s request`, onclick: () => this.run(() => S.declineHand(this.id, uid), `Declined ${name}`) }, 'Decline'))),
      );
    }
    this.paintSpeaking();
    if (focusKey) {
      const again = document.querySelector(`[data-key="${CSS.escape(focusKey)}"]`);
      if (again) again.focus();
      else if (this.el.controls.contains(document.activeElement) === false && document.activeElement === document.body) {
        const first = this.el.controls.querySelector('button');
        if (first) first.focus();
      }
    }
  }

  memberItem(m, size) {
    const u = m.user;
    const uid = Number(u.id);
    const name = displayName(u);
    const isMe = uid === this.myId;
    const onStage = STAGE.has(m.role);
    const state = [ROLE_LABEL[m.role] || m.role];
    if (onStage) state.push(m.muted ? 'muted' : 'mic on');
    if (m.hand) state.push('hand raised');
    if (m.invited) state.push('invited');
    const label = `${name}${isMe ? ' (you)' : ''}, ${state.join(', ')}`;
    const menuItems = this.menuFor(m);
    const face = h('span', { class: 'face' },
      avatar(u, size),
      onStage && m.muted ? h('span', { class: 'mute-badge', title: 'Muted' }, mutedIcon()) : null,
      m.hand ? h('span', { class: 'hand-badge', title: 'Hand raised' }, '✋') : null);
    const who = h(
      'button',
      {
        type: 'button',
        class: 'who',
        'data-key': `who-${uid}`,
        'aria-label': label,
        'aria-haspopup': menuItems.length ? 'menu' : false,
        'aria-expanded': menuItems.length ? String(this.openMenu === uid) : false,
        onclick: (ev) => {
          ev.stopPropagation();
          this.openMenu = this.openMenu === uid ? null : uid;
          this.paintPeople();
          if (this.openMenu === uid) {
            const first = document.querySelector(`#menu-${uid} button`);
            if (first) first.focus();
          }
        },
      },
      face,
      h('span', { class: 'name' }, isMe ? `${name} (you)` : name),
      h('span', { class: 'role' }, ROLE_LABEL[m.role] || m.role),
    );
    const li = h('li', { class: 'member', dataset: { userId: String(uid), role: m.role, muted: String(m.muted), hand: String(m.hand) } }, who);
    if (this.openMenu === uid && menuItems.length) {
      const menu = h('ul', { class: 'menu', role: 'menu', id: `menu-${uid}`, 'aria-label': `Actions for ${name}` });
      for (const item of menuItems) {
        menu.append(h('li', { role: 'none' }, h('button', {
          type: 'button',
          role: 'menuitem',
          class: item.danger ? 'danger' : '',
          'data-key': `menu-${uid}-${item.key}`,
          onclick: (ev) => {
            ev.stopPropagation();
            this.openMenu = null;
            this.paintPeople();
            item.run();
          },
        }, item.label)));
      }
      menu.addEventListener('keydown', (ev) => {
        const items = [...menu.querySelectorAll('button')];
        const i = items.indexOf(document.activeElement);
        if (ev.key === 'ArrowDown') {
          ev.preventDefault();
          items[(i + 1) % items.length].focus();
        } else if (ev.key === 'ArrowUp') {
          ev.preventDefault();
          items[(i - 1 + items.length) % items.length].focus();
        }
      });
      li.append(menu);
    }
    return li;
  }

  menuFor(m) {
    const uid = Number(m.user.id);
    const name = displayName(m.user);
    const items = [];
    const isMe = uid === this.myId;
    // A new tab, so that looking someone up does not leave the space.
    items.push({ key: 'profile', label: 'View profile (new tab)', run: () => window.open(`#/u/${encodeURIComponent(m.user.handle)}`, '_blank', 'noopener') });
    if (this.over || !this.joined) return items;
    if (isMe) {
      if (m.role === 'speaker' || m.role === 'cohost') {
        items.push({ key: 'stepdown', label: 'Move myself to listeners', run: () => this.run(() => S.stepDown(this.id), 'You moved to the listeners') });
      }
      return items;
    }
    items.push({ key: 'report', label: 'Report', run: () => this.report(m) });
    if (!this.isMod || m.role === 'host') return items;
    const myRole = this.myRole;
    if (m.role === 'listener' && !m.invited) {
      items.push({ key: 'invite', label: 'Invite to speak', run: () => this.run(() => S.invite(this.id, uid, 'speaker'), `Invited ${name} to speak`) });
    }
    if (myRole === 'host' && m.role !== 'cohost' && !m.invited) {
      items.push({ key: 'cohost', label: 'Make co-host', run: () => this.run(() => S.invite(this.id, uid, 'cohost'), `Invited ${name} to co-host`) });
    }
    if (STAGE.has(m.role) && !m.muted) {
      items.push({ key: 'mute', label: 'Mute', run: () => this.run(() => S.setMute(this.id, uid, true), `${name} muted`) });
    }
    if (m.role === 'cohost' && myRole === 'host') {
      items.push({ key: 'host', label: 'Make host', run: () => {
        if (confirm(`Hand the host role to ${name}? You become a co-host.`)) this.run(() => S.transferHost(this.id, uid), `${name} is now the host`);
      } });
      items.push({ key: 'speaker', label: 'Make speaker', run: () => this.run(() => S.setRole(this.id, uid, 'speaker'), `${name} is now a speaker`) });
    }
    if (m.role === 'speaker' || (m.role === 'cohost' && myRole === 'host')) {
      items.push({ key: 'demote', label: 'Move to listeners', run: () => this.run(() => S.setRole(this.id, uid, 'listener'), `${name} moved to the listeners`) });
    }
    if (m.role !== 'cohost' || myRole === 'host') {
      items.push({ key: 'remove', label: 'Remove from space', danger: true, run: () => {
        if (confirm(`Remove ${name} from this space? They cannot come back.`)) this.run(() => S.remove(this.id, uid), `${name} was removed`);
      } });
      items.push({ key: 'block', label: 'Block', danger: true, run: () => {
        if (confirm(`Block @${m.user.handle}? They are removed and cannot follow you or join your spaces.`)) {
          this.run(() => S.block(this.id, uid), `${name} was removed and blocked`);
        }
      } });
    }
    return items;
  }

  paintControls() {
    const box = this.el.controls;
    const focusKey = box.contains(document.activeElement) ? document.activeElement.dataset.key : null;
    clear(box);
    const show = this.joined && !this.over && this.space.state === 'live';
    box.hidden = !show;
    if (!show) return;
    const me = this.members.get(this.myId);
    if (me && STAGE.has(me.role)) {
      const on = !me.muted;
      box.append(h('button', {
        type: 'button',
        class: `btn ${on ? 'mic-on' : ''}`,
        'data-key': 'mic',
        'aria-pressed': String(on),
        disabled: this.micBusy,
        onclick: () => this.toggleMic(),
      }, h('span', { 'aria-hidden': 'true' }, on ? '🎙️ ' : '🔇 '), on ? 'Mute' : 'Unmute'));
    } else if (me && this.space.speaker_policy === 'invited' && !me.hand) {
      box.append(h('p', { class: 'muted small policy-note' }, 'The hosts invite the speakers in this space.'));
    } else if (me) {
      box.append(h('button', {
        type: 'button',
        class: 'btn',
        'data-key': 'hand',
        'aria-pressed': String(me.hand),
        onclick: () => this.run(async () => {
          if (me.hand) await S.lowerHand(this.id);
          else await S.raiseHand(this.id);
        }, me.hand ? 'Hand lowered' : 'Hand raised: the hosts can see your request'),
      }, h('span', { 'aria-hidden': 'true' }, '✋ '), me.hand ? 'Lower hand' : 'Request to speak'));
    }
    const reactions = h('div', { class: 'reactions-bar', role: 'group', 'aria-label': 'Reactions' });
    for (const emoji of S.REACTIONS.slice(0, 5)) {
      reactions.append(h('button', { type: 'button', class: 'btn btn-ghost btn-small reaction-btn', 'data-key': `react-${emoji}`, 'aria-label': `React ${emoji}`, onclick: () => this.run(() => S.react(this.id, emoji)) }, emoji));
    }
    box.append(h('button', { type: 'button', class: 'btn', 'data-key': 'leave', onclick: () => this.leave() }, 'Leave'));
    if (this.myRole === 'host') {
      box.append(h('button', { type: 'button', class: 'btn btn-danger', 'data-key': 'end', onclick: () => this.end() }, 'End space'));
    }
    box.append(reactions);
    if (this.micMessage) box.append(h('p', { class: 'mic-msg', role: 'alert' }, this.micMessage));
    if (focusKey) {
      const again = box.querySelector(`[data-key="${CSS.escape(focusKey)}"]`);
      if (again) again.focus();
    }
  }

  paintAudioStatus(detail) {
    const el = this.el.conn;
    const texts = {
      connecting: 'Connecting audio…',
      reconnecting: 'Audio interrupted. Reconnecting…',
      interrupted: 'Audio interrupted. Reconnecting…',
      failed: 'Audio connection failed. Retrying…',
      refused: `Audio unavailable: ${detail.error ? errorMessage(detail.error) : 'refused by the server'}`,
      connected: 'Audio connected.',
      hls: "You are listening with a few seconds' delay.",
      closed: '',
    };
    el.textContent = texts[detail.state] ?? '';
    el.dataset.audio = detail.state;
  }

  paintConnection(state) {
    this.el.conn.dataset.socket = state;
  }
}

function mutedIcon() {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', '14');
  svg.setAttribute('height', '14');
  svg.setAttribute('aria-hidden', 'true');
  const p = document.createElementNS(ns, 'path');
  p.setAttribute('fill', 'currentColor');
  p.setAttribute('d', 'M19 11a7 7 0 0 1-1.2 3.9l-1.5-1.5c.4-.7.7-1.5.7-2.4h2zM15 11V5a3 3 0 0 0-5.9-.8L15 10.1V11zM4.3 3 3 4.3l6 6V11a3 3 0 0 0 4.6 2.5l1.6 1.6A5 5 0 0 1 7 11H5a7 7 0 0 0 6 6.9V21h2v-3.1a7 7 0 0 0 3.7-1.5l3 3 1.3-1.3z');
  svg.append(p);
  return svg;
}
