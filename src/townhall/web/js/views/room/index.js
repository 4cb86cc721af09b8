// @ts-check
// The room: holds its state (state.js), applies the server's messages through `reduce`,
// carries out the effects, calls the API for the person's actions, and paints through
// the render modules (header, stage and listeners, hand queue, controls, panels, recap).
// Audio is the AudioLink's (media.js); captions and recording have their own modules.

import { confirmDialog, promptDialog } from '../../dialog.js';
import { AudioLink, MicError, takePrimed } from '../../media.js';
import { go } from '../../router.js';
import { currentUser } from '../../session.js';
import * as S from '../../spaces.js';
import { announce, clearToasts, errorMessage, h, showError, toast } from '../../ui.js';
import { live } from '../../ws.js';
import { failure, loading, mount } from '../common.js';
import { buildCaptions, loadTranscript, paintCaptions, showCaption } from '../captions.js';
import { shareBox } from '../newspace.js';
import { loadReplay, paintRecording } from '../recording.js';
import { buildControls, firstControl, paintControls } from './controls.js';
import { buildHeader, paintAudioStatus, paintHeader } from './header.js';
import { paintListeners, paintSpeaking, paintStage } from './members.js';
import { paintInvite, paintJoin, paintSchedule, paintTools } from './panels.js';
import { buildQueue, paintQueue, showsQueue } from './queue.js';
import { paintBanner, recapCard } from './recap.js';
import { REMOVED_MESSAGE, finish, fromSnapshot, initial, isHost, moderates, myMember, onStage, reduce, withMe } from './state.js';

/** @typedef {import('./state.js').RoomState} RoomState */
/** @typedef {import('./state.js').Member} Member */
/** @typedef {import('./state.js').Effect} Effect */
/** @typedef {import('./menu.js').MenuAction} MenuAction */

/** @param {{id: string}} params */
export async function roomView(params) {
  mount('Space', loading('Opening the space…'));
  let space;
  try {
    space = await S.getSpace(params.id);
  } catch (err) {
    mount('Space', failure(err, () => roomView(params)));
    return undefined;
  }
  const room = new Room(space);
  room.mount();
  return () => room.destroy();
}

class Room {
  /** @param {import('../../types.js').SpaceView} space */
  constructor(space) {
    this.me = currentUser();
    this.id = String(space.id);
    /** @type {RoomState} */
    this.state = initial(space, this.me ? this.me.id : null);
    this.view = { joined: false, joining: false, micBusy: false, micMessage: '', openMenu: /** @type {number | null} */ (null) };
    this.destroyed = false;
    this.resyncTimer = /** @type {any} */ (null);
    this.audio = /** @type {HTMLAudioElement} */ (h('audio', { autoplay: true, playsinline: true, class: 'sr-only', 'aria-hidden': 'true' }));
    this.link = this.freshLink();
    this.onSocketState = (/** @type {any} */ ev) => { this.el.header.conn.dataset.socket = ev.detail.state; };
    this.onSocketOpen = (/** @type {any} */ ev) => {
      if (ev.detail.reconnect && this.view.joined && !this.state.over && this.link.state !== 'connected') this.link.reconnect();
    };
    this.onOnline = () => {
      if (this.view.joined && !this.state.over && this.link.state !== 'connected') this.link.reconnect();
    };
    this.onPageHide = () => {
      if (this.view.joined && !this.state.over) {
        fetch(`/api/v1/spaces/${encodeURIComponent(this.id)}/leave`, {
          method: 'POST', keepalive: true, credentials: 'same-origin', headers: { 'Content-Type': 'application/json' }, body: '{}',
        }).catch(() => {});
      }
    };
    this.onKey = (/** @type {KeyboardEvent} */ ev) => {
      if (ev.key !== 'Escape' || this.view.openMenu === null || document.querySelector('dialog[open]')) return;
      const id = this.view.openMenu;
      this.closeMenu();
      const who = document.querySelector(`.member[data-user-id="${id}"] .who`);
      if (who) /** @type {HTMLElement} */ (who).focus();
    };
    this.onDocClick = (/** @type {MouseEvent} */ ev) => {
      const target = /** @type {Element} */ (ev.target);
      if (this.view.openMenu !== null && !target.closest('.member') && !target.closest('dialog')) this.closeMenu();
    };
  }

  // -- what the captions and recording modules read ---------------------------

  get space() {
    return this.state.space;
  }

  get isHost() {
    return isHost(this.state);
  }

  /** @param {Partial<import('../../types.js').SpaceView>} fields */
  patchSpace(fields) {
    this.state = { ...this.state, space: { ...this.state.space, ...fields } };
  }

  /** Apply a change the page learnt from its own request, as the event would. @param {string} type @param {any} data */
  dispatch(type, data) {
    this.apply({ type, space_id: this.id, data });
  }

  // -- building -------------------------------------------------------------

  mount() {
    const header = buildHeader();
    const controls = buildControls(S.REACTIONS.slice(0, 5), {
      toggleMic: () => this.toggleMic(),
      toggleHand: () => this.toggleHand(),
      leave: () => this.leave(),
      end: () => this.end(),
      react: (emoji) => this.run(() => S.react(this.id, emoji)),
    });
    const queue = buildQueue();
    this.el = {
      header,
      recording: header.recording,
      controls,
      queue,
      banner: h('div', { class: 'room-banner', hidden: true }),
      recap: h('div', { class: 'recap-box' }),
      schedule: h('div', {}),
      join: h('div', { class: 'card join-panel', hidden: true }),
      invite: h('div', { class: 'card invite-box', role: 'region', 'aria-label': 'Invitation', hidden: true }),
      stage: h('ul', { class: 'stage', 'aria-label': 'Speakers on stage' }),
      stageCount: h('span', { class: 'muted small' }),
      listeners: h('ul', { class: 'listeners-list', 'aria-label': 'Listeners' }),
      listenersTitle: h('h2', { id: 'listeners-title' }, 'Listeners'),
      float: h('div', { class: 'float-layer', 'aria-hidden': 'true' }),
      tools: h('section', { class: 'card', 'aria-labelledby': 'tools-title' }),
      /** @type {HTMLElement | null} */
      transcript: null,
    };
    const e = this.el;
    const captionsCard = buildCaptions(this);
    e.stageCard = h('section', { class: 'card stage-card', 'aria-labelledby': 'stage-title' },
      h('div', { class: 'row' }, h('h2', { id: 'stage-title' }, 'On stage'), e.stageCount), e.stage);
    e.listenersCard = h('section', { class: 'card', 'aria-labelledby': 'listeners-title' }, e.listenersTitle, e.listeners);
    // The hand queue sits under the stage, above the controls and the captions; while hands
    // are up it moves above the stage, so a moderator on a phone sees them without scrolling.
    const main = h('div', { class: 'room-main' },
      header.card, e.banner, e.recap, e.schedule, e.join, e.invite, e.stageCard, queue.section, controls.box, captionsCard);
    const side = h('div', { class: 'room-side' }, e.listenersCard, h('section', { class: 'card' }, shareBox(this.id, this.space.share_url)), e.tools);
    mount(this.space.title, h('div', { class: 'room', dataset: { spaceId: this.id } }, main, side), this.audio, e.float);

    live.addEventListener('state', this.onSocketState);
    live.addEventListener('open', this.onSocketOpen);
    window.addEventListener('online', this.onOnline);
    window.addEventListener('pagehide', this.onPageHide);
    document.addEventListener('keydown', this.onKey);
    document.addEventListener('click', this.onDocClick);
    this.unsubscribe = live.subscribe(this.id, (/** @type {any} */ msg) => this.apply(msg));
    // @ts-ignore: the test hooks (docs/WEB.md)
    window.townhallDebug = Object.assign(window.townhallDebug || {}, { room: this, analyse: (opts) => this.link.analyse(opts) });
    this.paint();
    if (this.state.over === 'ended') this.showEnded();
    // Arrived from the Start click, which unlocked audio: on air at once (Start, then
    // Unmute, is all a host does to be heard).
    const primed = takePrimed(this.id);
    if (primed && this.isHost && this.space.state === 'live') this.join(null, primed);
    else if (primed) primed.close().catch(() => {});
  }

  destroy() {
    this.destroyed = true;
    live.removeEventListener('state', this.onSocketState);
    live.removeEventListener('open', this.onSocketOpen);
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('pagehide', this.onPageHide);
    document.removeEventListener('keydown', this.onKey);
    document.removeEventListener('click', this.onDocClick);
    clearTimeout(this.resyncTimer);
    if (this.unsubscribe) this.unsubscribe();
    if (this.view.joined && !this.state.over) S.leave(this.id).catch(() => {});
    this.link.close();
    clearToasts(); // the space's messages do not follow the person out of it
    // @ts-ignore
    const debug = window.townhallDebug;
    if (debug && debug.room === this) {
      delete debug.room;
      delete debug.analyse;
    }
  }

  freshLink() {
    const link = new AudioLink(this.id, this.audio);
    link.addEventListener('state', (/** @type {any} */ ev) => paintAudioStatus(this.el.header.conn, ev.detail));
    link.addEventListener('mic-ended', () => {
      this.view.micMessage = 'Your microphone stopped. Press Unmute to try again.';
      this.paint();
    });
    const me = this.state && myMember(this.state);
    link.stage = Boolean(me && onStage(me.role));
    return link;
  }

  // -- server messages ------------------------------------------------------

  /** @param {import('../../types.js').SpaceEvent} msg */
  apply(msg) {
    if (this.destroyed) return;
    const before = this.state;
    let next = reduce(before, msg);
    if (msg.type === 'snapshot' && this.me) next = withMe(next, this.me, msg.data.me);
    this.state = next;
    for (const effect of next.effects) this.effect(effect, before);
    if (next.over && !before.over) {
      this.ended();
      return;
    }
    if (msg.type === 'snapshot') this.afterSnapshot();
    if (msg.type === 'levels') {
      paintSpeaking(this.el.stage, this.state);
      return;
    }
    this.paint();
  }

  /** @param {Effect} fx @param {RoomState} before */
  effect(fx, before) {
    switch (fx.kind) {
      case 'announce':
        announce(fx.text);
        break;
      case 'toast':
        toast(fx.text, fx.tone);
        break;
      case 'resync':
      case 'stale':
        this.resyncSoon();
        break;
      case 'reaction':
        this.floatReaction(fx.emoji, fx.userId);
        break;
      case 'moved':
        this.link.moved(fx.userIds, this.state.myId);
        break;
      case 'caption':
        showCaption(this, fx.data, fx.user);
        break;
      case 'recording':
        if (!fx.on && this.recordingTold) announce('Recording paused');
        break;
      case 'captions':
        if (Boolean(fx.before.on) !== Boolean(fx.after.on)) announce(fx.after.on ? 'Captions are on' : 'Captions are off');
        else if (Boolean(fx.before.paused) !== Boolean(fx.after.paused)) announce(fx.after.paused ? 'Captions paused' : 'Captions resumed');
        break;
      case 'my-mute':
        this.link.setMuted(fx.muted);
        break;
      case 'mine':
        this.view.micMessage = '';
        this.link.setStage(onStage(fx.role));
        // Moderators see the hand queue, which the snapshot only gives them: fetch it again.
        if (moderates(fx.role) !== moderates(fx.before)) live.resync(this.id);
        if (!onStage(fx.role)) {
          this.link.setMic(false).catch(() => {});
          this.link.setMuted(true);
        }
        break;
      case 'left-elsewhere':
        if (this.view.joined && !before.over) {
          this.view.joined = false;
          this.link.close();
          this.link = this.freshLink();
        }
        break;
      default:
        break;
    }
  }

  afterSnapshot() {
    const me = myMember(this.state);
    this.link.setStage(Boolean(me && onStage(me.role)));
    if (!this.view.joined) return;
    if (!me) {
      this.rejoin(); // the server no longer counts me in (e.g. presence expired while offline)
      return;
    }
    // After a resync the server's truth wins for my own mic too.
    if (!onStage(me.role)) {
      if (this.link.wantMic) this.link.setMic(false).catch(() => {});
    } else {
      this.link.setMuted(me.muted);
    }
  }

  async rejoin() {
    try {
      await S.join(this.id);
    } catch (err) {
      if (err.code === 'removed_from_space') this.finishHere('removed', REMOVED_MESSAGE);
      else showError(err);
    }
  }

  resyncSoon() {
    if (this.resyncTimer) return;
    this.resyncTimer = setTimeout(() => {
      this.resyncTimer = null;
      if (!this.destroyed) live.resync(this.id);
    }, 300);
  }

  /** @param {'ended' | 'removed' | 'cancelled'} kind @param {string} message */
  finishHere(kind, message) {
    const before = this.state;
    this.state = finish(before, kind, message);
    if (this.state.over && !before.over) this.ended();
  }

  /** The space is over for this page: stop the audio, show the banner (and the recap). */
  ended() {
    this.view.joined = false;
    this.view.openMenu = null;
    this.link.close();
    clearToasts(); // nothing said during the space outlives it
    this.paint();
    if (this.state.over === 'ended') this.showEnded();
  }

  async showEnded() {
    loadReplay(this, S.getSpace).then(() => loadTranscript(this));
    try {
      const s = await S.getSpace(this.id);
      if (this.destroyed || !s.history) return;
      this.el.recap.replaceChildren(recapCard(s.history));
    } catch {
      /* the recap is a nicety */
    }
  }

  /** @param {string} emoji @param {number} userId */
  floatReaction(emoji, userId) {
    const left = 10 + Math.random() * 80;
    const el = h('span', { class: 'floater', style: { left: `${left}%` } }, emoji);
    const layer = this.el.float;
    layer.append(el);
    setTimeout(() => el.remove(), 2700);
    layer.dataset.last = emoji;
    layer.dataset.count = String(Number(layer.dataset.count || 0) + 1);
    const m = this.state.members[userId];
    if (m && userId !== this.state.myId) layer.dataset.from = m.user.handle;
  }

  // -- actions --------------------------------------------------------------

  /**
   * @param {HTMLButtonElement | null} button  the Join button (null: joined for the host)
   * @param {AudioContext | null} [context]  unlocked by the Start click
   */
  async join(button, context = null) {
    if (this.view.joining) return;
    this.view.joining = true;
    if (button) button.disabled = true;
    // In the click handler (or right after the Start click): lets audio play.
    if (this.link.closed) this.link = this.freshLink();
    this.link.unlockAudio(context);
    try {
      const snap = await S.join(this.id);
      this.view.joined = true;
      this.apply({ type: 'snapshot', space_id: this.id, data: snap });
      this.link.connect();
      await this.restoreMic();
      announce('You joined the space');
      this.paint();
      firstControl(this.el.controls)?.focus();
    } catch (err) {
      showError(err);
      if (err.code === 'removed_from_space') this.finishHere('removed', REMOVED_MESSAGE);
    } finally {
      this.view.joining = false;
      if (button && button.isConnected) button.disabled = false;
    }
  }

  /** Back on stage with the mic on (after a reload): take the mic again, or say muted. */
  async restoreMic() {
    const me = myMember(this.state);
    if (!me || !onStage(me.role) || me.muted) return;
    try {
      await this.link.setMic(true);
      this.link.setMuted(false);
    } catch (err) {
      this.view.micMessage = err instanceof MicError ? err.message : errorMessage(err);
      this.link.setMuted(true);
      await S.setMute(this.id, null, true).catch(() => {});
      this.dispatch('mute.changed', { user_id: me.user.id, muted: true, by: me.user.id });
    }
  }

  async leave() {
    try {
      await S.leave(this.id);
    } catch (err) {
      if (err.status !== 409) showError(err);
    }
    this.view.joined = false;
    this.link.close();
    go('/');
  }

  async end() {
    const yes = await confirmDialog({ title: 'End this space?', message: 'Everyone leaves, and the space is over for good.', confirm: 'End space', danger: true });
    if (!yes) return;
    try {
      await S.end(this.id);
    } catch (err) {
      showError(err);
    }
  }

  toggleHand() {
    const me = myMember(this.state);
    if (!me) return;
    const up = me.hand;
    this.run(() => (up ? S.lowerHand(this.id) : S.raiseHand(this.id)), up ? 'Hand lowered' : 'Hand raised: the hosts can see your request');
  }

  async toggleMic() {
    const me = myMember(this.state);
    if (this.view.micBusy || !me || !onStage(me.role)) return;
    this.view.micBusy = true;
    this.view.micMessage = '';
    this.paint();
    const id = me.user.id;
    try {
      if (me.muted) {
        await this.link.setMic(true); // asks for permission the first time
        this.link.setMuted(false);
        await S.setMute(this.id, null, false);
        this.dispatch('mute.changed', { user_id: id, muted: false, by: id });
        announce('Your microphone is on');
      } else {
        this.link.setMuted(true);
        await S.setMute(this.id, null, true);
        this.dispatch('mute.changed', { user_id: id, muted: true, by: id });
        announce('Your microphone is off');
      }
    } catch (err) {
      if (err instanceof MicError) {
        this.view.micMessage = err.message;
      } else {
        showError(err);
      }
      this.link.setMuted(true);
    } finally {
      this.view.micBusy = false;
      this.paint();
      this.el.controls.mic.focus();
    }
  }

  /** @param {Member | null} m  a person, or null for the space */
  async report(m) {
    const who = m ? m.user.display_name || m.user.handle : 'this space';
    const reason = await promptDialog({ title: `Report ${who}`, message: 'The instance’s moderators read every report.', label: 'Why are you reporting?', confirm: 'Send report' });
    if (!reason) return;
    this.run(async () => {
      await S.report(this.id, reason, m ? m.user.id : null);
      toast('Thank you. The report was sent.', 'success');
    });
  }

  /** A menu action (the server offered it): confirm when it needs to, then do it. @param {MenuAction} action @param {Member} m */
  async act(action, m) {
    const name = m.user.display_name || m.user.handle;
    if (action.confirm) {
      const yes = await confirmDialog({ title: action.label, message: action.confirm(name, m), confirm: action.confirmLabel || action.label, danger: Boolean(action.danger) });
      if (!yes) return;
    }
    this.run(() => action.call(this.id, m), action.done(name));
  }

  /** @param {() => Promise<unknown>} fn @param {string} [done] */
  async run(fn, done) {
    try {
      await fn();
      if (done) announce(done);
    } catch (err) {
      showError(err);
    }
  }

  /** @param {number} id */
  toggleMenu(id) {
    this.view.openMenu = this.view.openMenu === id ? null : id;
    this.paint();
    if (this.view.openMenu === id) {
      const first = document.querySelector(`#menu-${id} button`);
      if (first) /** @type {HTMLElement} */ (first).focus();
    }
  }

  closeMenu() {
    this.view.openMenu = null;
    this.paint();
  }

  // -- painting -----------------------------------------------------------------

  paint() {
    const e = this.el;
    const state = this.state;
    const view = this.view;
    const hadFocus = document.activeElement && document.activeElement !== document.body;
    const people = {
      toggleMenu: (/** @type {number} */ id) => this.toggleMenu(id),
      closeMenu: () => this.closeMenu(),
      act: (/** @type {MenuAction} */ a, /** @type {Member} */ m) => this.act(a, m),
      report: (/** @type {Member} */ m) => this.report(m),
    };
    paintHeader(e.header, state, showsQueue(state, view));
    paintBanner(e.banner, state);
    paintRecording(this);
    paintCaptions(this);
    paintTools(e.tools, state, {
      edit: async (body) => {
        const out = await S.editSpace(this.id, body);
        this.patchSpace(out);
        this.paint();
        toast('Space updated', 'success');
      },
      addGuests: async (ids) => {
        await S.addGuests(this.id, ids);
        toast('Guests added', 'success');
      },
      report: () => this.report(null),
    });
    paintSchedule(e.schedule, state, {
      start: () => this.run(async () => {
        this.link.unlockAudio(); // this click is the host's way on air
        const out = await S.start(this.id);
        this.patchSpace(out);
        this.paint();
        this.join(null);
      }),
      cancel: async () => {
        if (!(await confirmDialog({ title: 'Cancel this space?', message: 'People who set a reminder are not called.', confirm: 'Cancel space', danger: true }))) return;
        this.run(async () => {
          await S.cancel(this.id);
          this.finishHere('cancelled', 'This space was cancelled.');
        });
      },
      remind: async (on) => {
        try {
          if (on) await S.remind(this.id);
          else await S.unremind(this.id);
          this.patchSpace({ reminder_set: on });
          announce(on ? 'We will notify you when it starts' : 'Reminder removed');
          return true;
        } catch (err) {
          showError(err);
          return false;
        }
      },
    });
    paintJoin(e.join, state, view, (button) => this.join(button));
    paintInvite(e.invite, state, view, {
      accept: () => this.run(() => S.acceptInvite(this.id), 'Invitation accepted'),
      decline: () => this.run(() => S.declineInvite(this.id), 'Invitation declined'),
    });
    // An ended space shows its recap, not an empty stage and audience.
    e.stageCard.hidden = Boolean(state.over);
    e.listenersCard.hidden = Boolean(state.over);
    paintStage(e, state, view, people);
    paintListeners(e, state, view, people);
    const queue = e.queue;
    paintQueue(queue, state, view, {
      approve: (m) => this.run(() => S.approveHand(this.id, m.user.id), `${m.user.display_name || m.user.handle} is invited on stage`),
      decline: (m) => this.run(() => S.declineHand(this.id, m.user.id), `Declined ${m.user.display_name || m.user.handle}`),
    });
    const waiting = !queue.section.hidden && queue.list.querySelector(':scope > [data-key]') !== null;
    const before = waiting ? e.stageCard : e.stageCard.nextSibling;
    if (queue.section.nextSibling !== before && queue.section !== before) e.stageCard.parentNode.insertBefore(queue.section, before);
    paintControls(e.controls, state, view);
    // The focused element went away (an answered hand, a closed menu): keep the keyboard
    // in the room's controls rather than lost at the top of the page.
    if (hadFocus && document.activeElement === document.body && !e.controls.box.hidden) firstControl(e.controls)?.focus();
  }
}
