// @ts-check
// The room's state, pure: `fromSnapshot(snapshot, myId)` and `reduce(state, message)`
// return new states (nothing is mutated, no DOM, no network), written against the
// server's contract (../../types.js) with no guessed field names. What a step asks the
// page to do besides painting (announce, toast, resync, float a reaction, ...) is listed
// in the new state's `effects`, which the room carries out.

/** @typedef {import('../../types.js').Role} Role */
/** @typedef {import('../../types.js').UserBrief} UserBrief */
/** @typedef {import('../../types.js').SpaceView} SpaceView */
/** @typedef {import('../../types.js').Snapshot} Snapshot */
/** @typedef {import('../../types.js').SpaceEvent} SpaceEvent */

/**
 * @typedef {object} Member
 * @property {UserBrief} user
 * @property {Role} role
 * @property {boolean} muted
 * @property {boolean} hand
 * @property {Role | null} invited  the role they are invited to, if any
 * @property {string[] | null} actions  what I may do to them, as the server said (null:
 *   not known since a change; a fresh snapshot tells)
 *
 * @typedef {{kind: 'announce', text: string}
 *   | {kind: 'toast', text: string, tone: 'info' | 'success'}
 *   | {kind: 'resync'}  the page misses someone: ask for a snapshot
 *   | {kind: 'stale'}  what I may do to people changed: ask for a snapshot soon
 *   | {kind: 'reaction', emoji: string, userId: number}
 *   | {kind: 'moved', userIds: number[]}  a media worker was lost: these offer again
 *   | {kind: 'caption', data: any, user: UserBrief | null}
 *   | {kind: 'mine', role: Role, before: Role | null}
 *   | {kind: 'my-mute', muted: boolean}
 *   | {kind: 'left-elsewhere'}
 *   | {kind: 'recording', on: boolean}
 *   | {kind: 'captions', before: any, after: any}} Effect
 *
 * @typedef {'ended' | 'removed' | 'cancelled' | null} Over
 *
 * @typedef {object} RoomState
 * @property {SpaceView} space
 * @property {number | null} myId
 * @property {Record<number, Member>} members  by user id
 * @property {number[]} hands  raised hands in the order raised (who is not on stage)
 * @property {number} handCount  raised hands in the room (the server's count)
 * @property {number} listenerCount
 * @property {boolean} stageLocked
 * @property {Record<number, number>} levels  last reported speaking level per user
 * @property {Over} over
 * @property {string} overMessage
 * @property {boolean} synced  a snapshot has arrived
 * @property {import('../../types.js').MyPlace | null} me  my place, as the last snapshot said
 * @property {Effect[]} effects  what the last step asks the page to do
 */

export const STAGE_ROLES = new Set(['host', 'cohost', 'speaker']);
export const MODERATOR_ROLES = new Set(['host', 'cohost']);
export const REMOVED_MESSAGE = 'You were removed from this space by a moderator.';

/** @param {Role | null | undefined} role */
export const onStage = (role) => Boolean(role && STAGE_ROLES.has(role));
/** @param {Role | null | undefined} role */
export const moderates = (role) => Boolean(role && MODERATOR_ROLES.has(role));

/** @param {UserBrief} user */
const nameOf = (user) => user.display_name || user.handle;

/**
 * A state before any snapshot: the space as GET /spaces/{id} gave it.
 * @param {SpaceView} space
 * @param {number | null} myId
 * @returns {RoomState}
 */
export function initial(space, myId) {
  return {
    space,
    myId,
    members: {},
    hands: [],
    handCount: 0,
    listenerCount: space.listener_count,
    stageLocked: false,
    levels: {},
    over: overOf(space),
    overMessage: overMessageOf(space),
    synced: false,
    me: null,
    effects: [],
  };
}

/** @param {SpaceView} space @returns {Over} */
function overOf(space) {
  if (space.state === 'ended') return 'ended';
  if (space.state === 'cancelled') return 'cancelled';
  return null;
}

/** @param {SpaceView} space */
function overMessageOf(space) {
  if (space.state === 'cancelled') return 'This space was cancelled.';
  if (space.state !== 'ended') return '';
  return space.end_reason === 'host_gone' ? 'This space has ended: the host left.' : 'This space has ended.';
}

/**
 * @param {UserBrief} user
 * @param {Role} role
 * @param {Partial<Member>} [more]
 * @returns {Member}
 */
function member(user, role, more = {}) {
  return { user, role, muted: true, hand: false, invited: null, actions: null, ...more };
}

/**
 * The whole picture from a snapshot (the WebSocket's, or the answer of POST join).
 * @param {Snapshot} snap
 * @param {number | null} myId
 * @param {RoomState} [before]  the state it replaces (keeps a removal already told)
 * @returns {RoomState}
 */
export function fromSnapshot(snap, myId, before) {
  /** @type {Record<number, Member>} */
  const members = {};
  for (const { actions, ...user } of snap.listeners) members[user.id] = member(user, 'listener', { actions });
  for (const s of snap.stage) members[s.user.id] = member(s.user, s.role, { muted: s.muted, actions: s.actions });
  const hands = [];
  for (const q of snap.hand_queue ?? []) {
    const known = members[q.user.id];
    members[q.user.id] = { ...(known ?? member(q.user, 'listener')), hand: true, actions: q.actions };
    hands.push(q.user.id);
  }
  for (const inv of snap.invitations ?? []) {
    const known = members[inv.user.id];
    if (known) members[inv.user.id] = { ...known, invited: inv.role };
  }
  const me = snap.me;
  if (myId !== null && me.role) {
    const mine = members[myId];
    if (mine) {
      members[myId] = { ...mine, role: me.role, muted: me.muted, hand: me.hand_raised, invited: me.invited_as, actions: me.actions };
    }
    // (not listed: a listener past the first 100; the page still knows its own place: withMe)
  }
  const state = {
    ...initial(snap.space, myId),
    members,
    hands,
    handCount: snap.hand_count,
    listenerCount: Math.max(snap.listener_count, snap.listeners.length),
    stageLocked: snap.stage_locked,
    synced: true,
    me,
  };
  if (before && before.over === 'removed') return { ...state, over: 'removed', overMessage: before.overMessage };
  return state;
}

/**
 * My own place when the snapshot did not list me (a listener past the first 100).
 * @param {RoomState} state
 * @param {UserBrief} me
 * @param {import('../../types.js').MyPlace} place
 * @returns {RoomState}
 */
export function withMe(state, me, place) {
  if (!place.role || state.members[me.id]) return state;
  const mine = member(me, place.role, { muted: place.muted, hand: place.hand_raised, invited: place.invited_as, actions: place.actions });
  return { ...state, members: { ...state.members, [me.id]: mine } };
}

/** @param {RoomState} state */
export function myMember(state) {
  return state.myId === null ? null : state.members[state.myId] ?? null;
}

/** @param {RoomState} state */
export function myRole(state) {
  const m = myMember(state);
  return m ? m.role : null;
}

/** @param {RoomState} state */
export function isHost(state) {
  return Boolean(state.space.host && state.space.host.id === state.myId);
}

const ORDER = { host: 0, cohost: 1, speaker: 2, listener: 3 };

/** Who is on stage: host, co-hosts, speakers, then by name. @param {RoomState} state */
export function stage(state) {
  return Object.values(state.members)
    .filter((m) => onStage(m.role))
    .sort((a, b) => ORDER[a.role] - ORDER[b.role] || nameOf(a.user).localeCompare(nameOf(b.user)));
}

/** The listeners the page lists, in the order they came. @param {RoomState} state */
export function listeners(state) {
  return Object.values(state.members).filter((m) => m.role === 'listener');
}

/** Raised hands in order (members, not on stage). @param {RoomState} state */
export function handQueue(state) {
  return state.hands.map((id) => state.members[id]).filter((m) => m && m.hand && !onStage(m.role));
}

/**
 * @param {RoomState} state
 * @param {number} id
 * @param {(m: Member) => Member} change
 * @returns {Record<number, Member>}
 */
function changeMember(state, id, change) {
  const m = state.members[id];
  return m ? { ...state.members, [id]: change(m) } : state.members;
}

/**
 * @param {RoomState} state
 * @param {number} id
 */
function without(state, id) {
  const members = { ...state.members };
  delete members[id];
  const levels = { ...state.levels };
  delete levels[id];
  return { members, levels, hands: state.hands.filter((h) => h !== id) };
}

/**
 * @param {RoomState} state
 * @param {'ended' | 'removed' | 'cancelled'} kind
 * @param {string} message
 * @returns {RoomState}
 */
export function finish(state, kind, message) {
  if (state.over === 'removed') return { ...state, effects: [] }; // already told
  const space = kind === 'ended' ? { ...state.space, state: /** @type {const} */ ('ended') } : state.space;
  return { ...state, space, over: kind, overMessage: message, members: {}, levels: {}, hands: [], listenerCount: 0, effects: [] };
}

/**
 * One server message applied: a new state (with its effects). Idempotent for state:
 * values are set, never toggled, so a replayed event changes nothing more.
 * @param {RoomState} state
 * @param {SpaceEvent} msg
 * @returns {RoomState}
 */
export function reduce(state, msg) {
  const next = spaceChanges(state, step(state, msg));
  if (!STAGE_EVENTS.has(msg.type) || next.over) return next;
  // The server's `actions` describe the room before this event: forget those of the
  // people it concerns, and ask for new ones when they matter (I moderate, or it is me).
  // (A listener may do nothing to others, whatever happens to them: nothing to renew.)
  const who = msg.data.user_id ?? (msg.data.user && msg.data.user.id);
  if (!(moderates(myRole(state)) || moderates(myRole(next)) || who === state.myId)) return next;
  const members = changeMember(next, who, (m) => ({ ...m, actions: null }));
  return { ...next, members, effects: [...next.effects, { kind: 'stale' }] };
}

/**
 * The space's recording and captions as they changed, whatever told the page (the event,
 * or a snapshot that came first and made the event a repeat): said once either way.
 * @param {RoomState} before
 * @param {RoomState} next
 * @returns {RoomState}
 */
function spaceChanges(before, next) {
  if (next.over || before.over) return next;
  const fx = [];
  if (before.space.recording !== next.space.recording && typeof next.space.recording === 'boolean') {
    fx.push(/** @type {Effect} */ ({ kind: 'recording', on: next.space.recording }));
  }
  const a = before.space.captions;
  const b = next.space.captions;
  if (Boolean(a.on) !== Boolean(b.on) || Boolean(a.paused) !== Boolean(b.paused)) {
    fx.push(/** @type {Effect} */ ({ kind: 'captions', before: a, after: b }));
  }
  return fx.length ? { ...next, effects: [...next.effects, ...fx] } : next;
}

const STAGE_EVENTS = new Set(['member.joined', 'hand.raised', 'hand.lowered', 'invite.sent', 'invite.declined', 'role.changed', 'mute.changed']);

/**
 * @param {RoomState} state
 * @param {SpaceEvent} msg
 * @returns {RoomState}
 */
function step(state, msg) {
  const d = msg.data;
  const next = { ...state, effects: /** @type {Effect[]} */ ([]) };
  const fx = next.effects;
  const mod = moderates(myRole(state));
  switch (msg.type) {
    case 'snapshot': {
      const snap = fromSnapshot(d, state.myId, state);
      if (state.over === 'removed') return snap;
      return { ...snap, effects: [] };
    }
    case 'error':
      if (msg.error && msg.error.code === 'removed_from_space') return finish(state, 'removed', REMOVED_MESSAGE);
      if (msg.error && msg.error.code === 'not_found') return finish(state, 'removed', 'This space is not available to you.');
      return next;
    case 'unsubscribed':
      return msg.reason === 'removed' ? finish(state, 'removed', REMOVED_MESSAGE) : next;
    case 'space.started':
      fx.push({ kind: 'announce', text: 'The space has started' });
      return { ...next, space: { ...state.space, ...d.space, state: 'live' } };
    case 'space.updated':
      return { ...next, space: { ...state.space, ...d.space } };
    case 'space.ended':
      if (d.reason === 'cancelled') return finish(state, 'cancelled', 'This space was cancelled.');
      return finish(state, 'ended', d.reason === 'host_gone' ? 'This space has ended: the host left.' : 'This space has ended.');
    case 'member.joined': {
      const prev = state.members[d.user.id];
      next.members = { ...state.members, [d.user.id]: { ...(prev ?? member(d.user, d.role, { actions: moderates(myRole(state)) ? null : [] })), user: d.user, role: d.role } };
      if (onStage(d.role) && !(prev && onStage(prev.role))) fx.push({ kind: 'announce', text: `${nameOf(d.user)} joined the stage` });
      return next;
    }
    case 'member.left': {
      const m = state.members[d.user_id];
      Object.assign(next, without(state, d.user_id));
      if (m && onStage(m.role)) fx.push({ kind: 'announce', text: `${nameOf(m.user)} left the stage` });
      if (d.user_id === state.myId) fx.push({ kind: 'left-elsewhere' });
      return next;
    }
    case 'member.removed': {
      if (d.user_id === state.myId) return finish(state, 'removed', REMOVED_MESSAGE);
      const m = state.members[d.user_id];
      Object.assign(next, without(state, d.user_id));
      if (m) fx.push({ kind: 'announce', text: `${nameOf(m.user)} was removed` });
      return next;
    }
    case 'hand.raised': {
      const m = state.members[d.user_id];
      if (!m) {
        if (mod) fx.push({ kind: 'resync' }); // a listener beyond the listed ones: the snapshot's queue has them
        return next;
      }
      next.members = changeMember(state, d.user_id, (x) => ({ ...x, hand: true }));
      if (!state.hands.includes(d.user_id)) {
        next.hands = [...state.hands, d.user_id];
        next.handCount = state.handCount + (m.hand ? 0 : 1);
        if (mod) fx.push({ kind: 'announce', text: `${nameOf(m.user)} raised a hand` });
      }
      return next;
    }
    case 'hand.lowered': {
      const m = state.members[d.user_id];
      next.members = changeMember(state, d.user_id, (x) => ({ ...x, hand: false }));
      next.hands = state.hands.filter((h) => h !== d.user_id);
      if (state.hands.includes(d.user_id) || (m && m.hand)) next.handCount = Math.max(0, state.handCount - 1);
      return next;
    }
    case 'invite.sent':
      next.members = changeMember(state, d.user_id, (x) => ({ ...x, invited: d.role }));
      if (d.user_id === state.myId) fx.push({ kind: 'announce', text: `You are invited to ${d.role === 'cohost' ? 'co-host' : 'speak'}` });
      return next;
    case 'invite.declined': {
      const m = state.members[d.user_id];
      next.members = changeMember(state, d.user_id, (x) => ({ ...x, invited: null }));
      if (m && mod && d.user_id !== state.myId) fx.push({ kind: 'announce', text: `${nameOf(m.user)} declined the invitation` });
      return next;
    }
    case 'role.changed':
      return roleChanged(state, next, d);
    case 'mute.changed': {
      const m = state.members[d.user_id];
      if (!m) return next;
      next.members = changeMember(state, d.user_id, (x) => ({ ...x, muted: d.muted }));
      if (d.user_id === state.myId) {
        fx.push({ kind: 'my-mute', muted: d.muted });
        if (d.muted && !m.muted && d.by !== state.myId) {
          fx.push({ kind: 'toast', text: 'A moderator muted you.', tone: 'info' });
        }
      } else if (d.muted && !m.muted) {
        fx.push({ kind: 'announce', text: `${nameOf(m.user)} is muted` });
      }
      return next;
    }
    case 'reaction':
      fx.push({ kind: 'reaction', emoji: d.emoji, userId: d.user_id });
      return next;
    case 'media.moved':
      fx.push({ kind: 'moved', userIds: d.user_ids });
      return next;
    case 'levels': {
      const levels = { ...state.levels };
      for (const [key, value] of Object.entries(d.levels)) {
        if (value > 0) levels[Number(key)] = value;
        else delete levels[Number(key)];
      }
      return { ...next, levels };
    }
    case 'listeners.count':
      return { ...next, listenerCount: d.count };
    case 'stage.locked':
      return { ...next, stageLocked: d.locked };
    case 'recording.changed':
      return { ...next, space: { ...state.space, recording: d.on } };
    case 'captions.changed': {
      const after = { ...state.space.captions, ...d };
      if (d.paused === undefined && d.on !== undefined) after.paused = false;
      return { ...next, space: { ...state.space, captions: after } };
    }
    case 'caption': {
      const m = state.members[d.user_id];
      fx.push({ kind: 'caption', data: d, user: m ? m.user : null });
      return next;
    }
    default:
      return next;
  }
}

/**
 * @param {RoomState} state
 * @param {RoomState} next
 * @param {import('../../types.js').RoleChangedData} d
 */
function roleChanged(state, next, d) {
  const fx = next.effects;
  const m = state.members[d.user_id];
  if (!m) {
    // Someone the page does not list (long listener lists are cut): ask for the picture.
    if (onStage(d.role)) fx.push({ kind: 'resync' });
    return next;
  }
  const before = m.role;
  next.members = changeMember(state, d.user_id, (x) => ({
    ...x,
    role: d.role,
    hand: false,
    invited: null,
    muted: d.role === 'listener' ? true : x.muted,
  }));
  next.hands = state.hands.filter((h) => h !== d.user_id);
  if (m.hand) next.handCount = Math.max(0, state.handCount - 1);
  if (d.role === 'host' && state.space.host && state.space.host.id !== d.user_id) {
    next.space = { ...state.space, host: m.user };
  }
  if (before === d.role) return next;
  const mine = d.user_id === state.myId;
  const name = mine ? 'You' : nameOf(m.user);
  if (d.role === 'listener') fx.push({ kind: 'announce', text: `${name} moved to the listeners` });
  else {
    const what = d.role === 'cohost' ? 'a co-host' : d.role === 'host' ? 'the host' : 'a speaker';
    fx.push({ kind: 'announce', text: `${name} ${mine ? 'are' : 'is'} now ${what}` });
  }
  if (mine) {
    fx.push({ kind: 'mine', role: d.role, before });
    if (!onStage(d.role) && onStage(before) && d.by !== undefined && d.by !== state.myId) {
      fx.push({ kind: 'toast', text: 'You were moved to the listeners.', tone: 'info' });
    } else if (onStage(d.role) && !onStage(before)) {
      const text = d.role === 'speaker' ? 'You are a speaker now. Press Unmute to talk.' : 'You are on stage now.';
      fx.push({ kind: 'toast', text, tone: 'success' });
    }
  }
  return next;
}
