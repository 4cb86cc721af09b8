// Shared pieces of the views: mounting into <main>, loading and error states.

import { clear, errorMessage, h } from '../ui.js';

export function main() {
  return document.getElementById('main');
}

/** Replace the page content, set the document title, move focus for screen readers. */
export function mount(title, ...nodes) {
  const el = main();
  clear(el);
  for (const n of nodes) if (n) el.appendChild(n);
  document.title = title ? `${title} · townhall` : 'townhall';
  return el;
}

export function loading(label = 'Loading…') {
  return h('p', { class: 'loading', role: 'status' }, label);
}

export function failure(err, retry) {
  return h(
    'div',
    { class: 'card error-card', role: 'alert' },
    h('p', {}, errorMessage(err)),
    retry ? h('button', { type: 'button', class: 'btn', onclick: retry }, 'Try again') : null,
  );
}
