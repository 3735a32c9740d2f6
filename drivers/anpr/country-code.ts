/**
 * The issuing country of a plate as cameras write it, as an ISO 3166-1 alpha-2 code. Profile M
 * says `CountryCode` is alpha-2 (or alpha-3); vendors write what their firmware knows: Hikvision's
 * ONVIF notification carries an English name (`Country` = `Netherlands`, with `Nation` = `EU` for
 * the region), its ISAPI push a numeric index into a firmware table (`<country>3</country>`) and
 * an alpha-3 `countryAbbreviation` (`NON` when it did not decide). Codes and the names below map
 * to alpha-2; anything else (a numeric index, a region, an unknown name) is no country (null),
 * never a guess: the plate's format is then not checked against a country.
 */

/** ISO 3166-1 alpha-3 → alpha-2, for Europe, the Caucasus, Central Asia and their neighbours. */
const ALPHA3: Record<string, string> = {
  ALB: 'AL', AND: 'AD', ARM: 'AM', AUT: 'AT', AZE: 'AZ', BEL: 'BE', BGR: 'BG', BIH: 'BA', BLR: 'BY', CHE: 'CH', CYP: 'CY', CZE: 'CZ',
  DEU: 'DE', DNK: 'DK', ESP: 'ES', EST: 'EE', FIN: 'FI', FRA: 'FR', GBR: 'GB', GEO: 'GE', GRC: 'GR', HRV: 'HR', HUN: 'HU', IRL: 'IE',
  IRN: 'IR', IRQ: 'IQ', ISL: 'IS', ITA: 'IT', KAZ: 'KZ', KGZ: 'KG', LIE: 'LI', LTU: 'LT', LUX: 'LU', LVA: 'LV', MDA: 'MD', MKD: 'MK',
  MLT: 'MT', MNE: 'ME', NLD: 'NL', NOR: 'NO', POL: 'PL', PRT: 'PT', ROU: 'RO', RUS: 'RU', SRB: 'RS', SVK: 'SK', SVN: 'SI', SWE: 'SE',
  SYR: 'SY', TJK: 'TJ', TKM: 'TM', TUR: 'TR', UKR: 'UA', UZB: 'UZ',
};

/** English names (lower case, as cameras spell them) → alpha-2. */
const NAMES: Record<string, string> = {
  albania: 'AL', armenia: 'AM', austria: 'AT', azerbaijan: 'AZ', belarus: 'BY', belgium: 'BE', bulgaria: 'BG', croatia: 'HR',
  cyprus: 'CY', czechia: 'CZ', 'czech republic': 'CZ', denmark: 'DK', estonia: 'EE', finland: 'FI', france: 'FR', georgia: 'GE',
  germany: 'DE', greece: 'GR', hungary: 'HU', iran: 'IR', iraq: 'IQ', ireland: 'IE', italy: 'IT', kazakhstan: 'KZ', kyrgyzstan: 'KG',
  latvia: 'LV', lithuania: 'LT', luxembourg: 'LU', moldova: 'MD', netherlands: 'NL', 'the netherlands': 'NL', norway: 'NO', poland: 'PL',
  portugal: 'PT', romania: 'RO', russia: 'RU', serbia: 'RS', slovakia: 'SK', slovenia: 'SI', spain: 'ES', sweden: 'SE',
  switzerland: 'CH', syria: 'SY', tajikistan: 'TJ', turkey: 'TR', turkiye: 'TR', türkiye: 'TR', turkmenistan: 'TM', ukraine: 'UA',
  'united kingdom': 'GB', uzbekistan: 'UZ',
};

/** The alpha-2 code for what a camera wrote as the plate's country; null when it names none we know. */
export function countryCode(written: string | null | undefined): string | null {
  const text = typeof written === 'string' ? written.trim() : '';
  if (text === '' || text.length > 64) return null;
  if (/^[A-Za-z]{2}$/.test(text)) return text.toUpperCase();
  if (/^[A-Za-z]{3}$/.test(text)) return ALPHA3[text.toUpperCase()] ?? NAMES[text.toLowerCase()] ?? null;
  return Object.hasOwn(NAMES, text.toLowerCase()) ? (NAMES[text.toLowerCase()] ?? null) : null;
}
