/**
 * Plate normalisation of a camera read: the canonical text of core/plates (the same the lane API
 * and the watchlist use), the raw read and its confidence kept beside it, and a check against the
 * issuing country's format where it is known (an OCR read that fits no format is flagged, not
 * dropped). A read that is no plate at all is dropped instead (see `normalisePlate`).
 */
import { parsePlateInput } from '../../core/plates.js';

/** Common plate formats by ISO 3166 alpha-2 code, on the normalised text. */
const COUNTRY_FORMATS: Record<string, RegExp[]> = {
  GE: [/^[A-Z]{2}\d{3}[A-Z]{2}$/],
  AM: [/^\d{2}[A-Z]{2}\d{3}$/],
  AZ: [/^\d{2}[A-Z]{2}\d{3}$/],
  TR: [/^\d{2}[A-Z]{1,3}\d{2,4}$/],
  DE: [/^[A-Z]{1,3}[A-Z]{1,2}\d{1,4}[EH]?$/],
  PL: [/^[A-Z]{2,3}[A-Z0-9]{4,5}$/],
  UA: [/^[A-Z]{2}\d{4}[A-Z]{2}$/],
};

export interface NormalisedPlate {
  text: string;
  raw: string;
  confidence: number | null;
  country: string | null;
  /** True/false when the country's format is known, null when it is not. */
  formatValid: boolean | null;
}

/**
 * The read as a plate, or null when it is none (control characters, over 32 characters, another
 * script, emoji; see `parsePlateInput`): the lane then treats the vehicle as unread and asks the
 * operator, rather than carrying text the watchlist could not recognise.
 */
export function normalisePlate(raw: string, confidence: number | null = null, country: string | null = null): NormalisedPlate | null {
  const parsed = parsePlateInput(raw);
  if (!parsed.ok) return null;
  const { text } = parsed;
  const code = country?.trim().toUpperCase() || null;
  const formats = code ? COUNTRY_FORMATS[code] : undefined;
  return { text, raw, confidence, country: code, formatValid: formats ? formats.some((format) => format.test(text)) : null };
}
