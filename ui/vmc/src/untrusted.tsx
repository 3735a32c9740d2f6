/**
 * Text a post sent — plates, lane, device and crossing ids, alarm codes and messages, device
 * errors, model versions, refusal reasons — as the dashboard shows it. The contract bounds none
 * of these strings (only the message: 256 KiB), so a post can send a plate or an alarm message of
 * kilobytes without a space; shown whole it widened the page to tens of thousands of pixels and
 * pushed the crossings table's other columns out of view. Each is cut at a length that fits its
 * place (the whole, up to a bound, in the tooltip).
 */

/** How much of a cut text the tooltip still holds. */
const TITLE_MAX = 2000;

/** `text` cut to `max` characters (code points, so no surrogate half is left), ending in '…' when cut. */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  const points = [...text];
  return points.length <= max ? text : `${points.slice(0, max - 1).join('')}…`;
}

/** A post's string, cut to `max` characters; the tooltip holds more of it when it was cut. */
export function Untrusted({ text, max }: { text: string; max: number }) {
  const shown = clip(text, max);
  return <span title={shown === text ? undefined : clip(text, TITLE_MAX)}>{shown}</span>;
}
