/**
 * The VMC dashboards' colours, one place: set as CSS custom properties at start (styles.css uses
 * only the variables) and handed to the charts, and checked by palette.test.ts against WCAG 2.x
 * AA — 4.5:1 for every text pair (chart labels included), 3:1 for bars, lines and status marks
 * against the surface they are drawn on. (The lane console has a palette of its own: the two
 * front-ends share no code.)
 */
import { applyPalette as applyColours } from '../../shared/contrast.js';

export { contrast, luminance } from '../../shared/contrast.js';

export const PALETTE = {
  bg: '#f4f6f8',
  surface: '#ffffff',
  tile: '#eef2f7',
  text: '#16202a',
  muted: '#4a5663',
  border: '#8a96a3',
  grid: '#d5d9de',
  primary: '#0b5cad',
  onPrimary: '#ffffff',
  header: '#16324f',
  onHeader: '#ffffff',
  up: '#1e7a3c',
  degraded: '#8a4b00',
  down: '#b3261e',
  focus: '#0b5cad',
  /** This period's bars, and the previous year's beside them. */
  current: '#0b5cad',
  previous: '#7d8896',
  /** Channel segments, each with the colour of the share printed on it. */
  green: '#1e6e35',
  onGreen: '#ffffff',
  orange: '#f2b24b',
  onOrange: '#16202a',
  red: '#b3261e',
  onRed: '#ffffff',
  /** The interval chart: vehicles as bars, the cumulative % as the curve. */
  chartBars: '#0b5cad',
  chartLine: '#b3261e',
} as const;

export type PaletteName = keyof typeof PALETTE;

/** Text (or graphics) drawn in one colour on another, and the contrast each must reach. */
export const PAIRS: [PaletteName, PaletteName, number][] = [
  ['text', 'bg', 4.5],
  ['text', 'surface', 4.5],
  ['text', 'tile', 4.5],
  ['muted', 'surface', 4.5],
  ['muted', 'tile', 4.5],
  ['muted', 'bg', 4.5],
  ['primary', 'surface', 4.5],
  ['onPrimary', 'primary', 4.5],
  ['onHeader', 'header', 4.5],
  ['up', 'surface', 4.5],
  ['up', 'tile', 4.5],
  ['degraded', 'surface', 4.5],
  ['degraded', 'tile', 4.5],
  ['primary', 'tile', 4.5],
  ['down', 'surface', 4.5],
  ['down', 'tile', 4.5],
  ['onGreen', 'green', 4.5],
  ['onOrange', 'orange', 4.5],
  ['onRed', 'red', 4.5],
  ['focus', 'surface', 3],
  ['focus', 'bg', 3],
  ['border', 'surface', 3],
  ['current', 'surface', 3],
  ['previous', 'surface', 3],
  ['current', 'previous', 1.5],
  ['green', 'surface', 3],
  ['red', 'surface', 3],
  ['chartBars', 'surface', 3],
  ['chartLine', 'surface', 3],
];

/** Sets `--c-<name>` on the document for every colour of this palette. */
export function applyPalette(root: HTMLElement): void {
  applyColours(root, PALETTE);
}
