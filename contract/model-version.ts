/**
 * The order of model versions, so a gateway can tell a newer model from an older one and refuse a
 * silent downgrade. A version is dot-separated decimal numbers ("2026.11.26", "2026.11.26.1",
 * "3"), compared segment by segment as integers; when one is a prefix of the other the longer is
 * newer: 2026.11.26 < 2026.11.26.1 < 2026.12.1. Leading zeros do not count (2026.12.01 = 2026.12.1),
 * so a date written either way orders the same.
 */

/** Longest version accepted: a manifest is outside input, bounded where it is parsed. */
export const MODEL_VERSION_MAX_LENGTH = 64;
export const MODEL_VERSION_PATTERN = /^[0-9]+(\.[0-9]+)*$/;
export const MODEL_VERSION_RULE = 'dot-separated decimal numbers, e.g. 2026.11.26 or 2026.11.26.1';

export function isModelVersion(value: string): boolean {
  return value.length <= MODEL_VERSION_MAX_LENGTH && MODEL_VERSION_PATTERN.test(value);
}

/** Compares two integers written in decimal, of any length, without converting them to numbers. */
function compareDigits(a: string, b: string): number {
  const x = a.replace(/^0+(?=.)/, '');
  const y = b.replace(/^0+(?=.)/, '');
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * Negative when `a` is older than `b`, positive when newer, 0 when the same version. Both must be
 * model versions (see isModelVersion); anything else throws, since guessing an order is how a
 * downgrade would slip through.
 */
export function compareModelVersions(a: string, b: string): number {
  for (const version of [a, b]) {
    if (!isModelVersion(version)) throw new RangeError(`"${version}" is not a model version (${MODEL_VERSION_RULE})`);
  }
  const left = a.split('.');
  const right = b.split('.');
  for (let i = 0; i < Math.min(left.length, right.length); i += 1) {
    const order = compareDigits(left[i] as string, right[i] as string);
    if (order !== 0) return order;
  }
  return Math.sign(left.length - right.length);
}
