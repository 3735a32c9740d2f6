/**
 * The crossings the filters select, newest first, a page at a time; opening one shows its
 * evidence beside the list (evidence-panel.tsx). The list is reloaded when the filters change
 * and whenever the dashboard has reloaded for new events.
 */
import { useEffect, useState } from 'preact/hooks';
import { api, type CrossingRow } from './api.js';
import { EvidencePanel } from './evidence-panel.js';
import { Untrusted } from './untrusted.js';

const PAGE = 50;
/** A plate is a few characters; a lane id at most 63 (config/schema.ts). What a post sends past them is cut (untrusted.tsx). */
const PLATE_MAX = 20;
const ID_MAX = 64;
/** A crossing time past this many minutes (two years; a post may send 1e305) is shown as "≥ 1M", its figure in the tooltip: written out it is wider than the table. */
const MINUTES_MAX = 1e6;

export function CrossingsView({ query, reloadKey }: { query: string; reloadKey: number }) {
  const [rows, setRows] = useState<CrossingRow[]>([]);
  const [page, setPage] = useState(0);
  const [open, setOpen] = useState<CrossingRow | null>(null);
  const [error, setError] = useState('');

  useEffect(() => setPage(0), [query]);
  useEffect(() => {
    let stopped = false;
    api<CrossingRow[]>(`/api/crossings?${query}${query ? '&' : ''}limit=${PAGE}&offset=${page * PAGE}`).then(
      (loaded) => {
        if (stopped) return;
        setRows(loaded);
        setError('');
      },
      (e: unknown) => !stopped && setError(e instanceof Error ? e.message : String(e)),
    );
    return () => {
      stopped = true;
    };
  }, [query, page, reloadKey]);

  const key = (c: CrossingRow): string => `${c.postId}/${c.crossingId}/${c.eventId}`;
  return (
    <div class="split wide">
      <section aria-label="crossings">
        <h2>
          Crossings <small>newest first · open one to see its evidence</small>
        </h2>
        {error && <p class="error">{error}</p>}
        <div class="scroll tall" tabIndex={0}>
          <table class="crossings text-table">
            <thead>
              <tr>
                <th>plate</th>
                <th>post · lane</th>
                <th>direction</th>
                <th>channel</th>
                <th>X-ray</th>
                <th>outcome</th>
                <th class="num">min</th>
                <th>ended</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((c) => (
                <tr class={open && key(open) === key(c) ? 'selected' : ''} data-crossing={c.crossingId} data-post={c.postId}>
                  <td>
                    <button type="button" class="link" aria-pressed={open !== null && key(open) === key(c)} onClick={() => setOpen(c)}>
                      {c.plate === null ? 'unread' : <Untrusted text={c.plate} max={PLATE_MAX} />}
                    </button>
                  </td>
                  <td>
                    <Untrusted text={c.postId} max={ID_MAX} />
                    {' · '}
                    <Untrusted text={c.laneId} max={ID_MAX} />
                  </td>
                  <td>{c.direction}</td>
                  <td class={`channel-${c.channel}`}>{c.channel}</td>
                  <td>{c.xray ? 'yes' : ''}</td>
                  {/* An abandoned crossing ended without clearing the post: it has no crossing time, and is no completed one. */}
                  <td class={c.outcome === 'completed' ? '' : 'down'} data-testid="outcome">
                    {c.outcome}
                  </td>
                  <td class="num" title={c.crossingMin !== null && c.crossingMin >= MINUTES_MAX ? `${c.crossingMin} min` : undefined}>
                    {c.crossingMin === null ? '–' : c.crossingMin >= MINUTES_MAX ? `≥ ${MINUTES_MAX / 1e6}M` : c.crossingMin.toFixed(0)}
                  </td>
                  <td title={c.completedAt}>{new Date(c.completedAt).toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' })}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {rows.length === 0 && !error && <p class="muted">No crossings for these filters.</p>}
        </div>
        <p class="pager">
          <button type="button" disabled={page === 0} onClick={() => setPage(page - 1)}>
            newer
          </button>{' '}
          <span class="muted">{rows.length ? `${page * PAGE + 1}–${page * PAGE + rows.length}` : ''}</span>{' '}
          <button type="button" disabled={rows.length < PAGE} onClick={() => setPage(page + 1)}>
            older
          </button>
        </p>
      </section>
      {open ? (
        <EvidencePanel key={key(open)} crossing={open} />
      ) : (
        <section class="evidence" aria-label="evidence">
          <h2>Evidence</h2>
          <p class="muted">Open a crossing to see its plate snapshot, its X-ray thumbnail with the screening regions, and its full image.</p>
        </section>
      )}
    </div>
  );
}
