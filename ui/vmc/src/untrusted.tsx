/**
 * Text a post sent — plates, lane, device and crossing ids, alarm codes and messages, device
 * errors, model versions, refusal reasons — as the dashboard shows it. The contract bounds none
 * of these strings (only the message: 256 KiB), so a post can send a plate or an alarm message of
 * kilobytes without a space; shown whole it widened the page to tens of thousands of pixels and
 * pushed the crossings table's other columns out of view. Each is cut at a length that fits its
 * place (the whole, up to a bound, in the tooltip).
 *
 * Nor does the contract keep bidi controls out: a device id ending in U+202E (right-to-left
 * override) turned the rest of its line around ("(lane-1): down" read "nwod :(1-enal)"), an alarm
 * code its message, and a plate read in another order than stored. Each string is therefore
 * isolated (`<bdi>`: whatever direction it takes ends with it, HTML § 4.5.24) and its bidi
 * controls are shown as what they are ("[U+202E]") rather than obeyed: no id, plate, code or
 * message of a post needs one, and an analyst should see that it is there.
 */

/** How much of a cut text the tooltip still holds. */
const TITLE_MAX = 2000;

/** The explicit bidi formatting characters (UAX #9 § 2: embeddings, overrides, isolates, marks). */
const BIDI_CONTROLS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** `text` with each bidi control written out: "[U+202E]". */
export function visibleControls(text: string): string {
  return text.replace(BIDI_CONTROLS, (c) => `[U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}]`);
}

/** `text` cut to `max` characters (code points, so no surrogate half is left), ending in '…' when cut. */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  const points = [...text];
  return points.length <= max ? text : `${points.slice(0, max - 1).join('')}…`;
}

/** A post's string, isolated, its bidi controls shown, cut to `max` characters; the tooltip holds more of it when it was cut. */
export function Untrusted({ text, max }: { text: string; max: number }) {
  const visible = visibleControls(text);
  const shown = clip(visible, max);
  return <bdi title={shown === visible ? undefined : clip(visible, TITLE_MAX)}>{shown}</bdi>;
}
