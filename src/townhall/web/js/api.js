// Fetch wrapper for the townhall REST API: JSON in, JSON out, errors as ApiError.
// The session lives in the HttpOnly `townhall_session` cookie, so every call sends it.

export class ApiError extends Error {
  constructor(status, code, message, field = null, details = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.field = field;
    this.details = details || {}; // the whole JSON error (e.g. hls_path of webrtc_full)
  }
}

const listeners = new Set();

/** Called with (error) whenever a request answers 401: the session is gone. */
export function onUnauthorized(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export async function api(method, path, body, { signal, quiet401 = false } = {}) {
  const options = {
    method,
    headers: { Accept: 'application/json' },
    credentials: 'same-origin',
    signal,
  };
  if (body !== undefined) {
    options.headers['Content-Type'] = 'application/json';
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch('/api/v1' + path, options);
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new ApiError(0, 'network', 'Could not reach the server. Check your connection and try again.');
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const e = (data && data.error) || {};
    const error = new ApiError(
      response.status,
      e.code || `http_${response.status}`,
      e.message || `The server answered ${response.status} ${response.statusText}`.trim(),
      e.field || null,
      e,
    );
    if (response.status === 401 && !quiet401) listeners.forEach((fn) => fn(error));
    throw error;
  }
  return data;
}

export const get = (path, opts) => api('GET', path, undefined, opts);
export const post = (path, body, opts) => api('POST', path, body === undefined ? {} : body, opts);
export const patch = (path, body, opts) => api('PATCH', path, body, opts);
export const del = (path, body, opts) => api('DELETE', path, body, opts);

/** Build a query string from an object, skipping empty values. */
export function qs(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}
