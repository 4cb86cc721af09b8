// Calls of the spaces REST API (docs/SPACES.md), in one place.

import { del, get, patch, post, qs } from './api.js';

const enc = encodeURIComponent;

export const listSpaces = (params = {}) => get(`/spaces${qs(params)}`);
export const getSpace = (id) => get(`/spaces/${enc(id)}`);
export const createSpace = (body) => post('/spaces', body);
export const editSpace = (id, body) => patch(`/spaces/${enc(id)}`, body);

/** A host's live and scheduled spaces, for the profile page. */
export async function spacesByHost(profile) {
  const host = profile.handle;
  const [live, scheduled] = await Promise.all([
    listSpaces({ state: 'live', host }),
    listSpaces({ state: 'scheduled', host }),
  ]);
  return { live: items(live), scheduled: items(scheduled) };
}

export function items(page) {
  return page ? page.spaces : [];
}

export const action = (id, verb, body) => post(`/spaces/${enc(id)}/${verb}`, body);
export const join = (id) => action(id, 'join');
export const leave = (id) => action(id, 'leave');
export const end = (id) => action(id, 'end');
export const start = (id) => action(id, 'start');
export const cancel = (id) => action(id, 'cancel');
export const remind = (id) => post(`/spaces/${enc(id)}/reminder`);
export const unremind = (id) => del(`/spaces/${enc(id)}/reminder`);

// -- in the room (paths per src/townhall/api/routers/spaces.py) ------------
export const raiseHand = (id) => post(`/spaces/${enc(id)}/hand`);
export const lowerHand = (id) => post(`/spaces/${enc(id)}/hand/lower`);
export const approveHand = (id, userId) => post(`/spaces/${enc(id)}/hands/${enc(userId)}/approve`);
export const declineHand = (id, userId) => post(`/spaces/${enc(id)}/hands/${enc(userId)}/decline`);
export const invite = (id, userId, role) => post(`/spaces/${enc(id)}/invite`, { user_id: userId, role });
export const acceptInvite = (id) => post(`/spaces/${enc(id)}/invitation/accept`);
export const declineInvite = (id) => post(`/spaces/${enc(id)}/invitation/decline`);
export const stepDown = (id) => post(`/spaces/${enc(id)}/step-down`);
export const setRole = (id, userId, role) => post(`/spaces/${enc(id)}/members/${enc(userId)}/role`, { role });
export const transferHost = (id, userId) => post(`/spaces/${enc(id)}/host`, { user_id: userId });
/** Mute or unmute myself (userId null), or mute someone else (moderators). */
export const setMute = (id, userId, muted) =>
  post(`/spaces/${enc(id)}/${muted ? 'mute' : 'unmute'}`, userId === null ? {} : { user_id: userId });
export const remove = (id, userId) => post(`/spaces/${enc(id)}/remove`, { user_id: userId });
export const block = (id, userId) => post(`/spaces/${enc(id)}/block`, { user_id: userId });
export const react = (id, emoji) => post(`/spaces/${enc(id)}/react`, { emoji });
export const report = (id, reason, userId = null) =>
  post(`/spaces/${enc(id)}/report`, userId === null ? { reason } : { reason, user_id: userId });
export const addGuests = (id, userIds) => post(`/spaces/${enc(id)}/guests`, { user_ids: userIds });
export const REACTIONS = ['👏', '😂', '❤️', '💯', '🙌', '🔥', '😮', '😢', '👍', '👎'];
