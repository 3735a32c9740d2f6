import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalPlate, normalisePlateText, parsePlateInput, platesMatch, PLATE_INPUT_MAX_CHARS } from './plates.js';

const WATCHLISTED = 'AB-123-CD';
const RUNS = { numRuns: 10_000 };

// Look-alike letters as the brief lists them, written here independently of the implementation's
// table (escapes, because on screen they are the Latin letters).
const CYRILLIC: Record<string, string[]> = {
  A: ['\u0410', '\u0430'],
  B: ['\u0412', '\u0432'],
  C: ['\u0421', '\u0441'],
  E: ['\u0415', '\u0435'],
  H: ['\u041D', '\u043D'],
  I: ['\u0406', '\u0456'],
  J: ['\u0408', '\u0458'],
  K: ['\u041A', '\u043A'],
  M: ['\u041C', '\u043C'],
  O: ['\u041E', '\u043E'],
  P: ['\u0420', '\u0440'],
  Q: ['\u051A', '\u051B'],
  S: ['\u0405', '\u0455'],
  T: ['\u0422', '\u0442'],
  W: ['\u051C', '\u051D'],
  X: ['\u0425', '\u0445'],
  Y: ['\u0423', '\u0443'],
};
const GREEK: Record<string, string[]> = {
  A: ['\u0391', '\u03B1'],
  B: ['\u0392', '\u03B2'],
  E: ['\u0395', '\u03B5'],
  H: ['\u0397', '\u03B7'],
  I: ['\u0399', '\u03B9'],
  K: ['\u039A', '\u03BA'],
  M: ['\u039C', '\u03BC'],
  N: ['\u039D', '\u03BD'],
  O: ['\u039F', '\u03BF'],
  P: ['\u03A1', '\u03C1'],
  T: ['\u03A4', '\u03C4'],
  X: ['\u03A7', '\u03C7'],
  Y: ['\u03A5', '\u03C5'],
  Z: ['\u0396', '\u03B6'],
};

/** Separators and invisible characters a plate may carry between any two of its characters. */
const NOISE = [
  ...[' ', '\t', '\n', '\r', '\u00A0', '\u2002', '\u2003', '\u2009', '\u202F', '\u3000'], // spaces, tab, NBSP, en/em/thin/ideographic
  ...['-', '\u2010', '\u2011', '\u2013', '\u2014', '\u2015', '\u2212', '\uFE63', '\uFF0D'], // hyphens, dashes, minus signs
  ...['.', '_', '/', '\\', '\u00B7', ':', ',', '|', '\u3002'], // dots, underscore, slashes, middle dot, ideographic full stop
  ...['\u200B', '\u200C', '\u200D', '\u2060', '\uFEFF', '\u00AD', '\u180E', '\u034F'], // zero-width, word joiner, BOM, soft hyphen, CGJ
];

/** Every spelling of one plate character that must read as that character. */
function spellingsOf(char: string): string[] {
  const code = char.charCodeAt(0);
  const letter = /[A-Z]/.test(char);
  const mathBold = letter ? String.fromCodePoint(0x1d400 + code - 0x41) : String.fromCodePoint(0x1d7ce + code - 0x30);
  return [
    char,
    char.toLowerCase(),
    String.fromCharCode(code + 0xfee0), // full-width
    char.toLowerCase() === char ? char : String.fromCharCode(char.toLowerCase().charCodeAt(0) + 0xfee0),
    mathBold,
    `${char}\u0301`, // with a combining accent
    ...(CYRILLIC[char] ?? []),
    ...(GREEK[char] ?? []),
  ];
}

describe('normalisePlateText', () => {
  it('folds a plate to upper-case Latin letters and digits, keeping O and 0 apart', () => {
    expect(normalisePlateText('ab-123 cd')).toBe('AB123CD');
    expect(normalisePlateText('\uFF21\uFF22\uFF11\uFF12\uFF13\uFF23\uFF24')).toBe('AB123CD');
    expect(normalisePlateText('\u0410\u0412-123-\u0421D')).toBe('AB123CD');
    expect(normalisePlateText('KT-515-OB')).toBe('KT515OB');
    expect(normalisePlateText('T\u00DC-AB 12')).toBe('TUAB12'); // German TÜ: accents are dropped
  });

  it('keeps characters that are no plate character for the validator to refuse', () => {
    expect(normalisePlateText('AB-123-\u4E2D')).toBe('AB123\u4E2D');
    expect(normalisePlateText('AB\u{1F600}')).toBe('AB\u{1F600}');
  });
});

describe(`the watchlisted plate ${WATCHLISTED}`, () => {
  const spellings: [string, string][] = [
    ['as listed', 'AB-123-CD'],
    ['without separators', 'AB123CD'],
    ['with underscores', 'AB_123_CD'],
    ['with dots', 'AB.123.CD'],
    ['with slashes', 'AB/123/CD'],
    ['with spaces', 'AB 123 CD'],
    ['with tabs', 'AB\t123\tCD'],
    ['with surrounding whitespace', ' AB-123-CD\r\n'],
    ['with no-break spaces', 'AB\u00A0123\u00A0CD'],
    ['with ideographic spaces', 'AB\u3000123\u3000CD'],
    ['with en dashes', 'AB\u2013123\u2013CD'],
    ['with em dashes', 'AB\u2014123\u2014CD'],
    ['with minus signs', 'AB\u2212123\u2212CD'],
    ['with middle dots', 'AB\u00B7123\u00B7CD'],
    ['in lower case', 'ab-123-cd'],
    ['with Cyrillic А, В, С', '\u0410\u0412-123-\u0421D'],
    ['with lower-case Cyrillic а, в, с', '\u0430\u0432-123-\u0441d'],
    ['with Greek Α, Β', '\u0391\u0392-123-CD'],
    ['with lower-case Greek α, β', '\u03B1\u03B2-123-cd'],
    ['in full-width Latin', '\uFF21\uFF22\uFF11\uFF12\uFF13\uFF23\uFF24'],
    ['in full-width Latin with a full-width hyphen', '\uFF21\uFF22\uFF0D\uFF11\uFF12\uFF13\uFF0D\uFF23\uFF24'],
    ['in mathematical bold', '\u{1D400}\u{1D401}-\u{1D7CF}\u{1D7D0}\u{1D7D1}-\u{1D402}\u{1D403}'],
    ['with zero-width space, non-joiner and joiner inside', 'A\u200BB-1\u200C23-C\u200DD'],
    ['with a word joiner and a BOM inside', '\uFEFFAB\u2060123CD'],
    ['with soft hyphens', 'AB\u00AD123\u00ADCD'],
    ['with a combining accent', 'A\u0301B-123-CD'],
    ['read as A8-I23-CD (OCR)', 'A8-I23-CD'],
    ['read as AB-I23-CD (OCR)', 'AB-I23-CD'],
    ['with all of it at once', '\u0430\u200B\u0412\u00A0\uFF11\uFF12\uFF13\u2013\u0421\u00ADd'],
    ['with a stray character of another script (dropped from the key)', 'AB-123-CD\u4E2D'],
  ];

  it.each(spellings)('matches it %s', (_, spelling) => {
    expect(platesMatch(WATCHLISTED, spelling)).toBe(true);
    expect(platesMatch(spelling, WATCHLISTED)).toBe(true);
  });

  it('matches a Latin read against an entry written with look-alikes', () => {
    expect(platesMatch('\u0410\u0412-123-\u0421D', 'AB123CD')).toBe(true);
  });

  const others: [string, string][] = [
    ['another last letter', 'AB-123-CE'],
    ['a letter short', 'AB-123-C'],
    ['a letter more', 'AB-123-CDE'],
    ['the letters swapped', 'BA-123-CD'],
    ['another digit', 'AB-124-CD'],
    ['Z for 2 (not an OCR pair here)', 'AB-1Z3-CD'],
    ['a Cyrillic letter with no Latin look-alike (Д)', 'AB-123-\u0414D'],
    ['another watchlisted plate', 'XY-808-ZZ'],
    ['an empty read', ''],
    ['separators only', '- \u200B.'],
  ];

  it.each(others)('does not match %s', (_, plate) => {
    expect(platesMatch(WATCHLISTED, plate)).toBe(false);
  });

  it('never matches two plates without a letter or digit to each other', () => {
    expect(platesMatch('', '')).toBe(false);
    expect(platesMatch('---', '\u200B')).toBe(false);
  });
});

describe('parsePlateInput', () => {
  it('accepts a plate in any spelling and gives its normalised text', () => {
    expect(parsePlateInput('ab-123 cd')).toEqual({ ok: true, text: 'AB123CD', raw: 'ab-123 cd' });
    expect(parsePlateInput('\u0410\u0412\u2013123\u2013\u0421D')).toMatchObject({ ok: true, text: 'AB123CD' });
    expect(parsePlateInput('A-B-C-D-E-F-G-H-1-2-3-4-5-6-7-8')).toMatchObject({ ok: true, text: 'ABCDEFGH12345678' });
  });

  it.each([
    ['NUL', 'AB\u0000123CD'],
    ['a tab', 'AB\t123CD'],
    ['a newline (log forging)', 'AB123CD\nINFO forged'],
    ['ESC', '\u001B[31mAB123CD'],
    ['DEL', 'AB\u007F123CD'],
    ['C1 NEL', 'AB\u0085123CD'],
    ['C1 CSI', 'AB\u009B123CD'],
  ])('refuses a control character: %s', (_, raw) => {
    expect(parsePlateInput(raw)).toEqual({ ok: false, reason: 'plate contains a control character' });
  });

  it('refuses raw text over 32 characters, even when it would normalise to a plate', () => {
    expect(parsePlateInput(`AB123CD${' '.repeat(PLATE_INPUT_MAX_CHARS - 7)}`)).toMatchObject({ ok: true });
    expect(parsePlateInput(`AB123CD${' '.repeat(PLATE_INPUT_MAX_CHARS - 6)}`)).toEqual({ ok: false, reason: 'plate longer than 32 characters' });
  });

  it('refuses more than 16 letters and digits', () => {
    expect(parsePlateInput('ABCDEFGH123456789')).toEqual({ ok: false, reason: 'plate longer than 16 letters and digits' });
  });

  it('refuses an empty plate and one of separators only', () => {
    expect(parsePlateInput('')).toEqual({ ok: false, reason: 'plate has no letter or digit' });
    expect(parsePlateInput(' -\u200B\u00AD. ')).toEqual({ ok: false, reason: 'plate has no letter or digit' });
  });

  it('refuses another script and emoji, naming the character', () => {
    expect(parsePlateInput('\u4EACA12345')).toEqual({ ok: false, reason: 'plate contains U+4EAC, not a Latin letter or digit' });
    expect(parsePlateInput('AB\u{1F69A}123')).toEqual({ ok: false, reason: 'plate contains U+1F69A, not a Latin letter or digit' });
    expect(parsePlateInput('AB-123-\u0414D')).toEqual({ ok: false, reason: 'plate contains U+0414, not a Latin letter or digit' });
  });
});

describe('plate properties', () => {
  // Arbitrary text three ways: any code point, whole graphemes, and any code unit (lone surrogates too).
  const anyText = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.string({ unit: 'grapheme', maxLength: 20 }),
    fc.string({ unit: fc.nat(0x10ffff).map((cp) => String.fromCodePoint(cp)), maxLength: 40 }),
    fc.string({ unit: fc.constantFrom(...NOISE, ...Object.values(CYRILLIC).flat(), ...Object.values(GREEK).flat(), 'A', '0', 'o', 'ß', '\u4E2D'), maxLength: 40 }),
  );
  const plate = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'), minLength: 1, maxLength: 16 });

  it('normalisation and the comparison key are idempotent', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        const normalised = normalisePlateText(text);
        expect(normalisePlateText(normalised)).toBe(normalised);
        const key = canonicalPlate(text);
        expect(canonicalPlate(key)).toBe(key);
      }),
      RUNS,
    );
  });

  it('never throws on arbitrary text; keys are A-Z0-9 with the OCR pairs folded; accepted plates are [A-Z0-9]{1,16}', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        expect(canonicalPlate(text)).toMatch(/^[0-9ACDEFGHJKLMNPQRTUVWXYZ]*$/);
        const parsed = parsePlateInput(text);
        if (parsed.ok) expect(parsed.text).toMatch(/^[A-Z0-9]{1,16}$/);
        else expect(parsed.reason).toMatch(/^plate /);
      }),
      RUNS,
    );
  });

  it('separators, invisible characters, case, width and look-alikes never change a plate', () => {
    const respelled = plate.chain((text) =>
      fc
        .tuple(...Array.from(text, (char) => fc.tuple(fc.array(fc.constantFrom(...NOISE), { maxLength: 2 }), fc.constantFrom(...spellingsOf(char)))))
        .map((parts) => ({ text, spelled: parts.map(([noise, char]) => noise.join('') + char).join('') })),
    );
    fc.assert(
      fc.property(respelled, ({ text, spelled }) => {
        expect(normalisePlateText(spelled)).toBe(text);
        expect(platesMatch(text, spelled)).toBe(true);
        const parsed = parsePlateInput(spelled);
        if (spelled.length <= PLATE_INPUT_MAX_CHARS && !/\p{Cc}/u.test(spelled)) expect(parsed).toEqual({ ok: true, text, raw: spelled });
      }),
      RUNS,
    );
  });

  it('a plate never matches one with a character changed outside the OCR pairs', () => {
    const ocrPartner: Record<string, string> = { O: '0', '0': 'O', I: '1', '1': 'I', B: '8', '8': 'B', S: '5', '5': 'S' };
    const changed = fc
      .tuple(plate, fc.nat(), fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'))
      .filter(([text, at, char]) => {
        const old = text[at % text.length] as string;
        return char !== old && ocrPartner[old] !== char;
      })
      .map(([text, at, char]) => [text, text.slice(0, at % text.length) + char + text.slice((at % text.length) + 1)] as const);
    fc.assert(
      fc.property(changed, ([text, other]) => {
        expect(platesMatch(text, other)).toBe(false);
      }),
      RUNS,
    );
  });
});
