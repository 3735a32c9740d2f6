/**
 * The crossings the filters select, newest first, a page at a time; opening one shows its
 * evidence beside the list (evidence-panel.tsx). The list is reloaded when the filters change
 * and whenever the dashboard has reloaded for new events. Older pages are reached by the cursor
 * each page's answer names (its `Link` header), never by an offset: the URLs of the pages shown so
 * far are kept, so "newer" goes back along them.
 */
import { useEffect, useState } from 'preact/hooks';
import { apiPage, type CrossingRow } from './api.js';
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
  const first = `/api/crossings?${query}${query ? '&' : ''}limit=${PAGE}`;
  // The URLs of the older pages followed from the first, up to the one shown (none once the filters change); `next` is the one after it, if any.
  const [trail, setTrail] = useState<{ first: string; pages: string[] }>({ first, pages: [] });
  const pages = trail.first === first ? trail.pages : [];
  const [next, setNext] = useState<string | null>(null);
  const page = pages.length;
  const [open, setOpen] = useState<CrossingRow | null>(null);
  const [error, setError] = useState('');

  const url = pages[page - 1] ?? first;
  useEffect(() => {
    let stopped = false;
    apiPage<CrossingRow[]>(url).then(
      (loaded) => {
        if (stopped) return;
        setRows(loaded.body);
        setNext(loaded.next);
        setError('');
      },
      (e: unknown) => !stopped && setError(e instanceof Error ? e.message : String(e)),
    );
    return () => {
      stopped = true;
    };
  }, [url, reloadKey]);

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
          <button type="button" disabled={page === 0} onClick={() => setTrail({ first, pages: pages.slice(0, -1) })}>
            newer
          </button>{' '}
          <span class="muted">{rows.length ? `${page * PAGE + 1}–${page * PAGE + rows.length}` : ''}</span>{' '}
          <button type="button" disabled={next === null} onClick={() => {
              if (next === null) return;
              setNext(null); // until the page it names has loaded: a second click goes no further than it
              setTrail({ first, pages: [...pages, next] });
            }}>
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
