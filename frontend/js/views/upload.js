// The upload form: a drop zone that is also a file picker, a name, a visibility choice,
// a progress bar, and the server's verdict shown right next to the form.

import { datasets } from '../api.js';
import { formatBytes, h } from '../dom.js';
import { field, formMessage, setFieldError, setFormMessage } from './form.js';

export function uploadForm({ navigate }) {
  let chosen = null;
  let inFlight = null;

  const fileInput = h('input', { type: 'file', id: 'upload-file', name: 'file', class: 'dropzone__input', accept: '.csv,.tsv,.txt,text/csv', 'aria-describedby': 'upload-file-chosen upload-file-error' });
  const chosenText = h('span', { id: 'upload-file-chosen', class: 'dropzone__chosen' }, 'No file chosen');
  const fileError = h('p', { id: 'upload-file-error', class: 'field__error', hidden: true });
  const dropzone = h('div', { class: 'dropzone', id: 'dropzone' },
    fileInput,
    h('label', { for: 'upload-file', class: 'dropzone__label' },
      h('span', { class: 'dropzone__title' }, 'Drop a CSV file here'),
      h('span', { class: 'dropzone__or' }, 'or ', h('span', { class: 'dropzone__pick' }, 'choose a file'))),
    chosenText);

  const name = field({ id: 'upload-name', label: 'Name', maxlength: 200, autocomplete: 'off', required: true });
  const visibility = h('fieldset', { class: 'choice' },
    h('legend', { class: 'field__label' }, 'Who can see it'),
    radio('public', 'Public', 'Everyone can see it.'),
    radio('private', 'Private', 'Only you can see it.', true));
  const progress = h('progress', { id: 'upload-progress', class: 'progress', max: 100, value: 0, 'aria-label': 'Upload progress' });
  const progressText = h('span', { class: 'progress__text', 'aria-live': 'polite' });
  const progressRow = h('div', { class: 'progress-row', hidden: true }, progress, progressText);
  const message = formMessage('upload-message');
  const submit = h('button', { type: 'submit', class: 'button button--primary', id: 'upload-submit' }, 'Upload and analyse');
  const cancel = h('button', { type: 'button', class: 'button button--quiet', hidden: true, onclick: () => inFlight?.abort() }, 'Cancel');

  const form = h('form', { class: 'upload', id: 'upload-form', novalidate: true, 'aria-labelledby': 'upload-title' },
    h('h2', { id: 'upload-title' }, 'Upload a dataset'),
    dropzone, fileError, name.wrapper, visibility, progressRow, message,
    h('div', { class: 'actions' }, submit, cancel));

  const choose = (file) => {
    chosen = file;
    fileError.hidden = true;
    chosenText.textContent = file ? `${file.name} · ${formatBytes(file.size)}` : 'No file chosen';
    dropzone.classList.toggle('dropzone--chosen', Boolean(file));
    if (file && !name.input.value.trim()) name.input.value = file.name.replace(/\.[^.]+$/, '');
  };
  fileInput.addEventListener('change', () => choose(fileInput.files[0] ?? null));
  for (const type of ['dragenter', 'dragover']) {
    dropzone.addEventListener(type, (event) => {
      event.preventDefault();
      dropzone.classList.add('dropzone--over');
    });
  }
  for (const type of ['dragleave', 'drop']) {
    dropzone.addEventListener(type, () => dropzone.classList.remove('dropzone--over'));
  }
  dropzone.addEventListener('drop', (event) => {
    event.preventDefault();
    const file = event.dataTransfer?.files?.[0];
    if (file) choose(file);
  });

  const setProgress = (fraction) => {
    progressRow.hidden = false;
    if (fraction === null) {
      progress.removeAttribute('value');
      progressText.textContent = 'Uploading…';
    } else if (fraction >= 1) {
      progress.value = 100;
      progressText.textContent = 'Analysing…';
    } else {
      progress.value = Math.round(fraction * 100);
      progressText.textContent = `${progress.value}%`;
    }
  };

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (inFlight) return;
    setFormMessage(message, null);
    setFieldError(name, null);
    fileError.hidden = true;
    if (!chosen) {
      fileError.hidden = false;
      fileError.textContent = 'Choose a CSV file to upload.';
      fileInput.focus();
      return;
    }
    if (!name.input.value.trim()) {
      setFieldError(name, 'Give the dataset a name.');
      name.input.focus();
      return;
    }
    const picked = form.querySelector('input[name="visibility"]:checked')?.value ?? 'private';
    submit.disabled = true;
    cancel.hidden = false;
    setProgress(0);
    inFlight = datasets.upload(chosen, { name: name.input.value.trim(), visibility: picked }, setProgress);
    try {
      const dataset = await inFlight.promise;
      setFormMessage(message, `Uploaded “${dataset?.name ?? name.input.value.trim()}”.`, 'success');
      form.reset();
      choose(null);
      if (dataset?.id) navigate(`#/datasets/${encodeURIComponent(dataset.id)}`);
    } catch (error) {
      const fields = error.fields ?? {};
      if (fields.name) setFieldError(name, fields.name);
      if (fields.file) {
        fileError.hidden = false;
        const text = Array.isArray(fields.file) ? fields.file.join('; ') : fields.file;
        fileError.textContent = /^[a-z]/.test(text) ? `The file ${text}.` : text;
      }
      setFormMessage(message, error.message);
      progressRow.hidden = true;
    } finally {
      inFlight = null;
      submit.disabled = false;
      cancel.hidden = true;
    }
  });

  return form;
}

function radio(value, label, hint, checked = false) {
  const id = `visibility-${value}`;
  return h('div', { class: 'choice__option' },
    h('input', { type: 'radio', name: 'visibility', id, value, checked, 'aria-describedby': `${id}-hint` }),
    h('label', { for: id }, h('span', { class: 'choice__label' }, label), h('span', { id: `${id}-hint`, class: 'choice__hint' }, hint)));
}
