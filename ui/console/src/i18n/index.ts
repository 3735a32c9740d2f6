/**
 * Message catalogues and the chosen language. Every visible string comes from a catalogue key
 * (`{name}` placeholders filled in by `t`); dates, times and numbers go through Intl in the chosen
 * locale. The choice is remembered in localStorage.
 */
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import { az } from './az.js';
import { en, type MessageKey, type Messages } from './en.js';
import { ru } from './ru.js';

export type { MessageKey, Messages };
export const LANGUAGES = ['en', 'az', 'ru'] as const;
export type Language = (typeof LANGUAGES)[number];

export const CATALOGUES: Record<Language, Messages> = { en, az, ru };
/** The Intl locale of each language (Azerbaijani in Latin script, as in Azerbaijan). */
export const LOCALES: Record<Language, string> = { en: 'en-GB', az: 'az-Latn-AZ', ru: 'ru-RU' };

const STORAGE_KEY = 'border-console.language';

export function storedLanguage(): Language {
  try {
    const value = localStorage.getItem(STORAGE_KEY);
    if (value && (LANGUAGES as readonly string[]).includes(value)) return value as Language;
  } catch {
    // Storage blocked: the default language.
  }
  const browser = navigator.language.slice(0, 2);
  return (LANGUAGES as readonly string[]).includes(browser) ? (browser as Language) : 'en';
}

export function rememberLanguage(language: Language): void {
  try {
    localStorage.setItem(STORAGE_KEY, language);
  } catch {
    // Not remembered; still switched.
  }
}

export type Params = Record<string, string | number>;

export function translate(language: Language, key: MessageKey, params: Params = {}): string {
  const text = CATALOGUES[language][key] ?? en[key];
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => (name in params ? String(params[name]) : whole));
}

export interface I18n {
  language: Language;
  locale: string;
  t: (key: MessageKey, params?: Params) => string;
  number: (value: number, options?: Intl.NumberFormatOptions) => string;
  percent: (share: number) => string;
  dateTime: (value: string | number | Date) => string;
  time: (value: string | number | Date) => string;
  /** A duration in seconds as h:mm:ss (or m:ss). */
  duration: (seconds: number) => string;
  /** An alarm code's name in this language (the code itself when the catalogue has none). */
  alarmLabel: (code: string) => string;
  setLanguage: (language: Language) => void;
}

/**
 * Whether the browser's Intl has real data for a locale: Chromium's reduced ICU accepts `az` but
 * formats it with the root locale ("2026 M11 28", "12,345.6").
 */
function hasLocaleData(locale: string): boolean {
  return !/^M\d/.test(new Intl.DateTimeFormat(locale, { month: 'long' }).format(new Date(2020, 0, 15)));
}

/**
 * Where the browser lacks a language's data: a locale with the same numeric conventions, with
 * numeric dates only. Azerbaijani writes 28.11.2026 15:38:53 and 12.345,6 — as Turkish does.
 */
const FALLBACK_LOCALES: Record<Language, string> = { en: 'en-GB', az: 'tr-TR', ru: 'ru-RU' };

export function makeI18n(language: Language, setLanguage: (language: Language) => void): I18n {
  const locale = LOCALES[language];
  const complete = hasLocaleData(locale);
  const dataLocale = complete ? locale : FALLBACK_LOCALES[language];
  const dateTimeFormat = new Intl.DateTimeFormat(dataLocale, complete ? { dateStyle: 'medium', timeStyle: 'medium' } : { day: '2-digit', month: '2-digit', year: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
  const timeFormat = new Intl.DateTimeFormat(dataLocale, { timeStyle: 'medium' });
  const percentFormat = complete ? new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 1 }) : null;
  const plainFormat = new Intl.NumberFormat(dataLocale, { maximumFractionDigits: 1 });
  const two = new Intl.NumberFormat(dataLocale, { minimumIntegerDigits: 2 });
  return {
    language,
    locale,
    t: (key, params) => translate(language, key, params),
    number: (value, options) => new Intl.NumberFormat(dataLocale, options).format(value),
    // The fallback's percent sign would stand first (Turkish "%25"); Azerbaijani writes "25%".
    percent: (share) => (percentFormat ? percentFormat.format(share) : `${plainFormat.format(share * 100)}%`),
    dateTime: (value) => dateTimeFormat.format(new Date(value)),
    time: (value) => timeFormat.format(new Date(value)),
    duration: (seconds) => {
      const total = Math.max(0, Math.floor(seconds));
      const h = Math.floor(total / 3600);
      const m = Math.floor((total % 3600) / 60);
      const s = total % 60;
      return h > 0 ? `${h}:${two.format(m)}:${two.format(s)}` : `${m}:${two.format(s)}`;
    },
    alarmLabel: (code) => {
      const key = `alarmCode.${code}`;
      return key in en ? translate(language, key as MessageKey) : code;
    },
    setLanguage,
  };
}

export const I18nContext = createContext<I18n>(makeI18n('en', () => undefined));

export const useI18n = (): I18n => useContext(I18nContext);
