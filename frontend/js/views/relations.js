// How the columns relate: a correlation heatmap, group summaries with a column picker,
// and a scatter plot of the analysis's sample. Plain SVG, built element by element.

import { formatCount, formatNumber, h, replace, s } from '../dom.js';

const CELL = 44;
const LABEL = 130;
const SCATTER = { width: 560, height: 360, pad: { top: 12, right: 16, bottom: 40, left: 64 } };
const PALETTE = ['#2454d6', '#d9480f', '#2b8a3e', '#ae3ec9', '#e8590c', '#1098ad', '#c2255c', '#5c940d', '#845ef7', '#495057'];

/** The sections for an analysis that has them; nothing for one stored before they existed. */
export function relationSections(analysis) {
  return [
    analysis.correlations ? correlationSection(analysis.correlations) : null,
    analysis.group_summaries?.length ? groupSection(analysis.group_summaries) : null,
    analysis.sample?.numbers?.length >= 2 ? scatterSection(analysis.sample) : null,
    analysis.missing_by_position?.columns?.length ? missingSection(analysis.missing_by_position, analysis.rows) : null,
  ];
}

// ---- correlations ----------------------------------------------------------------

function correlationSection(correlations) {
  const methods = [['pearson', 'Pearson'], ...(correlations.spearman ? [['spearman', 'Spearman']] : [])];
  const readout = h('p', { class: 'heatmap__readout', id: 'correlation-readout', role: 'status', 'aria-live': 'polite' },
    'Point at or focus a cell to read its coefficient; arrow keys move between cells.');
  const holder = h('div', { class: 'heatmap-scroll' });
  const picker = h('select', { id: 'correlation-method', class: 'select' },
    methods.map(([key, label]) => h('option', { value: key }, label)));
  const draw = () => replace(holder, heatmap(correlations, picker.value, readout));
  picker.addEventListener('change', draw);
  draw();
  return h('section', { class: 'card', 'aria-labelledby': 'correlations-title' },
    h('h2', { id: 'correlations-title' }, 'Correlations'),
    h('p', { class: 'muted' }, 'Between numeric columns, over the rows where both are present. “—” means undefined: a constant column, or fewer than two shared rows.'),
    h('div', { class: 'field field--inline' }, h('label', { for: 'correlation-method' }, 'Coefficient'), picker),
    holder, readout);
}

function heatmap(correlations, method, readout) {
  const names = correlations.columns;
  const matrix = correlations[method];
  const n = names.length;
  const size = LABEL + n * CELL;
  const svg = s('svg', {
    class: 'heatmap', id: 'correlation-heatmap', viewBox: `0 0 ${size} ${size}`, width: size, height: size,
    role: 'grid', 'aria-label': `${method === 'pearson' ? 'Pearson' : 'Spearman'} correlations of ${n} numeric columns`,
  });
  names.forEach((name, i) => {
    svg.append(
      s('text', { class: 'heatmap__label', x: LABEL - 6, y: LABEL + i * CELL + CELL / 2, 'text-anchor': 'end', 'dominant-baseline': 'middle' }, short(name)),
      s('text', { class: 'heatmap__label', 'text-anchor': 'start', 'dominant-baseline': 'middle',
        transform: `translate(${LABEL + i * CELL + CELL / 2} ${LABEL - 6}) rotate(-60)` }, short(name)));
  });
  const cells = [];
  const describe = (i, j) => {
    const v = matrix[i][j];
    const pairs = correlations.pairs?.[i]?.[j];
    return `${names[i]} and ${names[j]}: ${v === null ? 'undefined' : formatR(v)}${pairs === undefined ? '' : ` over ${formatCount(pairs)} rows`}`;
  };
  for (let i = 0; i < n; i += 1) {
    const row = s('g', { role: 'row' });
    for (let j = 0; j < n; j += 1) {
      const v = matrix[i][j];
      const cell = s('g', {
        class: 'heatmap__cell', role: 'gridcell', tabindex: i === 0 && j === 0 ? 0 : -1,
        'aria-label': describe(i, j), 'data-row': names[i], 'data-column': names[j], 'data-value': v === null ? 'null' : v,
      },
      s('rect', { x: LABEL + j * CELL + 1, y: LABEL + i * CELL + 1, width: CELL - 2, height: CELL - 2, rx: 3, fill: colour(v) }),
      s('text', { class: ['heatmap__value', v !== null && Math.abs(v) > 0.6 && 'heatmap__value--strong'], x: LABEL + j * CELL + CELL / 2, y: LABEL + i * CELL + CELL / 2, 'text-anchor': 'middle', 'dominant-baseline': 'middle' },
        v === null ? '—' : v.toFixed(2)),
      s('title', null, describe(i, j)));
      const show = () => { readout.textContent = describe(i, j); };
      cell.addEventListener('mouseenter', show);
      cell.addEventListener('focus', show);
      cell.addEventListener('keydown', (event) => {
        const moves = { ArrowRight: [0, 1], ArrowLeft: [0, -1], ArrowDown: [1, 0], ArrowUp: [-1, 0], Home: [0, -n], End: [0, n] };
        const move = moves[event.key];
        if (!move) return;
        event.preventDefault();
        const ni = Math.min(n - 1, Math.max(0, i + move[0]));
        const nj = Math.min(n - 1, Math.max(0, j + move[1]));
        cell.setAttribute('tabindex', '-1');
        const next = cells[ni * n + nj];
        next.setAttribute('tabindex', '0');
        next.focus();
      });
      cells.push(cell);
      row.append(cell);
    }
    svg.append(row);
  }
  return svg;
}

function formatR(v) {
  return v.toFixed(3);
}

/** Blue for positive, red for negative, paler towards zero; grey where undefined. */
function colour(v) {
  if (v === null || v === undefined) return '#9aa6b2';
  const t = Math.min(1, Math.abs(v));
  const [r, g, b] = v >= 0 ? [36, 84, 214] : [200, 50, 30];
  const mix = (c) => Math.round(255 + (c - 255) * t);
  return `rgb(${mix(r)} ${mix(g)} ${mix(b)})`;
}

function short(name) {
  return name.length > 18 ? `${name.slice(0, 17)}…` : name;
}

// ---- group summaries -------------------------------------------------------------

function groupSection(summaries) {
  const by = h('select', { id: 'group-by', class: 'select' }, summaries.map((g, i) => h('option', { value: i }, g.by)));
  const column = h('select', { id: 'group-column', class: 'select' });
  const holder = h('div', { class: 'table-scroll', tabindex: 0, role: 'region', 'aria-labelledby': 'groups-title' });
  const fillColumns = () => {
    const summary = summaries[Number(by.value)];
    const keep = column.value;
    replace(column, summary.columns.map((c, i) => h('option', { value: i, selected: c.name === keep }, c.name)));
  };
  const draw = () => {
    const summary = summaries[Number(by.value)];
    const grouped = summary.columns[Number(column.value)];
    if (!grouped) {
      replace(holder, h('p', { class: 'muted' }, 'There is no numeric column to summarise.'));
      return;
    }
    const num = (text) => h('td', { class: 'num' }, text);
    replace(holder, h('table', { class: 'table', id: 'group-table' },
      h('caption', { class: 'visually-hidden' }, `${grouped.name} by ${summary.by}`),
      h('thead', null, h('tr', null, [summary.by, 'Rows', 'Values', 'Mean', 'Min', 'Max'].map((label, i) => h('th', { scope: 'col', class: i > 0 ? 'num' : null }, label)))),
      h('tbody', null, summary.groups.map((group, g) => {
        const stat = grouped.stats[g];
        return h('tr', { 'data-group': group },
          h('th', { scope: 'row' }, group === '' ? '(empty)' : group),
          num(formatCount(summary.sizes[g])), num(formatCount(stat.count)),
          num(formatNumber(stat.mean)), num(formatNumber(stat.min)), num(formatNumber(stat.max)));
      }))));
  };
  by.addEventListener('change', () => { fillColumns(); draw(); });
  column.addEventListener('change', draw);
  fillColumns();
  draw();
  return h('section', { class: 'card', 'aria-labelledby': 'groups-title' },
    h('h2', { id: 'groups-title' }, 'Group summaries'),
    h('div', { class: 'pickers' },
      h('div', { class: 'field field--inline' }, h('label', { for: 'group-by' }, 'Group by'), by),
      h('div', { class: 'field field--inline' }, h('label', { for: 'group-column' }, 'Column'), column)),
    holder);
}

// ---- scatter plot ----------------------------------------------------------------

function scatterSection(sample) {
  const option = (series, i) => h('option', { value: i }, series.name);
  const x = h('select', { id: 'scatter-x', class: 'select' }, sample.numbers.map(option));
  const y = h('select', { id: 'scatter-y', class: 'select' }, sample.numbers.map(option));
  y.value = '1';
  const colourBy = h('select', { id: 'scatter-colour', class: 'select' },
    h('option', { value: '' }, 'None'), (sample.labels ?? []).map(option));
  const holder = h('figure', { class: 'chart scatter-figure' });
  const draw = () => replace(holder, ...scatter(sample, Number(x.value), Number(y.value), colourBy.value === '' ? null : Number(colourBy.value)));
  for (const select of [x, y, colourBy]) select.addEventListener('change', draw);
  draw();
  return h('section', { class: 'card', 'aria-labelledby': 'scatter-title' },
    h('h2', { id: 'scatter-title' }, 'Scatter plot'),
    h('p', { class: 'muted' }, `From a sample of ${formatCount(sample.rows.length)} rows.`),
    h('div', { class: 'pickers' },
      h('div', { class: 'field field--inline' }, h('label', { for: 'scatter-x' }, 'Horizontal'), x),
      h('div', { class: 'field field--inline' }, h('label', { for: 'scatter-y' }, 'Vertical'), y),
      h('div', { class: 'field field--inline' }, h('label', { for: 'scatter-colour' }, 'Colour by'), colourBy)),
    holder);
}

function scatter(sample, xi, yi, ci) {
  const xs = sample.numbers[xi];
  const ys = sample.numbers[yi];
  const colours = ci === null ? null : sample.labels[ci];
  const points = [];
  xs.values.forEach((xv, i) => {
    const yv = ys.values[i];
    if (xv !== null && yv !== null) points.push([xv, yv, colours ? colours.values[i] : null]);
  });
  const { width, height, pad } = SCATTER;
  const extent = (k) => {
    let lo = Math.min(...points.map((p) => p[k]));
    let hi = Math.max(...points.map((p) => p[k]));
    if (lo === hi) { lo -= 1; hi += 1; }
    return [lo, hi];
  };
  const [x0, x1] = points.length ? extent(0) : [0, 1];
  const [y0, y1] = points.length ? extent(1) : [0, 1];
  const px = (v) => pad.left + ((v - x0) / (x1 - x0)) * (width - pad.left - pad.right);
  const py = (v) => height - pad.bottom - ((v - y0) / (y1 - y0)) * (height - pad.top - pad.bottom);
  const groups = colours ? [...new Set(points.map((p) => p[2]))].sort((a, b) => (a === null) - (b === null) || String(a).localeCompare(String(b))) : [];
  const fill = (label) => (colours ? PALETTE[groups.indexOf(label) % PALETTE.length] : PALETTE[0]);
  const svg = s('svg', {
    class: 'scatter', id: 'scatter-plot', viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-label': `Scatter plot of ${ys.name} against ${xs.name}: ${formatCount(points.length)} points${colours ? `, coloured by ${colours.name}` : ''}.`,
  });
  svg.append(
    s('line', { class: 'scatter__axis', x1: pad.left, x2: width - pad.right, y1: height - pad.bottom, y2: height - pad.bottom }),
    s('line', { class: 'scatter__axis', x1: pad.left, x2: pad.left, y1: pad.top, y2: height - pad.bottom }),
    s('text', { class: 'scatter__tick', x: pad.left, y: height - pad.bottom + 14, 'text-anchor': 'start' }, formatNumber(x0)),
    s('text', { class: 'scatter__tick', x: width - pad.right, y: height - pad.bottom + 14, 'text-anchor': 'end' }, formatNumber(x1)),
    s('text', { class: 'scatter__tick', x: pad.left - 6, y: height - pad.bottom, 'text-anchor': 'end' }, formatNumber(y0)),
    s('text', { class: 'scatter__tick', x: pad.left - 6, y: pad.top + 8, 'text-anchor': 'end' }, formatNumber(y1)),
    s('text', { class: 'scatter__title', x: (pad.left + width - pad.right) / 2, y: height - 6, 'text-anchor': 'middle' }, xs.name),
    s('text', { class: 'scatter__title', 'text-anchor': 'middle', transform: `translate(14 ${(pad.top + height - pad.bottom) / 2}) rotate(-90)` }, ys.name));
  const layer = s('g', { class: 'scatter__points' });
  for (const [xv, yv, label] of points) {
    layer.append(s('circle', { class: 'scatter__point', cx: px(xv).toFixed(1), cy: py(yv).toFixed(1), r: 3, fill: fill(label), 'data-group': label ?? '' },
      s('title', null, `${xs.name} ${formatNumber(xv)}, ${ys.name} ${formatNumber(yv)}${colours ? `, ${colours.name} ${label ?? '(missing)'}` : ''}`)));
  }
  svg.append(layer);
  const legend = colours
    ? h('ul', { class: 'legend', id: 'scatter-legend' }, groups.map((label) => {
      const swatch = h('span', { class: 'legend__swatch', 'aria-hidden': 'true' });
      // CSSOM, not a style attribute: the Content-Security-Policy allows this.
      swatch.style.backgroundColor = fill(label);
      return h('li', null, swatch, label ?? '(missing)');
    }))
    : null;
  return [svg, legend, h('figcaption', { class: 'muted' }, `${formatCount(points.length)} points with both values present.`)];
}

// ---- missing values by position --------------------------------------------------

function missingSection(missing, rows) {
  const width = 20 * 16;
  const names = missing.columns;
  const svg = s('svg', {
    class: 'missing-map', id: 'missing-map', viewBox: `0 0 ${LABEL + width} ${names.length * 18 + 4}`, role: 'img',
    'aria-label': `Share of missing cells in ${names.length} columns, in 20 slices of the file from first row to last.`,
  });
  names.forEach((column, i) => {
    svg.append(s('text', { class: 'heatmap__label', x: LABEL - 6, y: i * 18 + 11, 'text-anchor': 'end', 'dominant-baseline': 'middle' }, short(column.name)));
    column.shares.forEach((share, b) => {
      const start = missing.bucket_starts[b];
      const end = missing.bucket_starts[b + 1] ?? rows;
      const label = share === null ? 'no rows' : `${formatNumber(share * 100)}% missing`;
      const kind = share === null ? 'empty' : share === 0 ? 'none' : 'some';
      svg.append(s('rect', {
        class: `missing-map__${kind}`, x: LABEL + b * 16, y: i * 18 + 2, width: 15, height: 16,
        'fill-opacity': kind === 'some' ? Math.max(0.15, share).toFixed(3) : null, 'data-share': share ?? 'null',
      }, s('title', null, `${column.name}, rows ${formatCount(start + 1)} to ${formatCount(end)}: ${label}`)));
    });
  });
  return h('section', { class: 'card', 'aria-labelledby': 'missing-title' },
    h('h2', { id: 'missing-title' }, 'Missing values by position'),
    h('p', { class: 'muted' }, 'Each square is a twentieth of the rows, in file order; the darker, the more cells missing, and an outlined square has none. Columns without missing cells are left out.'),
    h('div', { class: 'heatmap-scroll' }, svg));
}
