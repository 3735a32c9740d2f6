import { describe, expect, it } from 'vitest';
import { figureSvg, formatNumber, niceTicks, panelSvg, wrapText, type Panel } from './svg-plot.js';

const panel: Panel = {
  title: 'CPU per vehicle',
  x: { label: 'lanes', log: true, ticks: [1, 4, 16, 64] },
  y: { label: 'CPU ms per vehicle' },
  series: [
    { name: 'all <measured> & more', points: [[1, 12], [4, 10], [16, 9.5], [64, 9.7]] },
    { name: 'marginal', points: [[4, 9], [16, 9.2], [64, 9.9]], dashed: true },
  ],
};

/** The numbers of every `attr="…"` in `svg`. */
const numbers = (svg: string, attr: string): number[] => [...svg.matchAll(new RegExp(` ${attr}="([-0-9.]+)"`, 'g'))].map((m) => Number(m[1]));

describe('niceTicks', () => {
  it('gives round steps from the minimum to past the maximum', () => {
    expect(niceTicks(0, 9.7)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(niceTicks(0, 41_000)).toEqual([0, 10_000, 20_000, 30_000, 40_000, 50_000]);
    expect(niceTicks(0, 0.3)).toEqual([0, 0.1, 0.2, 0.3]);
  });
});

describe('formatNumber', () => {
  it('keeps tick labels short', () => {
    expect(formatNumber(1_000_000)).toBe('1 M');
    expect(formatNumber(100_000)).toBe('100 k');
    expect(formatNumber(4000)).toBe('4,000');
    expect(formatNumber(2.5)).toBe('2.5');
  });
});

describe('panelSvg', () => {
  const svg = panelSvg(panel, 460, 330);

  it('puts the log axis ticks evenly apart (1, 4, 16, 64 are powers of 4)', () => {
    const tickXs = [...svg.matchAll(/<text x="([0-9.]+)" y="[0-9.]+" font-size="12.5" text-anchor="middle">/g)].map((m) => Number(m[1]));
    expect(tickXs).toHaveLength(4);
    const gaps = tickXs.slice(1).map((x, i) => x - (tickXs[i] as number));
    for (const gap of gaps) expect(gap).toBeCloseTo(gaps[0] as number, 0);
  });

  it('keeps every point inside the panel, higher values higher up', () => {
    const xs = numbers(svg, 'cx');
    const ys = numbers(svg, 'cy');
    for (const x of xs) expect(x).toBeGreaterThanOrEqual(0);
    for (const x of xs) expect(x).toBeLessThanOrEqual(460);
    for (const y of ys) expect(y).toBeLessThanOrEqual(330);
    // After the two legend markers, the first series' points: 12 ms is drawn above 9.5 ms.
    const [y12, , y95] = ys.slice(2);
    expect(y12 as number).toBeLessThan(y95 as number);
  });

  it('escapes the text it is given', () => {
    expect(svg).toContain('all &lt;measured&gt; &amp; more');
    expect(svg).not.toContain('<measured>');
  });
});

describe('wrapText', () => {
  it('breaks between words, never inside one', () => {
    expect(wrapText('twelve trucks per lane per hour', 14)).toEqual(['twelve trucks', 'per lane per', 'hour']);
    expect(wrapText('a verylongwordindeed b', 5)).toEqual(['a', 'verylongwordindeed', 'b']);
  });
});

describe('figureSvg', () => {
  it('sizes the figure to its grid of panels under a header', () => {
    const svg = figureSvg({ title: 'Scale', subtitle: 'here', panels: [panel, panel, panel], columns: 2, panelWidth: 400, panelHeight: 300 });
    // Title 36 + one subtitle line 18 + gap 12, then two rows of panels.
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="800" height="666"/);
    expect(svg.match(/<g transform="translate\(/g)).toHaveLength(3 + 3);
  });

  it('wraps a subtitle wider than the figure onto more lines, and grows to fit them', () => {
    const subtitle = 'words '.repeat(60).trim();
    const svg = figureSvg({ title: 'Scale', subtitle, panels: [panel], columns: 1, panelWidth: 400, panelHeight: 300 });
    const lines = [...svg.matchAll(/<text x="16" y="[0-9.]+" font-size="13" fill="#555555">([^<]*)<\/text>/g)].map((m) => m[1] as string);
    expect(lines.length).toBeGreaterThan(1);
    expect(lines.join(' ')).toBe(subtitle);
    for (const line of lines) expect(line.length * 7.4).toBeLessThanOrEqual(400 - 32);
    expect(svg).toMatch(new RegExp(`height="${36 + lines.length * 18 + 12 + 300}"`));
  });
});
