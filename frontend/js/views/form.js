// Form plumbing shared by the pages: labelled fields with room for the server's
// per-field messages, and a busy state for the submit button.

import { h } from '../dom.js';

/** A labelled input with its hint and error slot wired up through aria-describedby. */
export function field({ id, label, type = 'text', name = id, hint = null, ...attrs }) {
  const errorId = `${id}-error`;
  const hintId = hint ? `${id}-hint` : null;
  const input = h('input', { id, name, type, class: 'input', 'aria-describedby': [hintId, errorId].filter(Boolean).join(' '), ...attrs });
  const error = h('p', { id: errorId, class: 'field__error', hidden: true });
  const wrapper = h('div', { class: 'field' },
    h('label', { for: id, class: 'field__label' }, label),
    hint ? h('p', { id: hintId, class: 'field__hint' }, hint) : null,
    input,
    error);
  return { wrapper, input, error, label };
}

/** Shows `message` under a field (or clears it with null). */
export function setFieldError(f, text) {
  const message = readable(f.label, Array.isArray(text) ? text.join('; ') : text);
  f.error.hidden = !message;
  f.error.textContent = message ?? '';
  if (message) f.input.setAttribute('aria-invalid', 'true');
  else f.input.removeAttribute('aria-invalid');
}

/** The server words field errors as fragments ("is required"): lead with the field's name. */
function readable(label, message) {
  if (!message) return null;
  return /^[a-z]/.test(message) ? `${label} ${message}.`.replace(/\.\.$/, '.') : message;
}

/** A message box for the whole form; role=alert so it is announced when it appears. */
export function formMessage(id) {
  return h('div', { id, class: 'form-message', role: 'alert', hidden: true });
}

export function setFormMessage(el, message, tone = 'error') {
  el.hidden = !message;
  el.dataset.tone = tone;
  el.textContent = message ?? '';
}

/** Disables a button while `work` runs, with a label saying what is happening. */
export async function busy(button, label, work) {
  const idle = button.textContent;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  button.textContent = label;
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
    button.textContent = idle;
  }
}
