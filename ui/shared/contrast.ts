/**
 * WCAG 2.x contrast, for the palettes of the console and the VMC dashboards (each checks its own
 * pairs in a test), and the palette applied as CSS variables.
 */

function channel(value: number): number {
  const c = value / 255;
  return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
}

/** WCAG 2.x relative luminance of a #rrggbb colour. */
export function luminance(hex: string): number {
  const n = Number.parseInt(hex.slice(1), 16);
  return 0.2126 * channel((n >> 16) & 255) + 0.7152 * channel((n >> 8) & 255) + 0.0722 * channel(n & 255);
}

export function contrast(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}

/** Sets `--c-<name>` on the document for every colour (CSSOM: allowed under `default-src 'self'`). */
export function applyPalette(root: HTMLElement, palette: Record<string, string>): void {
  for (const [name, value] of Object.entries(palette)) root.style.setProperty(`--c-${name}`, value);
}
