/**
 * The console's colours, one place: applied as CSS custom properties at start (styles.css uses
 * only the variables) and checked by palette.test.ts against WCAG 2.x AA — 4.5:1 for every text
 * pair, 3:1 for the status dots and focus ring against their backgrounds.
 */
import { applyPalette as applyColours } from '../../shared/contrast.js';

export { contrast, luminance } from '../../shared/contrast.js';

export const PALETTE = {
  bg: '#f4f6f8',
  surface: '#ffffff',
  text: '#16202a',
  muted: '#4a5663',
  border: '#8a96a3',
  primary: '#0b5cad',
  onPrimary: '#ffffff',
  danger: '#a4161a',
  onDanger: '#ffffff',
  dangerBg: '#fdecec',
  warnBg: '#fff4e0',
  warnText: '#6b3a00',
  okBg: '#e7f5ec',
  okText: '#17572b',
  green: '#1e6e35',
  onGreen: '#ffffff',
  orange: '#f2b24b',
  onOrange: '#16202a',
  red: '#b3261e',
  onRed: '#ffffff',
  up: '#1e7a3c',
  degraded: '#b35c00',
  down: '#b3261e',
  focus: '#0b5cad',
  header: '#16324f',
  onHeader: '#ffffff',
  chartBars: '#0b5cad',
  chartLine: '#b3261e',
} as const;

export type PaletteName = keyof typeof PALETTE;

/** Text (or graphics) drawn in one colour on another, and the contrast each must reach. */
export const PAIRS: [PaletteName, PaletteName, number][] = [
  ['text', 'bg', 4.5],
  ['text', 'surface', 4.5],
  ['muted', 'surface', 4.5],
  ['muted', 'bg', 4.5],
  ['primary', 'surface', 4.5],
  ['onPrimary', 'primary', 4.5],
  ['danger', 'surface', 4.5],
  ['danger', 'dangerBg', 4.5],
  ['onDanger', 'danger', 4.5],
  ['warnText', 'warnBg', 4.5],
  ['okText', 'okBg', 4.5],
  ['onGreen', 'green', 4.5],
  ['onOrange', 'orange', 4.5],
  ['onRed', 'red', 4.5],
  ['onHeader', 'header', 4.5],
  ['up', 'surface', 3],
  ['degraded', 'surface', 3],
  ['down', 'surface', 3],
  ['focus', 'surface', 3],
  ['focus', 'bg', 3],
  ['border', 'surface', 3],
  ['chartBars', 'surface', 3],
  ['chartLine', 'surface', 3],
];

/** Sets `--c-<name>` on the document for every colour of this palette. */
export function applyPalette(root: HTMLElement): void {
  applyColours(root, PALETTE);
}
