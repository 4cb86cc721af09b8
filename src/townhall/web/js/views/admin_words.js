// Admins: the word list. Titles, topics, display names and bios containing a term are
// refused; a caption containing one flags its space to the review queue.

import { api, del } from '../api.js';
import { announce, bindForm, clear, field, formError, h, showError } from '../ui.js';
import { adminNav, allowed } from './admin_nav.js';
import { failure, loading, mount } from './common.js';

export function adminWordsView() {
  if (!allowed('Word list', true)) return undefined;
  const list = h('ul', { class: 'word-list' });
  const box = h('div', {}, loading());

  async function refresh() {
    try {
      const out = await api('GET', '/admin/words');
      clear(list);
      clear(box);
      box.append(out.terms.length ? list : h('p', { class: 'muted' }, 'The list is empty.'));
      for (const t of out.terms) {
        list.append(h('li', { 'data-term': t.term }, h('span', {}, t.term), ' ',
          h('button', { type: 'button', class: 'btn btn-ghost btn-danger-ghost', 'aria-label': `Remove “${t.term}”`, onclick: async () => {
            try {
              await del(`/admin/words/${t.id}`);
              announce(`“${t.term}” removed from the word list.`);
              refresh();
            } catch (err) {
              showError(err);
            }
          } }, 'Remove')));
      }
    } catch (err) {
      clear(box);
      box.append(failure(err, refresh));
    }
  }
  const input = h('input', { name: 'term', class: 'input', maxlength: '200', required: true, autocomplete: 'off' });
  const form = h('form', { class: 'card' }, field('Add a term', input, 'Matched without regard to case, as a whole word.'), formError(),
    h('button', { type: 'submit', class: 'btn btn-primary' }, 'Add'));
  bindForm(form, async (values) => {
    await api('POST', '/admin/words', { term: String(values.get('term') || '') });
    announce(`“${values.get('term')}” added to the word list.`);
    form.reset();
    await refresh();
  });
  mount('Word list', adminNav('/admin/words'), h('h1', {}, 'Word list'),
    h('p', { class: 'muted' }, 'Flags for review, never removal: spaces whose captions contain a term appear in the review queue.'), form, box);
  refresh();
  return undefined;
}
