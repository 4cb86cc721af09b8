// Who is signed in. The session cookie is HttpOnly, so a small hint in localStorage says
// whether asking /me is worth it (no pointless 401 for visitors who never signed in).

import { get, post } from './api.js';

const HINT = 'townhall.signedIn';
let me = null;
const listeners = new Set();

export function currentUser() {
  return me;
}

export function onUserChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function setUser(user) {
  me = user;
  try {
    if (user) localStorage.setItem(HINT, user.handle);
    else localStorage.removeItem(HINT);
  } catch {
    /* storage may be disabled */
  }
  listeners.forEach((fn) => fn(me));
}

export async function loadSession() {
  let hinted = false;
  try {
    hinted = Boolean(localStorage.getItem(HINT));
  } catch {
    hinted = true;
  }
  if (!hinted) return null;
  try {
    setUser(await get('/me', { quiet401: true }));
  } catch (err) {
    if (err.status === 401) setUser(null);
    else throw err;
  }
  return me;
}

export async function signOut() {
  try {
    await post('/auth/logout', undefined, { quiet401: true });
  } catch (err) {
    if (err.status !== 401) throw err;
  }
  setUser(null);
}
