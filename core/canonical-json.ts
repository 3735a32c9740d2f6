/**
 * Canonical JSON: keys sorted (by UTF-16 code unit) at every level, no whitespace, `undefined`
 * members left out. The bytes a signature covers must not depend on who serialised the value, so
 * signer and verifier each serialise the parsed value this way (model manifests, VMC commands).
 * Recursive: callers bound the nesting depth of what they hand in (jsonDepth).
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * Deepest nesting of `[` and `{` in a JSON text, strings skipped; stops counting past `limit`, so
 * a hostile text costs one pass and never a recursion (check it before JSON.parse and anything
 * recursive over the result).
 */
export function jsonDepth(text: string, limit: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i += 1; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      depth += 1;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > limit) return deepest;
      }
    } else if (c === 0x7d || c === 0x5d) depth -= 1;
  }
  return deepest;
}
