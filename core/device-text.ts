/**
 * Text a device wrote (a SOAP fault's reason, an HTTP status line, a frame's garbage) made fit to
 * stand in the gateway's own messages: the health a console shows, the alarm an operator reads.
 * Control characters (line breaks a device uses to start a paragraph of its own) and the
 * invisible ones that reorder or hide text (bidi overrides and isolates such as U+202E, which
 * turned the gateway's own words around it backwards in the console) become spaces, runs of
 * spaces one, and it is cut at `maxChars`.
 */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const UNFIT = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]+/g;

export function deviceText(text: string, maxChars = 300): string {
  const fit = text.replace(UNFIT, ' ').replace(/ {2,}/g, ' ').trim();
  return fit.length <= maxChars ? fit : `${fit.slice(0, maxChars)}…`;
}
