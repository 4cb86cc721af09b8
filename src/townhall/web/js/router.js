// Hash routes (#/space/ID) so that deep links work without any server-side fallback.

const routes = [];
let current = null; // {cleanup}
let notFound = null;
let beforeEach = null;

/** route('/space/:id', view) — view(params, query) renders and may return a cleanup function. */
export function route(pattern, view, options = {}) {
  const keys = [];
  const re = new RegExp(
    '^' +
      pattern.replace(/\/:([a-zA-Z_]+)/g, (_, key) => {
        keys.push(key);
        return '/([^/]+)';
      }) +
      '/?$',
  );
  routes.push({ re, keys, view, options });
}

export function setNotFound(view) {
  notFound = view;
}

/** guard(match) may return a hash to redirect to instead of rendering. */
export function setGuard(guard) {
  beforeEach = guard;
}

export function parse(hash = location.hash) {
  const raw = hash.replace(/^#/, '') || '/';
  const [path, search = ''] = raw.split('?');
  const query = Object.fromEntries(new URLSearchParams(search));
  for (const r of routes) {
    const m = path.match(r.re);
    if (m) {
      const params = {};
      r.keys.forEach((k, i) => {
        params[k] = decodeURIComponent(m[i + 1]);
      });
      return { route: r, params, query, path, raw };
    }
  }
  return { route: null, params: {}, query, path, raw };
}

export function go(hash, { replace = false } = {}) {
  const target = hash.startsWith('#') ? hash : `#${hash}`;
  if (replace) {
    history.replaceState(null, '', target);
    render();
  } else if (location.hash === target) {
    render();
  } else {
    location.hash = target;
  }
}

export function currentPath() {
  return (location.hash.replace(/^#/, '') || '/').split('?')[0];
}

let renderId = 0;

export async function render() {
  const id = ++renderId;
  const match = parse();
  if (beforeEach) {
    const redirect = beforeEach(match);
    if (redirect) {
      history.replaceState(null, '', redirect);
      return render();
    }
  }
  if (current && typeof current.cleanup === 'function') {
    try {
      current.cleanup();
    } catch (err) {
      console.warn('cleanup failed', err);
    }
  }
  current = null;
  const view = match.route ? match.route.view : notFound;
  if (!view) return;
  const cleanup = await view(match.params, match.query);
  if (id !== renderId) {
    // Another navigation happened while this view was loading.
    if (typeof cleanup === 'function') cleanup();
    return;
  }
  current = { cleanup };
  document.dispatchEvent(new CustomEvent('townhall:routed', { detail: match }));
}

export function start() {
  window.addEventListener('hashchange', () => render());
  return render();
}
