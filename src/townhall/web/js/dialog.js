// @ts-check
// In-app dialogs (a modal <dialog>) instead of the browser's confirm() and prompt():
// styled like the page, labelled for screen readers, Escape cancels, focus comes back.

import { h } from './ui.js';

/**
 * @param {{title: string, message?: string, confirm: string, danger?: boolean, input?: string}} opts
 *   `input`: the label of a text field to fill (then the answer is its text)
 * @returns {Promise<string | null>} null when cancelled; '' or the text when confirmed
 */
function ask(opts) {
  const opener = /** @type {HTMLElement | null} */ (document.activeElement);
  const id = `dlg-${Math.random().toString(36).slice(2, 8)}`;
  const field = opts.input
    ? h('textarea', { id: `${id}-text`, rows: 3, maxlength: 500, required: true })
    : null;
  const ok = h('button', { type: 'submit', class: `btn ${opts.danger ? 'btn-danger' : 'btn-primary'}`, value: 'ok' }, opts.confirm);
  const form = h('form', { method: 'dialog', class: 'form' },
    h('h2', { id: `${id}-title` }, opts.title),
    opts.message ? h('p', { id: `${id}-msg` }, opts.message) : null,
    field ? h('div', { class: 'field' }, h('label', { for: field.id }, opts.input), field) : null,
    h('div', { class: 'row dialog-actions' },
      h('button', { type: 'submit', class: 'btn', value: 'cancel', formnovalidate: true }, 'Cancel'),
      ok));
  const dialog = /** @type {HTMLDialogElement} */ (h('dialog', {
    class: 'app-dialog',
    'aria-labelledby': `${id}-title`,
    'aria-describedby': opts.message ? `${id}-msg` : null,
  }, form));
  document.body.append(dialog);
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      const yes = dialog.returnValue === 'ok';
      const text = field ? /** @type {HTMLTextAreaElement} */ (field).value.trim() : '';
      dialog.remove();
      resolve(yes && (!field || text) ? text : null);
      // Focus goes back to the opener; a form's submit button is disabled while its
      // handler runs, so try again once the handler has gone on.
      const back = () => { if (opener && opener.isConnected) opener.focus(); };
      back();
      if (opener && document.activeElement !== opener) setTimeout(back, 0);
    });
    dialog.showModal();
    (field || ok).focus();
  });
}

/**
 * Ask to confirm an action: true when confirmed.
 * @param {{title: string, message?: string, confirm: string, danger?: boolean}} opts
 */
export async function confirmDialog(opts) {
  return (await ask(opts)) !== null;
}

/**
 * Ask for a text (a report's reason): the text, or null when cancelled.
 * @param {{title: string, message?: string, label: string, confirm: string}} opts
 */
export function promptDialog(opts) {
  return ask({ ...opts, input: opts.label });
}
