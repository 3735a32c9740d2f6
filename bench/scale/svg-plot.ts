/**
 * Line charts as SVG text, for the scale curves in docs/benchmarks.md: no plotting library is
 * available offline, and a chart of a handful of points needs only axes, ticks, grid lines,
 * labelled lines with markers and a legend. A figure is a grid of panels under one title;
 * rasterise.ts turns it into a PNG.
 */

export interface Series {
  name: string;
  points: readonly (readonly [x: number, y: number])[];
  /** Drawn dashed (a reference line, e.g. "flat" or a peer). */
  dashed?: boolean;
}

export interface Axis {
  /** The axis title, with its unit. */
  label: string;
  /** Logarithmic scale (x of the scale curves: 1, 4, 16, 64 lanes; 10k … 1M events). */
  log?: boolean;
  /** Tick values; default: about five round values across the data. */
  ticks?: readonly number[];
  /** Tick label text; default: `formatNumber`. */
  format?: (value: number) => string;
  /** Lowest value shown; default 0 on a linear axis, the smallest value on a log one. */
  min?: number;
}

export interface Panel {
  title: string;
  x: Axis;
  y: Axis;
  series: readonly Series[];
}

export interface Figure {
  title: string;
  /** A line under the title: what was measured, where, when. */
  subtitle: string;
  panels: readonly Panel[];
  columns: number;
  panelWidth?: number;
  panelHeight?: number;
}

/** Okabe–Ito: told apart with the common colour-vision deficiencies, and in greyscale by dash. */
const COLOURS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9'];
const FONT = 'DejaVu Sans, Liberation Sans, sans-serif';
const MARGIN = { left: 78, right: 32, top: 34, bottom: 58 };
/** Room per legend row, and a width estimate per character at the legend's 13 px. */
const LEGEND_ROW = 20;
const CHAR_WIDTH = 7.4;
/** Title line, then subtitle lines of this height, then a gap before the panels. */
const TITLE_HEIGHT = 36;
const SUBTITLE_LINE = 18;
const HEADER_GAP = 12;

/** 1 234, 12.3 k, 1.2 M: short tick labels. */
export function formatNumber(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 1e6) return `${trim(value / 1e6)} M`;
  if (abs >= 1e4) return `${trim(value / 1e3)} k`;
  if (abs >= 100 || Number.isInteger(value)) return Math.round(value).toLocaleString('en-US');
  return trim(value);
}

function trim(value: number): string {
  return String(Number(value.toPrecision(3)));
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** About `count` round ticks (1, 2 or 5 × 10^k apart) from `min` to past `max`. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  const span = max - min || Math.abs(max) || 1;
  const raw = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude;
  const ticks: number[] = [];
  for (let value = Math.floor(min / step) * step; value < max + step - step * 1e-9; value += step) ticks.push(Number(value.toPrecision(12)));
  return ticks;
}

interface Scale {
  at(value: number): number;
  ticks: number[];
}

function scaleOf(axis: Axis, values: number[], from: number, to: number): Scale {
  const dataMin = Math.min(...values);
  const dataMax = Math.max(...values);
  if (axis.log) {
    const ticks = [...(axis.ticks ?? [dataMin, dataMax])];
    const low = Math.log(Math.min(axis.min ?? dataMin, ...ticks));
    const high = Math.log(Math.max(dataMax, ...ticks));
    const span = high - low || 1;
    return { ticks, at: (value) => from + ((Math.log(value) - low) / span) * (to - from) };
  }
  const ticks = [...(axis.ticks ?? niceTicks(axis.min ?? Math.min(0, dataMin), dataMax))];
  const low = Math.min(axis.min ?? 0, ...ticks);
  const high = Math.max(dataMax, ...ticks);
  const span = high - low || 1;
  return { ticks, at: (value) => from + ((value - low) / span) * (to - from) };
}

/** Legend items laid out in rows that fit `width`; returns the SVG and the rows used. */
function legend(series: readonly Series[], width: number): { svg: string; rows: number } {
  const parts: string[] = [];
  let x = 0;
  let row = 0;
  series.forEach((s, i) => {
    const itemWidth = 30 + s.name.length * CHAR_WIDTH + 18;
    if (x > 0 && x + itemWidth > width) {
      x = 0;
      row += 1;
    }
    const y = row * LEGEND_ROW;
    const colour = COLOURS[i % COLOURS.length] as string;
    parts.push(
      `<line x1="${x}" y1="${y}" x2="${x + 24}" y2="${y}" stroke="${colour}" stroke-width="2.5"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
      `<circle cx="${x + 12}" cy="${y}" r="3.5" fill="${colour}"/>`,
      `<text x="${x + 30}" y="${y + 4.5}" font-size="13">${escape(s.name)}</text>`,
    );
    x += itemWidth;
  });
  return { svg: parts.join(''), rows: row + 1 };
}

/**
 * One panel as an SVG group of `width` × `height`, its origin at the top left. `legendRows`
 * reserves room for that many legend rows (at least what this panel's legend needs), so that the
 * panels of one figure row have their plots at the same height.
 */
export function panelSvg(panel: Panel, width: number, height: number, legendRows = 1): string {
  const key = legend(panel.series, width - MARGIN.left - MARGIN.right);
  const top = MARGIN.top + Math.max(legendRows, key.rows) * LEGEND_ROW;
  const bottom = height - MARGIN.bottom;
  const left = MARGIN.left;
  const right = width - MARGIN.right;
  const points = panel.series.flatMap((s) => s.points);
  const xs = scaleOf(panel.x, points.map(([x]) => x), left, right);
  const ys = scaleOf(panel.y, points.map(([, y]) => y), bottom, top);
  const fx = panel.x.format ?? formatNumber;
  const fy = panel.y.format ?? formatNumber;
  const out: string[] = [];
  out.push(`<text x="${left}" y="18" font-size="15" font-weight="bold">${escape(panel.title)}</text>`);
  out.push(`<g transform="translate(${left + 4},${MARGIN.top + 4})">${key.svg}</g>`);
  for (const tick of ys.ticks) {
    const y = ys.at(tick).toFixed(1);
    out.push(`<line x1="${left}" y1="${y}" x2="${right}" y2="${y}" stroke="#dddddd"/>`);
    out.push(`<text x="${left - 8}" y="${Number(y) + 4.5}" font-size="12.5" text-anchor="end">${escape(fy(tick))}</text>`);
  }
  for (const tick of xs.ticks) {
    const x = xs.at(tick).toFixed(1);
    out.push(`<line x1="${x}" y1="${top}" x2="${x}" y2="${bottom}" stroke="#eeeeee"/>`);
    out.push(`<line x1="${x}" y1="${bottom}" x2="${x}" y2="${bottom + 5}" stroke="#333333"/>`);
    out.push(`<text x="${x}" y="${bottom + 20}" font-size="12.5" text-anchor="middle">${escape(fx(tick))}</text>`);
  }
  out.push(`<line x1="${left}" y1="${bottom}" x2="${right}" y2="${bottom}" stroke="#333333"/>`);
  out.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${bottom}" stroke="#333333"/>`);
  out.push(`<text x="${(left + right) / 2}" y="${height - 14}" font-size="13.5" text-anchor="middle">${escape(panel.x.label)}</text>`);
  const yMid = (top + bottom) / 2;
  out.push(`<text x="18" y="${yMid}" font-size="13.5" text-anchor="middle" transform="rotate(-90 18 ${yMid})">${escape(panel.y.label)}</text>`);
  panel.series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length] as string;
    const path = s.points.map(([x, y]) => `${xs.at(x).toFixed(1)},${ys.at(y).toFixed(1)}`).join(' ');
    out.push(`<polyline points="${path}" fill="none" stroke="${colour}" stroke-width="2.5"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    for (const [x, y] of s.points) out.push(`<circle cx="${xs.at(x).toFixed(1)}" cy="${ys.at(y).toFixed(1)}" r="3.5" fill="${colour}"/>`);
  });
  return out.join('\n');
}

/** Words of `text` in lines of at most `maxChars` (a word longer than that gets a line of its own). */
export function wrapText(text: string, maxChars: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > maxChars) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines;
}

/** The whole figure: title, subtitle and the panels in a grid, on a white background. */
export function figureSvg(figure: Figure): string {
  const width = figure.panelWidth ?? 460;
  const height = figure.panelHeight ?? 330;
  const rows = Math.ceil(figure.panels.length / figure.columns);
  const totalWidth = width * figure.columns;
  // The subtitle at 13 px is about as wide per character as the legend's text.
  const subtitle = wrapText(figure.subtitle, Math.floor((totalWidth - 32) / CHAR_WIDTH));
  const header = TITLE_HEIGHT + subtitle.length * SUBTITLE_LINE + HEADER_GAP;
  const totalHeight = header + rows * height;
  const legendRows = Math.max(...figure.panels.map((panel) => legend(panel.series, width - MARGIN.left - MARGIN.right).rows));
  const panels = figure.panels.map((panel, i) => {
    const x = (i % figure.columns) * width;
    const y = header + Math.floor(i / figure.columns) * height;
    return `<g transform="translate(${x},${y})">\n${panelSvg(panel, width, height, legendRows)}\n</g>`;
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${totalWidth}" height="${totalHeight}" viewBox="0 0 ${totalWidth} ${totalHeight}" font-family="${FONT}" fill="#222222">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="16" y="28" font-size="19" font-weight="bold">${escape(figure.title)}</text>`,
    ...subtitle.map((line, i) => `<text x="16" y="${TITLE_HEIGHT + 14 + i * SUBTITLE_LINE}" font-size="13" fill="#555555">${escape(line)}</text>`),
    ...panels,
    '</svg>',
    '',
  ].join('\n');
}
