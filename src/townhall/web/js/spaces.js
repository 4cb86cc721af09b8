// Calls of the spaces REST API (docs/SPACES.md), in one place.

import { del, get, post, qs } from './api.js';

const enc = encodeURIComponent;

export const listSpaces = (params = {}) => get(`/spaces${qs(params)}`);
export const getSpace = (id) => get(`/spaces/${enc(id)}`);
export const createSpace = (body) => post('/spaces', body);

/** A host's live and scheduled spaces, for the profile page. */
export async function spacesByHost(profile) {
  const [live, scheduled] = await Promise.all([
    listSpaces({ state: 'live', host: profile.handle }),
    listSpaces({ state: 'scheduled', host: profile.handle }),
  ]);
  const mine = (s) => s.host && (s.host.id === profile.id || s.host.handle === profile.handle);
  return { live: items(live).filter(mine), scheduled: items(scheduled).filter(mine) };
}

export function items(page) {
  if (!page) return [];
  return page.items || page.spaces || [];
}

export const action = (id, verb, body) => post(`/spaces/${enc(id)}/${verb}`, body);
export const join = (id) => action(id, 'join');
export const leave = (id) => action(id, 'leave');
export const end = (id) => action(id, 'end');
export const start = (id) => action(id, 'start');
export const cancel = (id) => action(id, 'cancel');
export const remind = (id) => post(`/spaces/${enc(id)}/reminder`);
export const unremind = (id) => del(`/spaces/${enc(id)}/reminder`);

// -- in the room (paths per docs/SPACES.md) --------------------------------
export const raiseHand = (id) => post(`/spaces/${enc(id)}/hand`);
export const lowerHand = (id) => del(`/spaces/${enc(id)}/hand`);
export const approveHand = (id, userId) => post(`/spaces/${enc(id)}/hands/${enc(userId)}/approve`);
export const declineHand = (id, userId) => post(`/spaces/${enc(id)}/hands/${enc(userId)}/decline`);
export const invite = (id, userId, role) => post(`/spaces/${enc(id)}/invite`, { user_id: userId, role });
export const acceptInvite = (id) => post(`/spaces/${enc(id)}/invite/accept`);
export const declineInvite = (id) => post(`/spaces/${enc(id)}/invite/decline`);
export const setRole = (id, userId, role) => post(`/spaces/${enc(id)}/role`, { user_id: userId, role });
export const setMute = (id, userId, muted) => post(`/spaces/${enc(id)}/mute`, { user_id: userId, muted });
export const remove = (id, userId) => post(`/spaces/${enc(id)}/remove`, { user_id: userId });
export const react = (id, emoji) => post(`/spaces/${enc(id)}/reactions`, { emoji });
export const report = (id, body) => post(`/spaces/${enc(id)}/report`, body);
export const REACTIONS = ['👏', '😂', '❤️', '💯', '🙌', '🔥', '😮', '😢', '👍', '👎'];
