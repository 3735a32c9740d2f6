/** An account whose password an admin chose must set its own before anything else. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, type Api } from '../api.js';
import { useI18n } from '../i18n/index.js';
import type { SessionView } from '../types.js';
import { LanguageSelect } from './language-select.js';

export function ChangePassword({ api, session, onChanged, onLogout }: { api: Api; session: SessionView; onChanged: (session: SessionView) => void; onLogout: () => void }) {
  const { t } = useI18n();
  const [current, setCurrent] = useState('');
  const [password, setPassword] = useState('');
  const [repeat, setRepeat] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const first = useRef<HTMLInputElement>(null);
  useEffect(() => first.current?.focus(), []);

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    if (password !== repeat) {
      setError(t('password.mismatch'));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      onChanged(await api.post<SessionView>('/api/session/password', { current, password }));
    } catch (caught) {
      const e = caught instanceof ApiError ? caught : new ApiError(0, 'NETWORK', String(caught));
      if (e.status === 429) setError(e.retryAfterSec ? t('login.throttled', { seconds: e.retryAfterSec }) : t('login.throttledNoTime'));
      else if (e.status === 0) setError(t('error.network'));
      else setError(t('error.api', { message: e.message }));
    } finally {
      setBusy(false);
    }
  };
  const bind = (set: (value: string) => void) => (e: Event) => set((e.currentTarget as HTMLInputElement).value);

  return (
    <main class="login centre">
      <form class="card login-card" onSubmit={(event) => void submit(event)} aria-labelledby="password-title" data-testid="change-password">
        <h1 id="password-title">{t('password.title')}</h1>
        <p class="notice">{t('password.explain', { name: session.account })}</p>
        <label>
          {t('password.current')}
          <input ref={first} name="current" type="password" autoComplete="current-password" required value={current} onInput={bind(setCurrent)} />
        </label>
        <label>
          {t('password.new')}
          <input name="new" type="password" autoComplete="new-password" required value={password} onInput={bind(setPassword)} />
        </label>
        <label>
          {t('password.repeat')}
          <input name="repeat" type="password" autoComplete="new-password" required value={repeat} onInput={bind(setRepeat)} />
        </label>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button class="primary" type="submit" disabled={busy}>
          {t('password.submit')}
        </button>
        <button type="button" onClick={onLogout}>
          {t('header.logout')}
        </button>
        <LanguageSelect />
      </form>
    </main>
  );
}
