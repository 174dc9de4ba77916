// SVG charts built element by element: a histogram and a bar list of top values.

import { formatCount, formatNumber, formatTime, s } from './dom.js';

const WIDTH = 320;
const HEIGHT = 140;
const PAD = { top: 8, right: 4, bottom: 22, left: 4 };

/** Formats an edge of a histogram for its column type. */
export function edgeFormatter(type) {
  return type === 'datetime' ? (v) => formatTime(v) : (v) => formatNumber(v);
}

/**
 * A histogram of `edges` (n+1 numbers) and `counts` (n numbers) as an accessible SVG:
 * one <rect> per bin with a <title> naming its range and count.
 */
export function histogram({ edges, counts }, { type, label }) {
  const format = edgeFormatter(type);
  const max = Math.max(1, ...counts);
  const innerW = WIDTH - PAD.left - PAD.right;
  const innerH = HEIGHT - PAD.top - PAD.bottom;
  const barW = innerW / counts.length;
  const total = counts.reduce((a, b) => a + b, 0);
  const first = format(edges[0]);
  const last = format(edges[edges.length - 1]);

  const svg = s('svg', {
    class: 'histogram',
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: 'img',
    'aria-label': `Histogram of ${label}: ${formatCount(total)} values in ${counts.length} bins from ${first} to ${last}; the fullest bin holds ${formatCount(max)}.`,
  });
  svg.append(s('line', { class: 'histogram__axis', x1: PAD.left, x2: WIDTH - PAD.right, y1: HEIGHT - PAD.bottom + 0.5, y2: HEIGHT - PAD.bottom + 0.5 }));
  counts.forEach((count, i) => {
    const height = count === 0 ? 0 : Math.max(1, (count / max) * innerH);
    const x = PAD.left + i * barW;
    const closing = i === counts.length - 1 ? ']' : ')';
    svg.append(s('rect', {
      class: 'histogram__bar',
      x: (x + 0.75).toFixed(2),
      y: (HEIGHT - PAD.bottom - height).toFixed(2),
      width: Math.max(0.5, barW - 1.5).toFixed(2),
      height: height.toFixed(2),
      'data-count': count,
    }, s('title', null, `[${format(edges[i])}, ${format(edges[i + 1])}${closing}: ${formatCount(count)}`)));
  });
  svg.append(
    s('text', { class: 'histogram__tick', x: PAD.left, y: HEIGHT - 6, 'text-anchor': 'start' }, first),
    s('text', { class: 'histogram__tick', x: WIDTH - PAD.right, y: HEIGHT - 6, 'text-anchor': 'end' }, last),
  );
  return svg;
}
