// The WebSocket's resume logic (src/townhall/web/js/ws.js) against a fake socket: it
// resubscribes with the last seq it saw after a reconnect, drops events it has seen,
// lets volatile events pass without moving the seq, and backs off between attempts.

import assert from 'node:assert/strict';
import { beforeEach, mock, test } from 'node:test';

class FakeSocket {
  static OPEN = 1;
  static all = [];
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    FakeSocket.all.push(this);
  }
  send(text) {
    this.sent.push(JSON.parse(text));
  }
  close(code = 1000) {
    this.readyState = 3;
    if (this.onclose) this.onclose({ code });
  }
  open() {
    this.readyState = FakeSocket.OPEN;
    this.onopen();
  }
  receive(msg) {
    this.onmessage({ data: JSON.stringify(msg) });
  }
}

globalThis.WebSocket = FakeSocket;
globalThis.window = new EventTarget();
const { LiveSocket } = await import('../../src/townhall/web/js/ws.js');

const last = () => FakeSocket.all[FakeSocket.all.length - 1];

beforeEach(() => {
  FakeSocket.all = [];
  mock.timers.reset();
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
});

function connected() {
  // The backoff's jitter pinned to its top: each delay is its ceiling.
  const live = new LiveSocket('ws://test/api/v1/ws', { random: () => 1 });
  live.start();
  last().open();
  return live;
}

test('subscribing sends a subscribe; a snapshot sets the resume point', () => {
  const live = connected();
  const got = [];
  live.subscribe('s1', (m) => got.push(m.type));
  assert.deepEqual(last().sent, [{ op: 'subscribe', space_id: 's1' }]);
  last().receive({ type: 'snapshot', space_id: 's1', seq: 7, data: {} });
  assert.equal(live.lastSeq('s1'), 7);
  assert.deepEqual(got, ['snapshot']);
  live.stop();
});

test('after a drop it resubscribes with the last seq seen and records how it caught up', () => {
  const live = connected();
  live.subscribe('s1', () => {});
  last().receive({ type: 'snapshot', space_id: 's1', seq: 3, data: {} });
  last().receive({ type: 'hand.raised', space_id: 's1', seq: 4, data: { user_id: 2 } });
  const states = [];
  live.addEventListener('state', (e) => states.push(e.detail.state));
  last().close(1006);
  assert.equal(live.state, 'closed');
  mock.timers.tick(250); // the first backoff step
  assert.equal(FakeSocket.all.length, 2);
  last().open();
  assert.deepEqual(last().sent, [{ op: 'subscribe', space_id: 's1', last_seq: 4 }]);
  last().receive({ type: 'subscribed', space_id: 's1', seq: 4, replayed: 0 });
  assert.deepEqual(live.resumes.at(-1), { space_id: 's1', replayed: 0, seq: 4 });
  assert.deepEqual(states, ['closed', 'connecting', 'open']);
  assert.equal(live.reconnects, 1);
  live.stop();
});

test('events already seen are dropped; volatile ones pass without moving the seq', () => {
  const live = connected();
  const got = [];
  live.subscribe('s1', (m) => got.push(`${m.type}@${m.seq}`));
  last().receive({ type: 'snapshot', space_id: 's1', seq: 5, data: {} });
  last().receive({ type: 'hand.raised', space_id: 's1', seq: 5, data: {} }); // in the snapshot
  last().receive({ type: 'hand.raised', space_id: 's1', seq: 6, data: {} });
  last().receive({ type: 'levels', space_id: 's1', seq: 6, volatile: true, data: {} });
  last().receive({ type: 'hand.lowered', space_id: 's1', seq: 6, data: {} }); // replay of 6
  assert.deepEqual(got, ['snapshot@5', 'hand.raised@6', 'levels@6']);
  assert.equal(live.lastSeq('s1'), 6);
  live.stop();
});

test('resync forgets the resume point and asks for a fresh snapshot', () => {
  const live = connected();
  live.subscribe('s1', () => {});
  last().receive({ type: 'snapshot', space_id: 's1', seq: 5, data: {} });
  live.resync('s1');
  assert.equal(live.lastSeq('s1'), null);
  assert.deepEqual(last().sent.at(-1), { op: 'subscribe', space_id: 's1' });
  last().close(1006);
  mock.timers.tick(250);
  last().open();
  assert.deepEqual(last().sent, [{ op: 'subscribe', space_id: 's1' }]);
  live.stop();
});

test('the server ending a subscription is not renewed', () => {
  const live = connected();
  const got = [];
  live.subscribe('s1', (m) => got.push(m.type));
  last().receive({ type: 'unsubscribed', space_id: 's1', reason: 'removed' });
  assert.deepEqual(got, ['unsubscribed']);
  last().close(1006);
  mock.timers.tick(250);
  last().open();
  assert.deepEqual(last().sent, []);
  live.stop();
});

test('backoff doubles up to 8 s; the browser coming online reconnects at once', () => {
  const live = connected();
  const delays = [250, 500, 1000, 2000, 4000, 8000, 8000];
  for (const delay of delays) {
    const before = FakeSocket.all.length;
    last().close(1006);
    mock.timers.tick(delay - 1);
    assert.equal(FakeSocket.all.length, before, `no attempt before ${delay} ms`);
    mock.timers.tick(1);
    assert.equal(FakeSocket.all.length, before + 1, `an attempt after ${delay} ms`);
  }
  last().close(1006);
  const before = FakeSocket.all.length;
  window.dispatchEvent(new Event('online'));
  assert.equal(FakeSocket.all.length, before + 1);
  last().open();
  assert.equal(live.attempt, 0);
  live.stop();
});

test('no pong within 8 s drops the connection and reconnects', () => {
  const live = connected();
  mock.timers.tick(15000); // the ping
  assert.deepEqual(last().sent.at(-1), { op: 'ping' });
  const before = FakeSocket.all.length;
  mock.timers.tick(8000);
  assert.equal(live.state, 'closed');
  mock.timers.tick(250);
  assert.equal(FakeSocket.all.length, before + 1);
  live.stop();
});

test('a pong in time keeps the connection', () => {
  const live = connected();
  mock.timers.tick(15000);
  last().receive({ type: 'pong' });
  mock.timers.tick(8000);
  assert.equal(live.state, 'open');
  live.stop();
});

test('a 4401 close (signed out) does not reconnect', () => {
  const live = connected();
  let told = false;
  live.addEventListener('unauthorized', () => { told = true; });
  last().close(4401);
  mock.timers.tick(10000);
  assert.equal(FakeSocket.all.length, 1);
  assert.ok(told);
  live.stop();
});

test('asks for batches; an array frame is handled event by event, seen ones dropped', () => {
  const live = connected();
  assert.equal(last().url, 'ws://test/api/v1/ws?batch=1');
  const got = [];
  live.subscribe('s1', (m) => got.push(`${m.type}:${m.seq}`));
  last().receive({ type: 'snapshot', space_id: 's1', seq: 5, data: {} });
  last().receive([
    { type: 'member.joined', space_id: 's1', seq: 5, data: {} }, // in the snapshot
    { type: 'member.joined', space_id: 's1', seq: 6, data: {} },
    { type: 'listeners.count', space_id: 's1', seq: 7, data: {} },
  ]);
  assert.deepEqual(got, ['snapshot:5', 'member.joined:6', 'listeners.count:7']);
  assert.equal(live.lastSeq('s1'), 7);
  live.stop();
});
