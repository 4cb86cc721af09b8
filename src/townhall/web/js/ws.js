// The one WebSocket per page: space events and notifications, with heartbeat, reconnect
// and resume (subscribe again with the last seq seen per space). Protocol: docs/EVENTS.md.

import { Backoff } from './backoff.js';

const PING_EVERY_MS = 15000;
const PONG_TIMEOUT_MS = 8000;

/**
 * The socket URL asking for batched events: several events of a space in one JSON array.
 * @param {string} url
 */
export function withBatches(url) {
  return url + (url.includes('?') ? '&' : '?') + 'batch=1';
}

export class LiveSocket extends EventTarget {
  /**
   * @param {string | null} [url]  null: this page's /api/v1/ws
   * @param {{ random?: () => number }} [options]  the backoff's jitter (tests fix it)
   */
  constructor(url = null, { random = Math.random } = {}) {
    super();
    this.url = url;
    this.backoff = new Backoff({ initialMs: 250, maximumMs: 8000, random });
    this.ws = null;
    this.spaces = new Map(); // space_id -> {handler, lastSeq}
    this.state = 'idle'; // idle | connecting | open | closed
    this.retryTimer = null;
    this.pingTimer = null;
    this.pongTimer = null;
    this.stopped = true;
    this.everOpened = false;
    this.reconnects = 0;
    this.resumes = [];
    this._onOnline = () => {
      if (!this.stopped && this.state !== 'open') this._connectNow();
    };
    this._onOffline = () => {
      if (!this.stopped && this.ws) this.ws.close();
    };
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    window.addEventListener('online', this._onOnline);
    window.addEventListener('offline', this._onOffline);
    this._connectNow();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener('online', this._onOnline);
    window.removeEventListener('offline', this._onOffline);
    clearTimeout(this.retryTimer);
    this._stopHeartbeat();
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onclose = null;
      ws.close(1000);
    }
    this.spaces.clear();
    this._setState('idle');
  }

  /** Watch a space; handler(message) gets snapshot, events, errors for it. */
  subscribe(spaceId, handler) {
    const entry = { handler, lastSeq: null };
    this.spaces.set(spaceId, entry);
    this._send({ op: 'subscribe', space_id: spaceId });
    return () => this.unsubscribe(spaceId, handler);
  }

  unsubscribe(spaceId, handler) {
    const entry = this.spaces.get(spaceId);
    if (!entry || (handler && entry.handler !== handler)) return;
    this.spaces.delete(spaceId);
    this._send({ op: 'unsubscribe', space_id: spaceId });
  }

  /** Forget the resume point of a space: the next (re)subscribe asks for a fresh snapshot. */
  resync(spaceId) {
    const entry = this.spaces.get(spaceId);
    if (!entry) return;
    entry.lastSeq = null;
    this._send({ op: 'subscribe', space_id: spaceId });
  }

  lastSeq(spaceId) {
    const entry = this.spaces.get(spaceId);
    return entry ? entry.lastSeq : null;
  }

  /** Test and debugging hook: drop the connection as a network failure would. */
  simulateDrop() {
    if (this.ws) this.ws.close(4000, 'simulated drop');
  }

  _setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: { state, reconnects: this.reconnects } }));
  }

  _connectNow() {
    clearTimeout(this.retryTimer);
    if (this.ws) {
      const old = this.ws;
      this.ws = null;
      old.onclose = null;
      old.onmessage = null;
      try {
        old.close();
      } catch {
        /* already closed */
      }
    }
    this._setState('connecting');
    let ws;
    try {
      ws = new WebSocket(withBatches(this.url || `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/ws`));
    } catch {
      this._scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.backoff.reset();
      if (this.everOpened) this.reconnects += 1;
      this.everOpened = true;
      this._setState('open');
      for (const [spaceId, entry] of this.spaces) {
        const msg = { op: 'subscribe', space_id: spaceId };
        if (entry.lastSeq !== null) msg.last_seq = entry.lastSeq;
        this._send(msg);
      }
      this._startHeartbeat();
      this.dispatchEvent(new CustomEvent('open', { detail: { reconnect: this.reconnects > 0 } }));
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      // A busy space sends its events in one array frame per wake-up (?batch=1).
      if (Array.isArray(msg)) for (const one of msg) this._onMessage(one);
      else this._onMessage(msg);
    };
    ws.onerror = () => {
      /* onclose follows and handles it */
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this._stopHeartbeat();
      if (ev.code === 4401) {
        this._setState('closed');
        this.dispatchEvent(new CustomEvent('unauthorized'));
        return;
      }
      if (this.stopped) return;
      this._scheduleReconnect();
    };
  }

  /** Failed attempts in a row since the last open (0 once connected). */
  get attempt() {
    return this.backoff.failures;
  }

  _scheduleReconnect() {
    this._setState('closed');
    const delay = this.backoff.next();
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this._connectNow(), delay);
  }

  _startHeartbeat() {
    this._stopHeartbeat();
    this.pingTimer = setInterval(() => this.ping(), PING_EVERY_MS);
  }

  /** Send a ping; no pong in time means the connection is dead: drop it and reconnect. */
  ping() {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    this._send({ op: 'ping' });
    clearTimeout(this.pongTimer);
    const ws = this.ws;
    this.pongTimer = setTimeout(() => {
      if (this.ws === ws) ws.close(4000, 'heartbeat timeout');
    }, PONG_TIMEOUT_MS);
  }

  _stopHeartbeat() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    this.pingTimer = null;
    this.pongTimer = null;
  }

  _send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(msg));
      return true;
    }
    return false;
  }

  _onMessage(msg) {
    if (msg.type === 'pong') {
      clearTimeout(this.pongTimer);
      return;
    }
    if (msg.type === 'notification') {
      this.dispatchEvent(new CustomEvent('notification', { detail: msg.data }));
      return;
    }
    if (msg.type === 'report.filed' || msg.type === 'evidence.ready') {
      // Instance staff only: a report to review, or its evidence now playable (the review
      // queue refreshes).
      this.dispatchEvent(new CustomEvent('report', { detail: msg.data }));
      return;
    }
    if (msg.type === 'error' && !msg.space_id) {
      if (msg.error && msg.error.code === 'lagged') {
        this.dispatchEvent(new CustomEvent('notifications-lagged'));
      }
      return;
    }
    const spaceId = msg.space_id;
    const entry = spaceId ? this.spaces.get(spaceId) : null;
    if (!entry) return;
    if (msg.type === 'subscribed') {
      // How the last (re)subscription caught up: replayed events, or -1 for a snapshot.
      this.resumes.push({ space_id: spaceId, replayed: msg.replayed, seq: msg.seq });
      if (this.resumes.length > 20) this.resumes.shift();
    }
    if (msg.type === 'snapshot') {
      entry.lastSeq = msg.seq;
    } else if (typeof msg.seq === 'number' && msg.type !== 'subscribed' && !msg.volatile) {
      // Volatile events (levels) carry the latest kept seq and never advance it.
      if (entry.lastSeq !== null && msg.seq <= entry.lastSeq) return; // seen already
      entry.lastSeq = msg.seq;
    }
    if (msg.type === 'unsubscribed' && msg.reason) {
      // The server ended this subscription (e.g. removed from the space): do not renew it.
      this.spaces.delete(spaceId);
    }
    try {
      entry.handler(msg);
    } catch (err) {
      console.warn('event handler failed', msg.type, err);
    }
  }
}

export const live = new LiveSocket();
