/** Switches the console's language (remembered in this browser). */
import { LANGUAGES, useI18n, type Language } from '../i18n/index.js';

export function LanguageSelect() {
  const { t, language, setLanguage } = useI18n();
  return (
    <label class="language">
      <span>{t('language.label')}</span>
      <select data-testid="language" value={language} onChange={(event) => setLanguage((event.currentTarget).value as Language)}>
        {LANGUAGES.map((code) => (
          <option key={code} value={code} lang={code}>
            {t(`language.${code}`)}
          </option>
        ))}
      </select>
    </label>
  );
}
