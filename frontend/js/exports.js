// Downloads of an analysis: the whole of it as JSON, and the per-column statistics as CSV.
// Built in the page from what the server sent, so they need no extra request.

import { h } from './dom.js';

const CSV_HEAD = ['name', 'type', 'count', 'missing', 'distinct', 'distinct_approximate', 'min', 'max',
  'mean', 'std_dev', 'p5', 'p25', 'p50', 'p75', 'p95', 'truncated'];

/** The analysis as the server stores it, pretty-printed. */
export function analysisJson(analysis) {
  return `${JSON.stringify(analysis, null, 2)}\n`;
}

/** One line per column with the statistics of the page's table, RFC 4180 quoting. */
export function statisticsCsv(columns) {
  const lines = [CSV_HEAD.join(',')];
  for (const column of columns) {
    const q = column.quantiles ?? {};
    lines.push([
      text(column.name), column.type, column.count, column.missing, column.distinct,
      column.distinct_approximate, value(column.min), value(column.max), column.mean, column.std_dev,
      value(q.p5), value(q.p25), value(q.p50), value(q.p75), value(q.p95), column.truncated ?? false,
    ].map(field).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}

/** A link that downloads `contents` as `filename`. */
export function downloadLink(id, label, filename, type, contents) {
  const link = h('a', { class: 'button button--quiet', id, download: filename }, label);
  link.href = URL.createObjectURL(new Blob([contents], { type }));
  return link;
}

/** A statistic: numbers as they are, text marked as text. */
function value(v) {
  return typeof v === 'string' ? text(v) : v;
}

/** Text a spreadsheet must not run as a formula gets a leading apostrophe. */
function text(v) {
  return { text: /^[=+\-@\t\r]/.test(v) ? `'${v}` : v };
}

function field(v) {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'object' ? v.text : String(v);
  return /[",\r\n]|^\s|\s$/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}
