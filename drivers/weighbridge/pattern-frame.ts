/**
 * The configurable protocol for indicators that are neither SMA nor Toledo: each line is matched
 * against a regular expression with named groups `weight` (required), and optionally `unit`
 * (kg, t, lb, g; else the configured unit) and `motion` (any text = in motion).
 */
import type { FrameResult } from './sma-frame.js';
import { parseUnit, toKg, type WeightUnit } from './weight-reading.js';

export function compilePattern(source: string): RegExp {
  const regex = new RegExp(source);
  if (!source.includes('(?<weight>')) throw new Error('weighbridge pattern needs a named group (?<weight>...)');
  return regex;
}

export function parsePatternLine(line: Buffer, regex: RegExp, defaultUnit: WeightUnit): FrameResult {
  const text = line.toString('latin1');
  const match = regex.exec(text);
  const groups = match?.groups;
  if (!groups?.weight) return { ok: false, error: `line does not match the pattern: ${JSON.stringify(text.slice(0, 40))}` };
  const value = Number(groups.weight.replace(/\s/g, ''));
  if (!Number.isFinite(value)) return { ok: false, error: `not a number: ${JSON.stringify(groups.weight)}` };
  const unit = groups.unit ? parseUnit(groups.unit) : defaultUnit;
  if (!unit) return { ok: false, error: `unknown unit ${JSON.stringify(groups.unit)}` };
  return {
    ok: true,
    reading: { weightKg: toKg(value, unit), value, unit, mode: 'gross', motion: Boolean(groups.motion?.trim()), status: 'ok' },
  };
}
