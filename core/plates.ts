/**
 * core/plates: the one place plate text is normalised, validated and compared. Plates reach the
 * gateway from cameras (OCR), operators (lane API) and configuration (the watchlist), each spelled
 * its own way. Everything that compares plates (entry vs exit, the watchlist, visit history) goes
 * through `canonicalPlate`, so no spelling of a plate (separators, full-width forms, Cyrillic or
 * Greek look-alikes, invisible characters, OCR confusions) reads as another vehicle.
 */

/** Longest plate, in characters after normalisation (real formats stop near 10). */
export const PLATE_MAX_CHARS = 16;
/** Longest raw plate text accepted from outside, in UTF-16 code units; checked before any work. */
export const PLATE_INPUT_MAX_CHARS = 32;

/**
 * What carries no plate content: marks (accents, split off by NFKD), format characters (zero-width
 * space and joiners, word joiner, BOM, soft hyphen), other default-ignorables (Hangul fillers,
 * variation selectors), controls, spaces and separators of every kind, all punctuation (hyphens,
 * dashes, dots, underscores, slashes, middle dot) and the ASCII symbols and minus sign that people
 * and cameras use as separators. Other symbols (emoji) stay, for `parsePlateInput` to refuse.
 */
const NOISE = /[\p{M}\p{Cf}\p{Default_Ignorable_Code_Point}\p{Cc}\p{Z}\p{P}$+<=>^`|~\u2212]/gu;

/**
 * Cyrillic and Greek capitals drawn like a Latin one (lower-case forms are upper-cased first).
 * Written as escapes because the letters themselves are indistinguishable on screen.
 */
const LOOKALIKES = new Map<string, string>([
  // Cyrillic A, VE, IE, KA, EM, EN, O, ER, ES, TE, U, HA, BYELORUSSIAN-UKRAINIAN I, JE, DZE, QA, WE;
  // also STRAIGHT U (Ү) and PALOCHKA (Ӏ, written in the North Caucasus languages).
  ...pairs('\u0410\u0412\u0415\u041A\u041C\u041D\u041E\u0420\u0421\u0422\u0423\u0425\u0406\u0408\u0405\u051A\u051C\u04AE\u04C0', 'ABEKMHOPCTYXIJSQWYI'),
  // Greek ALPHA, BETA, EPSILON, ZETA, ETA, IOTA, KAPPA, MU, NU, OMICRON, RHO, TAU, UPSILON, CHI.
  ...pairs('\u0391\u0392\u0395\u0396\u0397\u0399\u039A\u039C\u039D\u039F\u03A1\u03A4\u03A5\u03A7', 'ABEZHIKMNOPTYX'),
]);

/** Text that every step of `normalisePlateText` leaves as it is. */
const ALREADY_NORMAL = /^[A-Z0-9]*$/;

function pairs(from: string, to: string): [string, string][] {
  return Array.from(from, (char, i) => [char, to[i] as string]);
}

/**
 * The plate's text in one spelling: NFKC (full-width and other compatibility forms become ASCII),
 * upper case, then NFKD so accents come apart from their letters (TÜ → TU, Ё → E; upper-casing can
 * itself yield composed or decomposed forms), NOISE dropped, look-alikes folded to Latin. A real
 * plate comes out as [A-Z0-9]{1,16}; whatever else is left (another script, emoji) is kept so that
 * `parsePlateInput` can refuse it. Idempotent. This is the text stored and shown; it keeps O and 0
 * apart (OCR confusions are folded only in the comparison key, `canonicalPlate`).
 */
/**
 * A character's Latin look-alike, or itself. At module level rather than an arrow in the call: V8
 * keeps a function's optimised code only while one of its closures lives, so an arrow made per
 * call is optimised again after each collection (docs/benchmarks.md, "Optimised again and again").
 */
const lookalikeFolded = (char: string): string => LOOKALIKES.get(char) ?? char;

export function normalisePlateText(raw: string): string {
  // Capital Latin letters and digits are their own normal form (nothing to fold, decompose or
  // drop): most reads, several times each, skip the three passes over the text below.
  if (ALREADY_NORMAL.test(raw)) return raw;
  const bare = raw.normalize('NFKC').toUpperCase().normalize('NFKD').replace(NOISE, '');
  return Array.from(bare, lookalikeFolded).join('');
}

/**
 * The key plates are compared by: the normalised text with anything outside A–Z0–9 dropped (so a
 * stray character can't make a watchlisted plate look different, even where the text was never
 * validated), then the OCR confusions O/0, I/1, B/8 and S/5 folded onto the digit. Z/2, G/6, D/0
 * and Q/0 are deliberately not folded: every fold merges plates that really differ, and these four
 * are the pairs the workflow has always matched.
 */
export function canonicalPlate(plate: string): string {
  return normalisePlateText(plate)
    .replace(/[^A-Z0-9]/g, '')
    .replace(/O/g, '0')
    .replace(/I/g, '1')
    .replace(/B/g, '8')
    .replace(/S/g, '5');
}

/** Same vehicle's plate? A plate with no letter or digit at all matches nothing, not every other such plate. */
export function platesMatch(a: string, b: string): boolean {
  const key = canonicalPlate(a);
  return key !== '' && key === canonicalPlate(b);
}

export type PlateInput = { ok: true; text: string; raw: string } | { ok: false; reason: string };

/**
 * Plate text from outside (lane API bodies, camera reads, configuration): the normalised text, or
 * why it is no plate. Refused: more than 32 code units raw (before any work, so the cost is
 * bounded), any C0/C1 control character (tab and newline included: nothing legitimate sends them,
 * and they forge log lines), and text that after normalisation is empty, longer than 16, or holds
 * anything but A–Z and 0–9 (another script with no Latin look-alike, emoji).
 */
export function parsePlateInput(raw: string): PlateInput {
  if (raw.length > PLATE_INPUT_MAX_CHARS) return { ok: false, reason: `plate longer than ${PLATE_INPUT_MAX_CHARS} characters` };
  if (/\p{Cc}/u.test(raw)) return { ok: false, reason: 'plate contains a control character' };
  const text = normalisePlateText(raw);
  if (text === '') return { ok: false, reason: 'plate has no letter or digit' };
  const foreign = /[^A-Z0-9]/u.exec(text)?.[0];
  if (foreign !== undefined) {
    const code = (foreign.codePointAt(0) as number).toString(16).toUpperCase().padStart(4, '0');
    return { ok: false, reason: `plate contains U+${code}, not a Latin letter or digit` };
  }
  if (text.length > PLATE_MAX_CHARS) return { ok: false, reason: `plate longer than ${PLATE_MAX_CHARS} letters and digits` };
  return { ok: true, text, raw };
}
