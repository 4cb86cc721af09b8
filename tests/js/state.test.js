// The room's pure state (src/townhall/web/js/views/room/state.js): snapshots and events
// of the server's contract in, new states and effects out. Run by `node --test tests/js`.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  finish,
  fromSnapshot,
  handQueue,
  initial,
  listeners,
  myMember,
  reduce,
  stage,
  withMe,
} from '../../src/townhall/web/js/views/room/state.js';
import { duration } from '../../src/townhall/web/js/views/room/recap.js';

const HOST = { id: 1, handle: 'hana', display_name: 'Hana Host' };
const ANN = { id: 2, handle: 'ann', display_name: 'Ann' };
const BEN = { id: 3, handle: 'ben', display_name: 'Ben' };
const CAT = { id: 4, handle: 'cat', display_name: '' };

function space(extra = {}) {
  return {
    id: 's1', title: 'Coffee', topics: [], visibility: 'public', speaker_policy: 'everyone',
    followers_may_join: false, state: 'live', host: HOST, scheduled_for: null, created_at: null,
    started_at: null, ended_at: null, listener_count: 2, stage_count: 1, speakers: [HOST],
    recording: false, captions: { on: false, language: 'en', clips: true }, ...extra,
  };
}

function snapshot(extra = {}) {
  return {
    space: space(),
    stage: [{ user: HOST, role: 'host', muted: false, actions: ['mute', 'step_down'] }],
    listeners: [{ ...ANN, actions: ['invite_speaker', 'remove'] }, { ...BEN, actions: ['approve_hand'] }],
    listener_count: 2,
    hand_queue: [{ user: BEN, raised_at: 1764583200.5, actions: ['approve_hand', 'decline_hand'] }],
    hand_count: 1,
    invitations: [],
    stage_locked: false,
    reactions: ['👏'],
    me: { role: 'host', muted: false, hand_raised: false, invited_as: null, actions: ['mute'] },
    ...extra,
  };
}

const ev = (type, data, seq = 1) => ({ type, space_id: 's1', seq, data });
const hostState = () => fromSnapshot(snapshot(), HOST.id);
const kinds = (state) => state.effects.map((e) => e.kind);
const told = (state) => kinds(state).filter((k) => k !== 'stale');
const said = (state) => state.effects.filter((e) => e.kind === 'announce').map((e) => e.text);

test('a snapshot gives the stage, the listeners, the hand queue and my place', () => {
  const s = hostState();
  assert.deepEqual(stage(s).map((m) => m.user.handle), ['hana']);
  assert.deepEqual(listeners(s).map((m) => m.user.handle), ['ann', 'ben']);
  assert.deepEqual(handQueue(s).map((m) => m.user.handle), ['ben']);
  assert.equal(s.handCount, 1);
  assert.equal(s.listenerCount, 2);
  assert.equal(myMember(s).role, 'host');
  assert.equal(myMember(s).muted, false);
  assert.equal(s.synced, true);
  assert.equal(s.over, null);
  // What I may do to each person is the server's word, kept apart from the user.
  assert.deepEqual(s.members[ANN.id].actions, ['invite_speaker', 'remove']);
  assert.equal(s.members[ANN.id].user.actions, undefined);
  assert.deepEqual(s.members[BEN.id].actions, ['approve_hand', 'decline_hand']);
  assert.deepEqual(s.members[HOST.id].actions, ['mute']); // `me` wins for myself
});

test('moderators learn the pending invitations from the snapshot', () => {
  const s = fromSnapshot(snapshot({ invitations: [{ user: ANN, role: 'cohost' }] }), HOST.id);
  assert.equal(s.members[ANN.id].invited, 'cohost');
});

test('a stage event makes the actions it concerns unknown, and asks moderators for new ones', () => {
  const s = reduce(hostState(), ev('invite.sent', { user_id: ANN.id, role: 'speaker', by: HOST.id }));
  assert.equal(s.members[ANN.id].actions, null);
  assert.deepEqual(s.members[BEN.id].actions, ['approve_hand', 'decline_hand']);
  assert.ok(kinds(s).includes('stale'));
  // A listener's actions on others do not change with others' events: no snapshot asked.
  const listener = fromSnapshot(snapshot({ hand_queue: null, me: { role: 'listener', muted: true, hand_raised: false, invited_as: null, actions: [] } }), ANN.id);
  assert.ok(!kinds(reduce(listener, ev('mute.changed', { user_id: HOST.id, muted: true, by: HOST.id }))).includes('stale'));
  // ... but their own change does.
  assert.ok(kinds(reduce(listener, ev('invite.sent', { user_id: ANN.id, role: 'speaker', by: HOST.id }))).includes('stale'));
  // Someone new: a moderator does not know yet what it may do to them.
  const joined = reduce(hostState(), ev('member.joined', { user: CAT, role: 'listener' }));
  assert.equal(joined.members[CAT.id].actions, null);
  assert.deepEqual(reduce(listener, ev('member.joined', { user: CAT, role: 'listener' })).members[CAT.id].actions, []);
});

test('a listener is not told the queue, but knows its own raised hand', () => {
  const s = fromSnapshot(snapshot({
    hand_queue: null,
    me: { role: 'listener', muted: true, hand_raised: true, invited_as: 'speaker', actions: ['lower_hand'] },
  }), BEN.id);
  assert.deepEqual(handQueue(s), []);
  assert.equal(myMember(s).hand, true);
  assert.equal(myMember(s).invited, 'speaker');
});

test('withMe adds my own place when the snapshot did not list me', () => {
  const unlisted = { id: 99, handle: 'zed', display_name: 'Zed' };
  const place = { role: 'listener', muted: true, hand_raised: false, invited_as: null, actions: [] };
  const s = withMe(fromSnapshot(snapshot({ me: place }), 99), unlisted, place);
  assert.equal(myMember(s).user.handle, 'zed');
});

test('the stage is ordered host, co-hosts, speakers, then by name', () => {
  let s = hostState();
  s = reduce(s, ev('member.joined', { user: CAT, role: 'speaker' }));
  s = reduce(s, ev('role.changed', { user_id: BEN.id, role: 'speaker', by: HOST.id }));
  s = reduce(s, ev('role.changed', { user_id: ANN.id, role: 'cohost', by: HOST.id }));
  assert.deepEqual(stage(s).map((m) => m.user.id), [HOST.id, ANN.id, BEN.id, CAT.id]);
});

test('events set, never toggle: a replayed event changes nothing more', () => {
  const events = [
    ev('hand.raised', { user_id: ANN.id }),
    ev('invite.sent', { user_id: BEN.id, role: 'speaker', by: HOST.id }),
    ev('mute.changed', { user_id: HOST.id, muted: true, by: HOST.id }),
    ev('listeners.count', { count: 5 }),
  ];
  let once = hostState();
  for (const e of events) once = reduce(once, e);
  let twice = once;
  for (const e of events) twice = reduce(twice, e);
  assert.deepEqual({ ...twice, effects: [] }, { ...once, effects: [] });
  assert.deepEqual(handQueue(once).map((m) => m.user.id), [BEN.id, ANN.id]);
  assert.equal(once.handCount, 2);
  assert.equal(once.members[BEN.id].invited, 'speaker');
  assert.equal(once.listenerCount, 5);
});

test('reduce does not mutate the state it is given', () => {
  const s = hostState();
  const copy = structuredClone(s);
  reduce(s, ev('role.changed', { user_id: BEN.id, role: 'speaker', by: HOST.id }));
  reduce(s, ev('member.left', { user_id: ANN.id }));
  reduce(s, ev('levels', { levels: { 1: 0.3 } }));
  assert.deepEqual(s, copy);
});

test('a raised hand is announced to moderators, and approving it leaves the queue', () => {
  let s = reduce(hostState(), ev('hand.raised', { user_id: ANN.id }));
  assert.deepEqual(said(s), ['Ann raised a hand']);
  s = reduce(s, ev('hand.lowered', { user_id: BEN.id, by: HOST.id, declined: false }));
  s = reduce(s, ev('role.changed', { user_id: BEN.id, role: 'speaker', by: HOST.id }));
  assert.deepEqual(handQueue(s).map((m) => m.user.id), [ANN.id]);
  assert.equal(s.handCount, 1);
  assert.deepEqual(said(s), ['Ben is now a speaker']);
  assert.equal(s.members[BEN.id].hand, false);
});

test('a hand raised by someone the page does not list asks moderators to resync', () => {
  const s = reduce(hostState(), ev('hand.raised', { user_id: 77 }));
  assert.ok(kinds(s).includes('resync'));
  const listener = fromSnapshot(snapshot({ hand_queue: null, me: { role: 'listener', muted: true, hand_raised: false, invited_as: null, actions: [] } }), ANN.id);
  assert.deepEqual(kinds(reduce(listener, ev('hand.raised', { user_id: 77 }))), []);
});

test('my own role change is an effect, with a toast when I come on stage', () => {
  const me = fromSnapshot(snapshot({ me: { role: 'listener', muted: true, hand_raised: false, invited_as: null, actions: [] } }), ANN.id);
  const up = reduce(me, ev('role.changed', { user_id: ANN.id, role: 'speaker', by: HOST.id }));
  assert.deepEqual(said(up), ['You are now a speaker']);
  assert.deepEqual(up.effects.find((e) => e.kind === 'mine'), { kind: 'mine', role: 'speaker', before: 'listener' });
  assert.match(up.effects.find((e) => e.kind === 'toast').text, /Press Unmute/);
  const down = reduce(up, ev('role.changed', { user_id: ANN.id, role: 'listener', by: HOST.id }));
  assert.equal(down.effects.find((e) => e.kind === 'toast').text, 'You were moved to the listeners.');
  assert.equal(myMember(down).muted, true);
});

test('handing over the host role changes the space host', () => {
  let s = reduce(hostState(), ev('role.changed', { user_id: ANN.id, role: 'cohost', by: HOST.id }));
  s = reduce(s, ev('role.changed', { user_id: ANN.id, role: 'host', by: HOST.id }));
  s = reduce(s, ev('role.changed', { user_id: HOST.id, role: 'cohost', by: HOST.id }));
  assert.equal(s.space.host.id, ANN.id);
});

test('a moderator muting me is told; my own mute is not', () => {
  const me = fromSnapshot(snapshot({
    stage: [{ user: HOST, role: 'host', muted: false, actions: [] }, { user: ANN, role: 'speaker', muted: false, actions: ['mute'] }],
    listeners: [{ ...BEN, actions: [] }],
    me: { role: 'speaker', muted: false, hand_raised: false, invited_as: null, actions: ['mute'] },
  }), ANN.id);
  const byHost = reduce(me, ev('mute.changed', { user_id: ANN.id, muted: true, by: HOST.id }));
  assert.deepEqual(told(byHost), ['my-mute', 'toast']);
  const byMe = reduce(me, ev('mute.changed', { user_id: ANN.id, muted: true, by: ANN.id }));
  assert.deepEqual(told(byMe), ['my-mute']);
  const other = reduce(hostState(), ev('mute.changed', { user_id: HOST.id, muted: true, by: HOST.id }));
  assert.equal(other.members[HOST.id].muted, true);
});

test('leaving and removal take people off the page; my removal ends the room for me', () => {
  let s = reduce(hostState(), ev('member.left', { user_id: ANN.id }));
  assert.equal(s.members[ANN.id], undefined);
  s = reduce(s, ev('member.removed', { user_id: BEN.id, by: HOST.id }));
  assert.deepEqual(said(s), ['Ben was removed']);
  assert.deepEqual(handQueue(s), []);
  const ben = fromSnapshot(snapshot({ hand_queue: null, me: { role: 'listener', muted: true, hand_raised: false, invited_as: null, actions: [] } }), BEN.id);
  const gone = reduce(ben, ev('member.removed', { user_id: BEN.id, by: HOST.id }));
  assert.equal(gone.over, 'removed');
  assert.match(gone.overMessage, /removed/);
  // A later snapshot does not undo being told.
  assert.equal(reduce(gone, { type: 'snapshot', space_id: 's1', seq: 9, data: snapshot() }).over, 'removed');
  assert.equal(reduce(ben, { type: 'unsubscribed', space_id: 's1', reason: 'removed' }).over, 'removed');
  assert.equal(reduce(ben, { type: 'error', space_id: 's1', error: { code: 'not_found', message: '' } }).over, 'removed');
});

test('leaving from another tab is an effect', () => {
  const s = reduce(hostState(), ev('member.left', { user_id: HOST.id }));
  assert.deepEqual(kinds(s), ['announce', 'left-elsewhere']);
});

test('the end of a space', () => {
  const ended = reduce(hostState(), ev('space.ended', { reason: 'host_gone' }));
  assert.equal(ended.over, 'ended');
  assert.equal(ended.space.state, 'ended');
  assert.match(ended.overMessage, /the host left/);
  assert.deepEqual(ended.members, {});
  const cancelled = reduce(initial(space({ state: 'scheduled' }), HOST.id), ev('space.ended', { reason: 'cancelled' }));
  assert.equal(cancelled.over, 'cancelled');
  assert.equal(finish(ended, 'removed', 'x').over, 'removed');
  assert.equal(initial(space({ state: 'ended', end_reason: 'host' }), 1).over, 'ended');
});

test('space changes, recording and captions', () => {
  let s = reduce(initial(space({ state: 'scheduled' }), HOST.id), ev('space.started', { space: space({ title: 'Now' }) }));
  assert.equal(s.space.state, 'live');
  assert.deepEqual(said(s), ['The space has started']);
  s = reduce(s, ev('space.updated', { space: space({ title: 'Renamed' }) }));
  assert.equal(s.space.title, 'Renamed');
  s = reduce(s, ev('recording.changed', { on: true }));
  assert.equal(s.space.recording, true);
  assert.deepEqual(kinds(s), ['recording']);
  assert.deepEqual(kinds(reduce(s, ev('recording.changed', { on: true }))), []);
  s = reduce(s, ev('captions.changed', { on: true, language: 'en' }));
  assert.equal(s.space.captions.on, true);
  assert.equal(s.space.captions.paused, false);
  assert.equal(s.space.captions.clips, true);
});

test('a recording or captions change is told once, by the event or a snapshot that came first', () => {
  const s = fromSnapshot(snapshot({ space: space({ recording: true }) }), HOST.id);
  const paused = snapshot({ space: space({ recording: false }) });
  const bySnapshot = reduce(s, { type: 'snapshot', space_id: 's1', seq: 9, data: paused });
  assert.deepEqual(bySnapshot.effects, [{ kind: 'recording', on: false }]);
  assert.deepEqual(kinds(reduce(bySnapshot, ev('recording.changed', { on: false }))), []);
  const captioned = reduce(s, { type: 'snapshot', space_id: 's1', seq: 9, data: snapshot({ space: space({ recording: true, captions: { on: true, language: 'en', clips: true } }) }) });
  assert.deepEqual(kinds(captioned), ['captions']);
  assert.deepEqual(kinds(reduce(s, { type: 'snapshot', space_id: 's1', seq: 9, data: snapshot({ space: space({ recording: true }) }) })), []);
});

test('levels hold until named again; 0 forgets', () => {
  let s = reduce(hostState(), { type: 'levels', space_id: 's1', volatile: true, data: { levels: { 1: 0.2, 2: 0.1 } } });
  s = reduce(s, { type: 'levels', space_id: 's1', volatile: true, data: { levels: { 2: 0 } } });
  assert.deepEqual(s.levels, { 1: 0.2 });
});

test('reactions and captions are effects only', () => {
  const s = hostState();
  assert.deepEqual(reduce(s, ev('reaction', { user_id: ANN.id, emoji: '👏' })).effects, [{ kind: 'reaction', emoji: '👏', userId: ANN.id }]);
  const c = reduce(s, ev('caption', { user_id: HOST.id, text: 'hello', final: true }));
  assert.equal(c.effects[0].user.handle, 'hana');
});

test('durations to the second', () => {
  assert.equal(duration(15.4), '15 s');
  assert.equal(duration(65), '1 min 05 s');
  assert.equal(duration(3725), '1 h 02 min 05 s');
  assert.equal(duration(-1), '0 s');
});

test('unknown messages change nothing', () => {
  const s = hostState();
  const after = reduce(s, { type: 'subscribed', space_id: 's1', seq: 3 });
  assert.deepEqual({ ...after, effects: [] }, { ...s, effects: [] });
});
