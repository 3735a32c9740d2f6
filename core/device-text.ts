/**
 * Text a device wrote (a SOAP fault's reason, an HTTP status line, a frame's garbage) made fit to
 * stand in the gateway's own messages: the health a console shows, the alarm an operator reads.
 * Control characters (line breaks a device uses to start a paragraph of its own) and the
 * invisible ones that reorder or hide text (bidi overrides and isolates such as U+202E, which
 * turned the gateway's own words around it backwards in the console) become spaces, runs of
 * spaces one, and it is cut at `maxChars`.
 */
/**
 * The characters unfit for text shown to people, as the ranges of a regular expression's class:
 * C0 and C1 controls, and the invisible ones that reorder or hide text (bidi marks, overrides and
 * isolates, zero-width ones). Also what people's own text may not hold (the lane API's schemas).
 */
export const UNFIT_CHAR_RANGES = '\\u0000-\\u001f\\u007f-\\u009f\\u061c\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u2069\\ufeff';
const UNFIT = new RegExp(`[${UNFIT_CHAR_RANGES}]+`, 'g');

export function deviceText(text: string, maxChars = 300): string {
  const fit = text.replace(UNFIT, ' ').replace(/ {2,}/g, ' ').trim();
  return fit.length <= maxChars ? fit : `${fit.slice(0, maxChars)}…`;
}
