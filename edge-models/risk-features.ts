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
  /**
   * Wall time the vehicle arrived (UTC ms): `hourOfDay` is its hour in the post's time zone
   * offset. The arrival, not the assessment: both are known when the decision is made, but the
   * arrival hour is the driver's choice of when to come (night arrivals are what the feature is
   * for), while the assessment hour adds however long the registration queue was that day, which
   * differs from post to post and hour to hour and would teach a model the queue, not the truck.
   * Training rows and decisions both go through this function, so both use the arrival hour.
   */
  arrivedMs: number;
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
  const hour = new Date(input.arrivedMs + input.utcOffsetMin * 60_000).getUTCHours();
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
  // Loops rather than arrows made per call, which V8 optimises again after each collection.
  const vector = new Float32Array(RISK_FEATURES.length);
  for (const [i, name] of RISK_FEATURES.entries()) vector[i] = values[name];
  return vector;
}

/**
 * The features by name, as a `risk.assessed` event carries them (and a training row exported from
 * it): each value is the float32 the model was given, so reading them back with
 * `riskFeatureVector` gives the model's input bit for bit.
 */
export function riskFeatureRecord(features: Float32Array): Record<RiskFeature, number> {
  const record = {} as Record<RiskFeature, number>;
  for (const [i, name] of RISK_FEATURES.entries()) record[name] = features[i] as number;
  return record;
}

/**
 * The model's input row from features by name; null when a feature of this gateway is missing or
 * not a finite number (a row from a gateway with another feature set). Extra names are ignored.
 */
export function riskFeatureVector(record: Readonly<Record<string, number>>): Float32Array | null {
  const values = RISK_FEATURES.map((name) => record[name]);
  if (values.some((value) => typeof value !== 'number' || !Number.isFinite(value))) return null;
  return Float32Array.from(values as number[]);
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
