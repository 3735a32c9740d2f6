/** What any weighbridge indicator protocol decodes to. */

export type WeightStatus = 'ok' | 'centre-of-zero' | 'over-capacity' | 'under-capacity' | 'zero-error' | 'tare-error' | 'out-of-range';
export type WeightMode = 'gross' | 'net' | 'tare';
export type WeightUnit = 'kg' | 't' | 'lb' | 'g';

export interface WeightReading {
  /** Weight in kilograms; null when the indicator reports an error instead of a weight. */
  weightKg: number | null;
  /** The value as the indicator sent it, in `unit`. */
  value: number | null;
  unit: WeightUnit;
  mode: WeightMode;
  motion: boolean;
  status: WeightStatus;
}

const TO_KG: Record<WeightUnit, number> = { kg: 1, t: 1000, lb: 0.45359237, g: 0.001 };

export function toKg(value: number, unit: WeightUnit): number {
  return Math.round(value * TO_KG[unit] * 1000) / 1000;
}

export function parseUnit(text: string): WeightUnit | null {
  const unit = text.trim().toLowerCase();
  return unit === 'kg' || unit === 't' || unit === 'lb' || unit === 'g' ? unit : null;
}
