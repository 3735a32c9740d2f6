/** The audit log (supervisors, admins): search, older/newer pages, and the chain's verdict. */
import { useEffect, useState } from 'preact/hooks';
import { ApiError, type Api } from '../api.js';
import { useI18n } from '../i18n/index.js';
import type { AuditEntry, AuditVerdict } from '../types.js';

const PAGE = 50;

export function AuditPage({ api }: { api: Api }) {
  const { t, number, dateTime } = useI18n();
  const [query, setQuery] = useState('');
  const [applied, setApplied] = useState('');
  /** `before` of each page shown so far: the last one is the current page. */
  const [pages, setPages] = useState<(number | null)[]>([null]);
  const [entries, setEntries] = useState<AuditEntry[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [verdict, setVerdict] = useState<AuditVerdict | null | 'checking'>(null);
  const before = pages[pages.length - 1] ?? null;

  const failure = (caught: unknown): string => (caught instanceof ApiError ? (caught.status === 0 ? t('error.network') : t('error.api', { message: caught.message })) : String(caught));

  useEffect(() => {
    setError(null);
    const params = new URLSearchParams({ limit: String(PAGE) });
    if (applied) params.set('q', applied);
    if (before !== null) params.set('before', String(before));
    api.get<AuditEntry[]>(`/api/audit?${params.toString()}`).then(setEntries, (caught: unknown) => setError(failure(caught)));
  }, [applied, before]);

  const verify = (): void => {
    setVerdict('checking');
    api.get<AuditVerdict>('/api/audit/verify').then(setVerdict, (caught: unknown) => {
      setVerdict(null);
      setError(failure(caught));
    });
  };

  return (
    <div class="page audit">
      <div class="page-head">
        <h1>{t('audit.title')}</h1>
        <form
          role="search"
          onSubmit={(event) => {
            event.preventDefault();
            setApplied(query.trim());
            setPages([null]);
          }}
        >
          <label>
            {t('audit.search')}
            <input type="search" maxLength={100} value={query} data-testid="audit-search" onInput={(e) => setQuery((e.currentTarget).value)} />
          </label>
          <button type="submit">{t('audit.searchButton')}</button>
        </form>
        <button type="button" onClick={verify} data-testid="audit-verify">
          {t('audit.verify')}
        </button>
      </div>
      {verdict === 'checking' && <p class="notice">{t('audit.checking')}</p>}
      {verdict && verdict !== 'checking' && (
        <div class={verdict.ok ? 'verdict ok' : 'verdict bad'} role="status" data-testid="audit-verdict" data-ok={String(verdict.ok)}>
          <strong>{verdict.ok ? t('audit.verdictOk', { entries: number(verdict.entries) }) : t('audit.verdictBad', { problems: number(verdict.problems.length) })}</strong>
          {verdict.problems.length > 0 && (
            <ul>
              {verdict.problems.map((p) => (
                <li key={`${p.seq}-${p.problem}`}>{t('audit.problem', { seq: p.seq, problem: p.problem })}</li>
              ))}
            </ul>
          )}
        </div>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {entries && (
        <>
          {/* Names and ids do not break: on a narrow screen the table scrolls inside this box, not the page. */}
          <div class="table-scroll" role="region" aria-label={t('audit.title')} tabIndex={0}>
          <table class="audit-table" data-testid="audit-table">
            <thead>
              <tr>
                <th scope="col" class="seq">#</th>
                <th scope="col">{t('audit.time')}</th>
                <th scope="col">{t('audit.actor')}</th>
                <th scope="col">{t('audit.action')}</th>
                <th scope="col">{t('audit.where')}</th>
                <th scope="col">{t('audit.change')}</th>
                <th scope="col">{t('audit.reason')}</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((entry) => (
                <tr key={entry.seq} data-action={entry.action}>
                  <td class="seq">{entry.seq}</td>
                  <td>{dateTime(entry.timeMs)}</td>
                  <td class="actor">
                    <span class="token">{entry.actor}</span> <span class="muted token">({entry.role})</span>
                  </td>
                  <td class="action token">{entry.action}</td>
                  <td class="where">
                    {[entry.laneId, entry.crossingId].filter((id): id is string => Boolean(id)).map((id, index) => (
                      <span key={id}>
                        {index > 0 && ' / '}
                        <span class="token">{id}</span>
                      </span>
                    ))}
                  </td>
                  <td class="text">{entry.before === null && entry.after === null ? '' : `${entry.before ?? '—'} → ${entry.after ?? '—'}`}</td>
                  <td class="text">{entry.reason ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
          </div>
          {entries.length === 0 && <p class="notice">{t('audit.none')}</p>}
          <div class="buttons">
            <button type="button" disabled={pages.length <= 1} onClick={() => setPages((all) => all.slice(0, -1))}>
              {t('audit.newer')}
            </button>
            <button type="button" disabled={entries.length < PAGE} onClick={() => setPages((all) => [...all, entries[entries.length - 1]?.seq ?? null])}>
              {t('audit.older')}
            </button>
          </div>
        </>
      )}
    </div>
  );
}
