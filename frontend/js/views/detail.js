// One dataset: what the analysis found, column by column, and delete for its owner.

import { datasets } from '../api.js';
import { histogram } from '../chart.js';
import { formatAgo, formatCount, formatNumber, formatTime, h, replace } from '../dom.js';
import * as live from '../live.js';
import { analysisJson, downloadLink, statisticsCsv } from '../exports.js';
import { isMine, visibilityBadge } from './datasets.js';
import { relationSections } from './relations.js';

const TYPE_LABELS = { integer: 'Integer', number: 'Number', boolean: 'Boolean', datetime: 'Date/time', text: 'Text' };

export function detailPage(main, { id, navigate }) {
  const heading = h('h1', { id: 'dataset-title' }, 'Dataset');
  const body = h('div', { class: 'detail', id: 'dataset-detail', 'aria-busy': 'true' },
    h('p', { class: 'muted', role: 'status' }, 'Loading the analysis…'));
  main.append(
    h('p', { class: 'back' }, h('a', { href: '#/' }, '← All datasets')),
    heading,
    body);

  let gone = false;
  const unsubscribe = live.subscribe((event) => {
    if (event.kind === 'dataset.deleted' && String(event.dataset?.id) === String(id) && !gone) {
      gone = true;
      body.prepend(h('p', { class: 'form-message', 'data-tone': 'info', role: 'status' }, 'This dataset has just been deleted.'));
    }
  });

  datasets.get(id).then((dataset) => {
    const shown = dataset?.dataset ?? dataset;
    heading.textContent = shown.name ?? 'Untitled dataset';
    document.title = `${heading.textContent} · Flotilla`;
    body.removeAttribute('aria-busy');
    replace(body, ...renderDataset(shown, navigate));
  }).catch((error) => {
    body.removeAttribute('aria-busy');
    heading.textContent = error.status === 404 ? 'Dataset not found' : 'Dataset';
    replace(body, h('p', { class: 'form-message', 'data-tone': 'error', role: 'alert', id: 'dataset-error' },
      error.status === 404 ? 'It may have been deleted, or it is private to someone else.' : error.message));
  });

  return unsubscribe;
}

function renderDataset(dataset, navigate) {
  const analysis = dataset.analysis ?? {};
  currentLimit = analysis.max_cell_chars ?? 0;
  const columns = analysis.columns ?? [];
  const rows = analysis.rows ?? dataset.rows;
  const facts = h('dl', { class: 'facts' },
    fact('Rows', formatCount(rows)),
    fact('Columns', formatCount(columns.length)),
    analysis.delimiter ? fact('Delimiter', delimiterName(analysis.delimiter)) : null,
    dataset.created_at ? fact('Uploaded', formatAgo(dataset.created_at)) : null);

  const cut = columns.filter((column) => column.truncated);
  return [
    cut.length > 0
      ? h('p', { class: 'form-message', 'data-tone': 'info', role: 'note', id: 'truncation-note' },
        `Long text in ${cut.length === 1 ? 'one column' : `${cut.length} columns`} was cut to ${formatCount(analysis.max_cell_chars)} characters; cut text ends in “…”.`)
      : null,
    h('div', { class: 'detail__head' },
      h('div', { class: 'detail__badges' }, visibilityBadge(dataset.visibility), isMine(dataset) ? h('span', { class: 'badge badge--mine' }, 'Yours') : null),
      isMine(dataset) ? deleteControl(dataset, navigate) : null),
    facts,
    h('div', { class: 'downloads', id: 'downloads' },
      downloadLink('download-json', 'Download the analysis (JSON)', `${fileStem(dataset.name)}-analysis.json`, 'application/json', analysisJson(analysis)),
      downloadLink('download-csv', 'Download column statistics (CSV)', `${fileStem(dataset.name)}-statistics.csv`, 'text/csv', statisticsCsv(columns))),
    h('section', { class: 'card', 'aria-labelledby': 'stats-title' },
      h('h2', { id: 'stats-title' }, 'Column statistics'),
      statsTable(columns)),
    relationSections(analysis),
    h('section', { 'aria-labelledby': 'columns-title' },
      h('h2', { id: 'columns-title' }, 'Distributions'),
      h('div', { class: 'column-grid' }, columns.map(columnCard))),
    h('section', { class: 'card', 'aria-labelledby': 'preview-title' },
      h('h2', { id: 'preview-title' }, 'First rows'),
      previewTable(columns, analysis.preview ?? [])),
  ];
}

/** A dataset's name as a safe file name. */
function fileStem(name) {
  return (name ?? 'dataset').replace(/[^\p{L}\p{N}._-]+/gu, '-').replace(/^-+|-+$/g, '').slice(0, 80) || 'dataset';
}

function fact(term, value) {
  return h('div', { class: 'facts__item' }, h('dt', null, term), h('dd', null, value));
}

function delimiterName(d) {
  return { ',': 'Comma', ';': 'Semicolon', '\t': 'Tab', '|': 'Pipe' }[d] ?? d;
}

/** A value in a column's own terms: dates as dates, numbers rounded. */
function valueFor(column, v) {
  if (v === null || v === undefined) return '—';
  if (column.type === 'datetime') return formatTime(v);
  if (typeof v === 'number') return formatNumber(v);
  return clipped(column, String(v));
}

/** Text as the app kept it, with "…" where it was cut to the analysis's bound. */
function clipped(column, text, limit = currentLimit) {
  return column?.truncated && limit > 0 && [...text].length >= limit ? `${text}…` : text;
}

/** The analysis's `max_cell_chars`, for the page being rendered. */
let currentLimit = 0;

/** The mean in the column's terms: for booleans the app sends the share of true. */
function meanOf(column) {
  if (typeof column.mean !== 'number') return '—';
  if (column.type === 'boolean') return `${formatNumber(column.mean * 100)}% true`;
  if (column.type === 'datetime') return formatTime(column.mean);
  return formatNumber(column.mean);
}

function statsTable(columns) {
  const head = ['Column', 'Type', 'Count', 'Missing', 'Distinct', 'Min', 'Max', 'Mean', 'Std dev', 'Median'];
  const numeric = (text) => h('td', { class: 'num' }, text);
  return h('div', { class: 'table-scroll', tabindex: 0, role: 'region', 'aria-labelledby': 'stats-title' },
    h('table', { class: 'table', id: 'stats-table' },
      h('thead', null, h('tr', null, head.map((label, i) => h('th', { scope: 'col', class: i >= 2 ? 'num' : null }, label)))),
      h('tbody', null, columns.map((column) => h('tr', { 'data-column': column.name },
        h('th', { scope: 'row' }, clipped(column, column.name)),
        h('td', null, h('span', { class: `type type--${column.type}` }, TYPE_LABELS[column.type] ?? column.type)),
        numeric(formatCount(column.count)),
        numeric(formatCount(column.missing)),
        numeric(`${column.distinct_approximate ? '≈ ' : ''}${formatCount(column.distinct)}`),
        numeric(valueFor(column, column.min)),
        numeric(valueFor(column, column.max)),
        numeric(meanOf(column)),
        numeric(column.type === 'datetime' ? '—' : formatNumber(column.std_dev)),
        numeric(valueFor(column, column.quantiles?.p50)))))));
}

function columnCard(column) {
  const parts = [];
  if (column.histogram?.counts?.length) {
    parts.push(h('figure', { class: 'chart' },
      histogram(column.histogram, { type: column.type, label: column.name }),
      h('figcaption', { class: 'muted' }, `Distribution of ${column.name}`)));
  }
  if (column.quantiles) {
    const q = column.quantiles;
    parts.push(h('dl', { class: ['quantiles', column.type === 'datetime' && 'quantiles--dates'] },
      ['p5', 'p25', 'p50', 'p75', 'p95'].map((key) => h('div', null, h('dt', null, key), h('dd', null, valueFor(column, q[key]))))));
  }
  if (column.top_values?.length) parts.push(topValues(column));
  if (parts.length === 0) parts.push(h('p', { class: 'muted' }, 'No distribution to show for this column.'));
  return h('article', { class: 'card column-card', 'data-column': column.name },
    h('h3', null, clipped(column, column.name), ' ', h('span', { class: `type type--${column.type}` }, TYPE_LABELS[column.type] ?? column.type),
      column.truncated ? h('span', { class: 'badge', title: 'Some text of this column was cut' }, ' Text cut') : null),
    parts);
}

function topValues(column) {
  const max = Math.max(1, ...column.top_values.map((t) => t.count));
  return h('table', { class: 'top-values' },
    h('caption', { class: 'visually-hidden' }, `Most common values of ${column.name}`),
    h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Value'), h('th', { scope: 'col', class: 'num' }, 'Count'))),
    h('tbody', null, column.top_values.map((top) => {
      const bar = h('span', { class: 'top-values__bar', 'aria-hidden': 'true' });
      // CSSOM, not a style attribute: the Content-Security-Policy allows this.
      bar.style.inlineSize = `${(top.count / max) * 100}%`;
      return h('tr', null,
        h('td', { class: 'top-values__value' }, h('span', { class: 'top-values__text' }, top.value === '' ? '(empty)' : clipped(column, String(top.value))), bar),
        h('td', { class: 'num' }, formatCount(top.count)));
    })));
}

function previewTable(columns, preview) {
  if (preview.length === 0) return h('p', { class: 'muted' }, 'No rows to preview.');
  const names = columns.length > 0 ? columns.map((c) => c.name) : preview[0].map((_, i) => `Column ${i + 1}`);
  return h('div', { class: 'table-scroll', tabindex: 0, role: 'region', 'aria-labelledby': 'preview-title' },
    h('table', { class: 'table table--preview', id: 'preview-table' },
      h('thead', null, h('tr', null, names.map((name, i) => h('th', { scope: 'col' }, clipped(columns[i], name))))),
      h('tbody', null, preview.map((row) => h('tr', null, row.map((cell, i) => h('td', null, cell === null ? '' : clipped(columns[i], String(cell)))))))));
}

function deleteControl(dataset, navigate) {
  const wrap = h('div', { class: 'delete', id: 'delete-control' });
  const message = h('p', { class: 'field__error', role: 'alert', hidden: true });
  const ask = () => {
    const confirm = h('button', { type: 'button', class: 'button button--danger', id: 'confirm-delete' }, 'Delete for good');
    const cancel = h('button', { type: 'button', class: 'button button--quiet' }, 'Keep it');
    confirm.addEventListener('click', async () => {
      confirm.disabled = true;
      try {
        await datasets.remove(dataset.id);
        navigate('#/');
      } catch (error) {
        confirm.disabled = false;
        message.hidden = false;
        message.textContent = error.message;
      }
    });
    cancel.addEventListener('click', () => idle().focus());
    replace(wrap, h('span', { class: 'delete__question' }, 'Delete this dataset?'), confirm, cancel, message);
    confirm.focus();
  };
  const idle = () => {
    const button = h('button', { type: 'button', class: 'button button--danger-quiet', id: 'delete-dataset', onclick: ask }, 'Delete');
    replace(wrap, button, message);
    return button;
  };
  idle();
  return wrap;
}
