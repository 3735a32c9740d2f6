/** The bar over every page: pages, the live connection, language, who is signed in, logout. */
import { useI18n } from '../i18n/index.js';
import type { LiveState } from '../live.js';
import { may } from '../permissions.js';
import { navigate, PATHS, type Page } from '../router.js';
import type { SessionView } from '../types.js';
import { LanguageSelect } from './language-select.js';

export function Header({ session, page, liveState, onLogout }: { session: SessionView; page: Page; liveState: LiveState; onLogout: () => void }) {
  const { t } = useI18n();
  const pages: [Page, 'nav.lanes' | 'nav.day' | 'nav.audit', string][] = [
    ['lanes', 'nav.lanes', 'Alt+1'],
    ['day', 'nav.day', 'Alt+2'],
    ...(may(session.role, 'audit.read') ? [['audit', 'nav.audit', 'Alt+3'] as [Page, 'nav.audit', string]] : []),
  ];
  return (
    <header class="top">
      <a class="skip" href="#main">
        {t('header.skip')}
      </a>
      <strong class="brand">{t('app.title')}</strong>
      <nav aria-label={t('nav.label')}>
        {pages.map(([id, key, shortcut]) => (
          <a
            key={id}
            href={PATHS[id]}
            aria-current={page === id ? 'page' : undefined}
            aria-keyshortcuts={shortcut}
            data-testid={`nav-${id}`}
            onClick={(event) => {
              event.preventDefault();
              navigate(id);
            }}
          >
            {t(key)} <kbd>{shortcut}</kbd>
          </a>
        ))}
      </nav>
      <span class={`live live-${liveState}`} role="status" data-testid="live-state" data-state={liveState} title={t('live.title')}>
        <span class="dot" aria-hidden="true" />
        {t(`live.${liveState}`)}
      </span>
      <LanguageSelect />
      <span class="who" data-testid="who">
        {session.account} · {t(`role.${session.role}`)}
      </span>
      <button type="button" class="on-dark" onClick={onLogout} data-testid="logout">
        {t('header.logout')}
      </button>
    </header>
  );
}
