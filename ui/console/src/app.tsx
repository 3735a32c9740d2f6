/**
 * The console's shell: the session (login, the password a new account must change, expiry), the
 * language, the live lanes and the three pages. One Api object carries the CSRF token; a 401 or a
 * `session-ended` from the live stream returns to the login screen with a message.
 */
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { Api, ApiError } from './api.js';
import { postClockOf } from './clock.js';
import { AuditPage } from './components/audit-page.js';
import { Board } from './components/board.js';
import { ChangePassword } from './components/change-password.js';
import { DayPage } from './components/day-page.js';
import { Header } from './components/header.js';
import { Login } from './components/login.js';
import { Toasts, type Toast } from './components/toasts.js';
import { I18nContext, makeI18n, rememberLanguage, storedLanguage, type Language, type MessageKey } from './i18n/index.js';
import { LiveStream, type LiveAlarm, type LiveState } from './live.js';
import { may } from './permissions.js';
import { navigate, usePage, type Page } from './router.js';
import type { LaneView, SessionView } from './types.js';

export interface Snapshot {
  lanes: LaneView[];
  /** Browser time (Date.now) when these lanes arrived. */
  receivedAt: number;
}

export function App() {
  const api = useMemo(() => new Api(), []);
  const [language, setLanguageState] = useState<Language>(storedLanguage());
  const setLanguage = useCallback((next: Language) => {
    rememberLanguage(next);
    setLanguageState(next);
  }, []);
  const i18n = useMemo(() => makeI18n(language, setLanguage), [language, setLanguage]);
  // A layout effect: the page's language changes in the same commit as its text. An ordinary
  // effect runs after paint, so for a frame (and for a screen reader) the text was Azerbaijani
  // while the page still said English.
  useLayoutEffect(() => {
    document.documentElement.lang = language;
    document.title = i18n.t('app.title');
  }, [language, i18n]);

  const [session, setSession] = useState<SessionView | null | 'loading'>('loading');
  const [ended, setEnded] = useState<MessageKey | null>(null);
  const [toasts, setToasts] = useState<Toast[]>([]);
  const toastId = useRef(0);
  const toast = useCallback((toast: Omit<Toast, 'id'>) => {
    toastId.current += 1;
    const id = toastId.current;
    setToasts((all) => [...all.slice(-3), { ...toast, id }]);
    setTimeout(() => setToasts((all) => all.filter((t) => t.id !== id)), 8000);
  }, []);

  const signedIn = useCallback(
    (view: SessionView) => {
      api.setSession(view);
      setEnded(null);
      setSession(view);
    },
    [api],
  );
  const signedOut = useCallback(
    (why: MessageKey | null) => {
      api.setSession(null);
      setEnded(why);
      setSession(null);
    },
    [api],
  );

  useEffect(() => {
    api.request<SessionView>('GET', '/api/session', undefined, { quiet401: true }).then(signedIn, () => setSession(null));
    return api.onExpired(() => signedOut('session.expired'));
  }, [api, signedIn, signedOut]);

  const logout = useCallback(async () => {
    try {
      await api.request('DELETE', '/api/session');
    } catch {
      // Gone already: logged out either way.
    }
    signedOut('session.loggedOut');
  }, [api, signedOut]);

  const active = session !== 'loading' && session !== null && !session.mustChangePassword ? session : null;
  const [snapshot, setSnapshot] = useState<Snapshot>({ lanes: [], receivedAt: Date.now() });
  const [liveState, setLiveState] = useState<LiveState>('connecting');
  const [liveAlarms, setLiveAlarms] = useState<LiveAlarm[]>([]);
  // What the console stamps itself reads the post clock too, as the board's timers do: in the demo
  // it runs fast and is hours ahead of the browser's.
  const postClock = useMemo(() => postClockOf(snapshot.lanes, snapshot.receivedAt), [snapshot]);
  const i18nRef = useRef(i18n);
  i18nRef.current = i18n;

  useEffect(() => {
    if (!active) return;
    const stream = new LiveStream('/api/live', {
      onLanes: (lanes) => setSnapshot({ lanes, receivedAt: Date.now() }),
      onAlarm: (alarm) => {
        setLiveAlarms((all) => [...all.slice(-50), alarm]);
        toast({ kind: 'alarm', code: alarm.code, text: i18nRef.current.t('alarm.raised', { lane: alarm.laneId, message: alarm.message }) });
      },
      onState: setLiveState,
      onSessionEnded: () => signedOut('session.expired'),
      sessionAlive: async () => {
        try {
          await api.request('GET', '/api/session', undefined, { quiet401: true });
          return true;
        } catch (error) {
          if (error instanceof ApiError && (error.status === 401 || error.status === 403)) return false;
          throw error;
        }
      },
    });
    stream.start();
    return () => stream.stop();
  }, [active, api, signedOut, toast]);

  // Without the live stream (it dropped, or the gateway has none) the lanes are polled meanwhile.
  useEffect(() => {
    if (!active || liveState === 'live') return;
    let stopped = false;
    const poll = (): void => {
      api.get<LaneView[]>('/api/lanes').then(
        (lanes) => !stopped && setSnapshot({ lanes, receivedAt: Date.now() }),
        () => undefined,
      );
    };
    poll();
    const timer = setInterval(poll, 3000);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [active, liveState, api]);

  const page = usePage();
  // A new page: focus moves to its content (screen readers announce it; Tab starts there).
  const firstPage = useRef(true);
  useEffect(() => {
    if (firstPage.current) {
      firstPage.current = false;
      return;
    }
    document.getElementById('main')?.focus();
  }, [page]);
  useEffect(() => {
    const onKey = (event: KeyboardEvent): void => {
      if (!active || !event.altKey || event.ctrlKey || event.metaKey) return;
      const pages: Record<string, Page> = { Digit1: 'lanes', Digit2: 'day', Digit3: 'audit' };
      const target = pages[event.code];
      if (!target || (target === 'audit' && !may(active.role, 'audit.read'))) return;
      event.preventDefault();
      navigate(target);
    };
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  }, [active]);

  let body;
  if (session === 'loading') body = <main class="centre" aria-busy="true">{i18n.t('app.loading')}</main>;
  else if (session === null) body = <Login api={api} onSignedIn={signedIn} notice={ended} />;
  else if (session.mustChangePassword) body = <ChangePassword api={api} session={session} onChanged={signedIn} onLogout={() => void logout()} />;
  else
    body = (
      <>
        <Header session={session} page={page} liveState={liveState} onLogout={() => void logout()} />
        <main id="main" tabIndex={-1}>
          {page === 'lanes' && <Board api={api} session={session} snapshot={snapshot} liveAlarms={liveAlarms} toast={toast} />}
          {page === 'day' && <DayPage api={api} postClock={postClock} />}
          {page === 'audit' && (may(session.role, 'audit.read') ? <AuditPage api={api} /> : <p class="notice">{i18n.t('audit.forbidden')}</p>)}
        </main>
      </>
    );
  return (
    <I18nContext.Provider value={i18n}>
      {body}
      <Toasts toasts={toasts} />
    </I18nContext.Provider>
  );
}
