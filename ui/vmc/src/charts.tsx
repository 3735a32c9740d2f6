/**
 * The dashboard's bar charts, drawn as SVG (text stays text: readable, selectable, and what the
 * browser test reads back): grouped bars (this year against the last, per direction or per
 * year), stacked channel shares per year, and the monthly dynamics. Colours come from the
 * palette as presentation attributes (no inline style, so `default-src 'self'` holds). Each
 * chart is drawn at the width its box has (a ResizeObserver), so text keeps its size whatever
 * the column is.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { compact } from './figures.js';
import { PALETTE, type PaletteName } from './palette.js';

export interface BarSeries {
  name: string;
  color: PaletteName;
  values: (number | null)[];
}

const PAD = { left: 44, right: 8, top: 18, bottom: 40 };

/** A round top for the y axis (1, 2, 2.5, 5 × 10^n) and its ticks. */
export function niceScale(max: number, ticks = 4): { top: number; step: number } {
  if (!(max > 0)) return { top: 1, step: 0.25 };
  const raw = max / ticks;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * power >= raw) ?? 10) * power;
  return { top: step * Math.ceil(max / step), step };
}

/** The width of the box the chart sits in, followed as it changes. */
function useWidth(): [{ current: HTMLDivElement | null }, number] {
  const host = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(400);
  useEffect(() => {
    const element = host.current;
    if (!element) return;
    const measure = (): void => setWidth(Math.max(240, Math.floor(element.clientWidth)));
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(element);
    return () => observer.disconnect();
  }, []);
  return [host, width];
}

function YAxis({ top, step, plotH, W, suffix = '' }: { top: number; step: number; plotH: number; W: number; suffix?: string }) {
  const lines: ComponentChildren[] = [];
  for (let v = 0; v <= top + step / 2; v += step) {
    const y = PAD.top + plotH - (v / top) * plotH;
    lines.push(
      <g>
        <line class="gridline" x1={PAD.left} x2={W - PAD.right} y1={y} y2={y} stroke={PALETTE.grid} />
        <text x={PAD.left - 4} y={y + 4} text-anchor="end" fill={PALETTE.muted}>
          {`${compact(v)}${suffix}`}
        </text>
      </g>,
    );
  }
  return <g>{lines}</g>;
}

/** A category name on one line, or split at its hyphens when wider than its band (`transit-entry`). */
function labelLines(label: string, band: number): string[] {
  return label.length * 7 > band && label.includes('-') && !/^\d{4}-\d{2}$/.test(label) ? label.split('-') : [label];
}

export interface GroupedBarsProps {
  categories: string[];
  series: BarSeries[];
  /** A line under each category's name (e.g. the change against the year before); its class colours it. */
  notes?: ({ text: string; tone: 'up' | 'down' | 'same' } | null)[];
  /** Print each bar's value above it (default: when there are few bars). */
  values?: boolean;
  /** Label every n-th category only (long series). */
  labelEvery?: number;
  height?: number;
  title: string;
  testId: string;
}

export function GroupedBars({ categories, series, notes, values, labelEvery = 1, height = 220, title, testId }: GroupedBarsProps) {
  const [host, W] = useWidth();
  const plotW = W - PAD.left - PAD.right;
  const band = plotW / Math.max(1, categories.length);
  const extraRows = Math.max(1, ...categories.map((c) => labelLines(c, band).length)) - 1;
  const plotH = height - PAD.top - PAD.bottom - extraRows * 13;
  const max = Math.max(0, ...series.flatMap((s) => s.values.map((v) => v ?? 0)));
  const { top, step } = niceScale(max);
  const gap = Math.min(12, band * 0.2);
  const barW = (band - gap) / Math.max(1, series.length);
  const showValues = values ?? categories.length * series.length <= 12;
  return (
    <div ref={host} class="chart">
      <svg class="chart" width={W} height={height} viewBox={`0 0 ${W} ${height}`} role="img" aria-label={title} data-testid={testId}>
        <title>{title}</title>
        <YAxis top={top} step={step} plotH={plotH} W={W} />
        {categories.map((category, i) => {
          const x0 = PAD.left + i * band + gap / 2;
          const note = notes?.[i];
          return (
            <g data-category={category}>
              {series.map((s, j) => {
                const value = s.values[i];
                if (value === null || value === undefined) return null;
                const h = (value / top) * plotH;
                const x = x0 + j * barW;
                const y = PAD.top + plotH - h;
                return (
                  <g>
                    <rect x={x} y={y} width={Math.max(1, barW - 1)} height={h} fill={PALETTE[s.color]} data-series={s.name} data-value={value}>
                      <title>{`${category} · ${s.name}: ${value}`}</title>
                    </rect>
                    {showValues && (
                      <text x={x + barW / 2} y={y - 3} text-anchor="middle" fill={PALETTE.text}>
                        {compact(value)}
                      </text>
                    )}
                  </g>
                );
              })}
              {i % labelEvery === 0 &&
                labelLines(category, band).map((line, k) => (
                  <text x={x0 + (band - gap) / 2} y={PAD.top + plotH + 14 + k * 13} text-anchor="middle" fill={PALETTE.text}>
                    {line}
                  </text>
                ))}
              {note && (
                <text class={`note ${note.tone}`} x={x0 + (band - gap) / 2} y={PAD.top + plotH + 14 + (extraRows + 1) * 13 + 2} text-anchor="middle" font-weight="600" fill={note.tone === 'up' ? PALETTE.up : note.tone === 'down' ? PALETTE.down : PALETTE.muted}>
                  {note.text}
                </text>
              )}
            </g>
          );
        })}
        <line class="axis" x1={PAD.left} x2={W - PAD.right} y1={PAD.top + plotH} y2={PAD.top + plotH} stroke={PALETTE.border} />
      </svg>
    </div>
  );
}

const CHANNEL_COLOURS = { green: ['green', 'onGreen'], orange: ['orange', 'onOrange'], red: ['red', 'onRed'] } as const;

/** One stacked bar per period, 100 % tall, a segment per channel with its share printed on it. */
export function ChannelShares({ rows, testId }: { rows: { period: string; byChannel: Record<string, number> }[]; testId: string }) {
  const [host, W] = useWidth();
  const height = 220;
  const plotH = height - PAD.top - PAD.bottom + 16;
  const plotW = W - PAD.left - PAD.right;
  const band = plotW / Math.max(1, rows.length);
  const barW = Math.min(90, band * 0.6);
  return (
    <div ref={host} class="chart">
      <svg class="chart" width={W} height={height} viewBox={`0 0 ${W} ${height}`} role="img" aria-label="Channel shares per year" data-testid={testId}>
        <title>Channel shares per year</title>
        <YAxis top={100} step={25} plotH={plotH} W={W} suffix=" %" />
        {rows.map((row, i) => {
          const total = Object.values(row.byChannel).reduce((sum, n) => sum + n, 0);
          const x = PAD.left + i * band + (band - barW) / 2;
          let y = PAD.top + plotH;
          return (
            <g data-category={row.period}>
              {(Object.keys(CHANNEL_COLOURS) as (keyof typeof CHANNEL_COLOURS)[]).map((channel) => {
                const n = row.byChannel[channel] ?? 0;
                if (!total || !n) return null;
                const share = (n / total) * 100;
                const h = (share / 100) * plotH;
                y -= h;
                const [fill, ink] = CHANNEL_COLOURS[channel];
                return (
                  <g>
                    <rect x={x} y={y} width={barW} height={h} fill={PALETTE[fill]} data-channel={channel} data-share={share.toFixed(1)}>
                      <title>{`${row.period} · ${channel}: ${n} (${share.toFixed(1)} %)`}</title>
                    </rect>
                    {h >= 13 && (
                      <text x={x + barW / 2} y={y + h / 2 + 4} text-anchor="middle" fill={PALETTE[ink]} font-weight="600">
                        {`${share.toFixed(1)}%`}
                      </text>
                    )}
                  </g>
                );
              })}
              <text x={x + barW / 2} y={PAD.top + plotH + 14} text-anchor="middle" fill={PALETTE.text}>
                {row.period}
              </text>
            </g>
          );
        })}
      </svg>
    </div>
  );
}

export function Legend({ items }: { items: { label: string; swatch: string }[] }) {
  return (
    <div class="legend">
      {items.map((item) => (
        <span>
          <i class={`swatch-${item.swatch}`} />
          {item.label}
        </span>
      ))}
    </div>
  );
}
