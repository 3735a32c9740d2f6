/**
 * The risk model's features: what the lane knows about a vehicle when it has been weighed, as one
 * float32 row in a fixed column order (the order is written into the model's manifest and checked
 * at load). Each feature also has a sentence for the decision's reasons.
 */
import { DIRECTIONS } from '../config/schema.js';
import { platesMatch } from '../core/plates.js';

export const RISK_FEATURES = [
  'weightDeviation',
  'weightUnknown',
  'watchlistMatch',
  'plateConfidence',
  'plateMismatches',
  'visits30d',
  'direction',
  'vehicleType',
  'aeo',
  'hourOfDay',
] as const;
export type RiskFeature = (typeof RISK_FEATURES)[number];

/**
 * Codes of the categorical features (the trees split on them as ordinals; fine for trees). The
 * order is part of the trained models: directions in the configuration's order, vehicle types below.
 */
const DIRECTION_CODES = DIRECTIONS;
export const VEHICLE_TYPE_CODES = ['tractor-trailer', 'truck', 'van', 'bus', 'car', 'unknown'] as const;

export interface RiskInput {
  plate: string | null;
  /** Entry camera confidence 0..1; null when unread or entered by the operator. */
  plateConfidence: number | null;
  declaredWeightKg: number | null;
  measuredWeightKg: number | null;
  direction: string;
  vehicleType: string;
  aeo: boolean;
  /** Wall time of the assessment (UTC ms); the hour is taken in the post's time zone offset. */
  wallMs: number;
  utcOffsetMin: number;
  /** Crossings of this plate in the 30 days before. */
  visits30d: number;
  /** Earlier crossings of this plate whose exit plate differed from the entry plate. */
  plateMismatches: number;
  watchlist: readonly string[];
}

/**
 * Whether the plate is on the watchlist. Both sides go through `platesMatch` (core/plates), so an
 * entry and a read match whatever their spelling: separators, case, full-width forms, Cyrillic or
 * Greek look-alikes, invisible characters and the OCR pairs O/0, I/1, B/8, S/5.
 */
export function onWatchlist(plate: string | null, watchlist: readonly string[]): boolean {
  return plate !== null && watchlist.some((listed) => platesMatch(listed, plate));
}

export function riskFeatures(input: RiskInput): Float32Array {
  const known = input.declaredWeightKg !== null && input.declaredWeightKg > 0 && input.measuredWeightKg !== null;
  const deviation = known ? ((input.measuredWeightKg as number) - (input.declaredWeightKg as number)) / (input.declaredWeightKg as number) : 0;
  const direction = DIRECTION_CODES.indexOf(input.direction as (typeof DIRECTION_CODES)[number]);
  const vehicleType = VEHICLE_TYPE_CODES.indexOf(input.vehicleType as (typeof VEHICLE_TYPE_CODES)[number]);
  const hour = new Date(input.wallMs + input.utcOffsetMin * 60_000).getUTCHours();
  const values: Record<RiskFeature, number> = {
    weightDeviation: Math.max(-1, Math.min(1, deviation)),
    weightUnknown: known ? 0 : 1,
    watchlistMatch: onWatchlist(input.plate, input.watchlist) ? 1 : 0,
    plateConfidence: input.plateConfidence ?? 0,
    plateMismatches: Math.min(input.plateMismatches, 10),
    visits30d: Math.min(input.visits30d, 60),
    direction: direction < 0 ? 0 : direction,
    vehicleType: vehicleType < 0 ? VEHICLE_TYPE_CODES.length - 1 : vehicleType,
    aeo: input.aeo ? 1 : 0,
    hourOfDay: hour,
  };
  return Float32Array.from(RISK_FEATURES, (name) => values[name]);
}

/** A reason as an operator reads it: the feature's value in words. */
export function describeFeature(feature: string, value: number): string {
  switch (feature as RiskFeature) {
    case 'weightDeviation':
      return `measured weight ${value >= 0 ? '+' : ''}${(value * 100).toFixed(0)}% against the declared`;
    case 'weightUnknown':
      return value ? 'no declared or measured weight' : 'weights known';
    case 'watchlistMatch':
      return value ? 'plate matches the watchlist' : 'plate not on the watchlist';
    case 'plateConfidence':
      return value === 0 ? 'plate unread by the camera' : `plate read with confidence ${value.toFixed(2)}`;
    case 'plateMismatches':
      return `${value} earlier entry/exit plate mismatches`;
    case 'visits30d':
      return value === 0 ? 'first visit in 30 days' : `${value} visits in 30 days`;
    case 'direction':
      return `direction ${DIRECTION_CODES[value] ?? value}`;
    case 'vehicleType':
      return `vehicle type ${VEHICLE_TYPE_CODES[value] ?? value}`;
    case 'aeo':
      return value ? 'authorised economic operator' : 'not an authorised economic operator';
    case 'hourOfDay':
      return `arrival hour ${value}`;
    default:
      return `${feature} = ${value}`;
  }
}
