/** Logging in: the gateway's refusal shown in the operator's language (wrong password, throttled). */
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, type Api } from '../api.js';
import { useI18n, type MessageKey } from '../i18n/index.js';
import type { SessionView } from '../types.js';
import { LanguageSelect } from './language-select.js';

export function Login({ api, onSignedIn, notice }: { api: Api; onSignedIn: (session: SessionView) => void; notice: MessageKey | null }) {
  const { t } = useI18n();
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const nameInput = useRef<HTMLInputElement>(null);
  useEffect(() => nameInput.current?.focus(), []);

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const session = await api.request<SessionView>('POST', '/api/session', { name: name.trim(), password }, { quiet401: true });
      onSignedIn(session);
    } catch (caught) {
      const e = caught instanceof ApiError ? caught : new ApiError(0, 'NETWORK', String(caught));
      if (e.status === 401) setError(t('login.wrong'));
      else if (e.status === 429) setError(e.retryAfterSec ? t('login.throttled', { seconds: e.retryAfterSec }) : t('login.throttledNoTime'));
      else if (e.status === 400) setError(t('login.invalid'));
      else if (e.status === 0) setError(t('error.network'));
      else setError(t('error.api', { message: e.message }));
      setPassword('');
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="login centre">
      <form class="card login-card" onSubmit={(event) => void submit(event)} aria-labelledby="login-title">
        <h1 id="login-title">{t('login.title')}</h1>
        <p class="muted">{t('login.subtitle')}</p>
        {notice && (
          <p class="notice" role="status" data-testid="login-notice">
            {t(notice)}
          </p>
        )}
        <label>
          {t('login.name')}
          <input ref={nameInput} name="name" autoComplete="username" required value={name} onInput={(e) => setName((e.currentTarget).value)} />
        </label>
        <label>
          {t('login.password')}
          <input name="password" type="password" autoComplete="current-password" required value={password} onInput={(e) => setPassword((e.currentTarget).value)} />
        </label>
        {error && (
          <p class="error" role="alert" data-testid="login-error">
            {error}
          </p>
        )}
        <button class="primary" type="submit" disabled={busy}>
          {busy ? t('login.busy') : t('login.submit')}
        </button>
        <LanguageSelect />
      </form>
    </main>
  );
}
