/**
 * The VMC dashboard: log in, filter by posts, one period (year → month → day), vehicle type,
 * direction and channel, and see what the posts are judged by: the headline figures (vehicles,
 * average per day and per month, X-ray involvement, average registration and crossing time with
 * their change against the same dates a year before), vehicles by direction against the previous
 * year, vehicles per year, channel shares per year, the monthly dynamics of the last 24 months,
 * the TRS interval table and distribution curve, each post's lanes and device health now, open
 * gaps and recent alarms. Live: the posts are polled every few seconds and everything is
 * reloaded as soon as a post has new events (or a minute has passed), with the time of the last
 * update in the header. Two more views share the header: #crossings (the crossings the filters
 * select, each with its evidence: crossings-view.tsx) and #commands (the posts' watchlist and
 * model versions, rollouts' progress, and the admins' rollout forms: commands-view.tsx).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, apiPage, ApiError, type Alarm, type Gap, type Me, type PeriodVolume, type Post, type TrsReport } from './api.js';
import { CommandsView } from './commands-view.js';
import { CrossingsView } from './crossings-view.js';
import { ChannelShares, GroupedBars, Legend } from './charts.js';
import { change, fixed, min, pct, points, ratio, sharePoints, tone } from './figures.js';
import { gapsNotShown, type GapsShown } from './gaps.js';
import { IntervalChart } from './interval-chart.js';
import { INTERVAL_MAX, INTERVAL_MIN, intervalLabel, intervalMinutes } from './intervals.js';
import { clip, Untrusted, visibleControls } from './untrusted.js';
import { daysInMonth, elapsed, endLabel, periodLabel, periodRange, rangeLabel, stamp, yearBefore, type Period, type Range } from './period.js';

const DIRECTIONS = ['import', 'export', 'transit-entry', 'transit-exit', 'domestic-transit'];
const CHANNELS = ['green', 'orange', 'red'];
/** crossing.completed's vehicle types (contract/catalogue.ts); the API refuses any other. */
const VEHICLE_TYPES = ['truck', 'tractor-trailer', 'van', 'bus', 'car', 'unknown'];
const MONTHS = ['01', '02', '03', '04', '05', '06', '07', '08', '09', '10', '11', '12'];
/** How often the posts are asked whether anything new arrived (one small query). */
const POLL_MS = 5_000;
/** Everything is reloaded at least this often, new events or not (device health, alarms). */
const RELOAD_MS = 60_000;
/** The posts list shows every post up to this many rows, then scrolls (the filters stay one band at 1280×800). */
const POST_ROWS_MAX = 6;
/** How much of a post's id, lane id, device id or alarm code is shown; of a message or device error (untrusted.tsx). */
const ID_MAX = 64;
const MESSAGE_MAX = 300;

interface Filters {
  posts: string[];
  period: Period;
  vehicleType: string;
  direction: string;
  channel: string;
  interval: number;
}

interface Comparison {
  label: string;
  now: TrsReport;
  before: TrsReport;
  nowRange: Range;
  beforeRange: Range;
}

/** The current year among the years shown: the API compares it to date (up to `range`'s end). */
interface YearToDate {
  year: string;
  range: Range;
}

interface Data {
  posts: Post[];
  ytd: YearToDate | null;
  report: TrsReport;
  comparison: Comparison | null;
  years: PeriodVolume[];
  months: PeriodVolume[];
  days: PeriodVolume[];
  gaps: Gap[];
  /** What the gaps listed leave out (the API's first page of them), null when nothing. */
  gapsCut: GapsShown | null;
  alarms: Alarm[];
}

/** The query of the filters that are not the period (posts, vehicle type, direction, channel). */
function baseParams(filters: Filters): URLSearchParams {
  const params = new URLSearchParams();
  if (filters.posts.length) params.set('post', filters.posts.join(','));
  if (filters.vehicleType) params.set('vehicleType', filters.vehicleType);
  if (filters.direction) params.set('direction', filters.direction);
  if (filters.channel) params.set('channel', filters.channel);
  return params;
}

function withRange(params: URLSearchParams, range: Range | null, extra: Record<string, string> = {}): string {
  const copy = new URLSearchParams(params);
  if (range) {
    copy.set('from', stamp(range.fromMs));
    copy.set('to', stamp(range.toMs));
  }
  for (const [k, v] of Object.entries(extra)) copy.set(k, v);
  return copy.toString();
}

/**
 * Loads every view for the filters, all as of one instant (`nowMs`): the headline compares the
 * picked period, or the latest year with traffic, up to it with the same dates a year before,
 * and the API's per-period changes (`asOf`) cut the periods not yet over at the same instant.
 */
async function loadAll(filters: Filters, nowMs: number): Promise<Data> {
  const base = baseParams(filters);
  const range = periodRange(filters.period);
  // Gaps and alarms take the posts only (no vehicle type, direction or channel: they are no crossings').
  const postOnly = new URLSearchParams(filters.posts.length ? { post: filters.posts.join(',') } : {});
  const asOf = new Date(nowMs).toISOString();
  const [posts, years] = await Promise.all([api<Post[]>('/api/posts'), api<PeriodVolume[]>(`/api/volumes?${withRange(base, null, { unit: 'year', asOf })}`)]);
  // The latest year with traffic up to now: a post whose clock says 2099 (a reset RTC, or one that
  // means harm) has a crossing in a year not begun, against which nothing compares; the headline
  // and the direction chart of every post then showed no change at all.
  const thisYear = new Date(nowMs).getUTCFullYear();
  const latest = years.filter((y) => Number(y.period) <= thisYear).at(-1)?.period;
  const compared = range ?? (latest ? periodRange({ year: latest, month: '', day: '' }) : null);
  const nowRange = compared ? elapsed(compared, nowMs) : null;
  const beforeRange = nowRange ? yearBefore(nowRange) : null;
  // Nothing to compare: the period has not begun, or has no same dates a year before (29 February).
  const comparable = nowRange && beforeRange && nowRange.toMs > nowRange.fromMs && beforeRange.toMs > beforeRange.fromMs;
  const interval = String(filters.interval);
  const [report, months, days, gaps, alarms, cmpNow, cmpBefore] = await Promise.all([
    api<TrsReport>(`/api/trs?${withRange(base, range, { interval })}`),
    // The 24 months up to the end of the picked period (or up to the latest); each month's change
    // is the API's against the same month a year before, whether or not that month is among them.
    // Without a period, the months up to this one: months a post stamped ahead are no "last" months.
    api<PeriodVolume[]>(
      `/api/volumes?${withRange(base, range ? { fromMs: Date.UTC(new Date(range.toMs).getUTCFullYear() - 2, new Date(range.toMs).getUTCMonth(), 1), toMs: range.toMs } : null, { unit: 'month', asOf, ...(range ? {} : { to: stamp(Date.UTC(thisYear, new Date(nowMs).getUTCMonth() + 1, 1)) }) })}`,
    ),
    api<PeriodVolume[]>(`/api/volumes?${withRange(base, range, { unit: 'day', asOf })}`),
    // Gaps are those open now, whatever the period; alarms follow it, as the other views do.
    apiPage<Gap[]>(`/api/gaps?${withRange(postOnly, null, { state: 'open' })}`),
    api<Alarm[]>(`/api/alarms?${withRange(postOnly, range, { limit: '20' })}`),
    comparable ? api<TrsReport>(`/api/trs?${withRange(base, nowRange, { interval })}`) : Promise.resolve(null),
    comparable ? api<TrsReport>(`/api/trs?${withRange(base, beforeRange, { interval })}`) : Promise.resolve(null),
  ]);
  const comparison = nowRange && beforeRange && cmpNow && cmpBefore ? { label: range ? periodLabel(filters.period) : (latest ?? ''), now: cmpNow, before: cmpBefore, nowRange, beforeRange } : null;
  const gapPosts = filters.posts.length ? posts.filter((p) => filters.posts.includes(p.postId)) : posts;
  const gapsCut = gapsNotShown(gaps.body, gaps.total, gaps.next !== null, gapPosts);
  return { posts, ytd: yearToDate(years, nowMs), report, comparison, years, months: months.slice(-24), days, gaps: gaps.body, gapsCut, alarms };
}

/** The current year, when it is among the years shown: what its change (the API's, as of `nowMs`) covers. */
function yearToDate(years: PeriodVolume[], nowMs: number): YearToDate | null {
  const year = String(new Date(nowMs).getUTCFullYear());
  if (!years.some((y) => y.period === year)) return null;
  return { year, range: elapsed(periodRange({ year, month: '', day: '' })!, nowMs) };
}

/** What changes in /api/posts when a post sends anything (a new seq, a device, a gap, its status). */
const signature = (posts: Post[]): string =>
  posts.map((p) => `${p.postId}:${p.lastSeq}:${p.lastSeen}:${p.openGaps}:${p.lastSeqRestart?.at ?? ''}:${p.status?.state ?? ''}:${p.devices.map((d) => d.state).join('')}`).join('|');

function Figure({ label, value, delta, testId }: { label: string; value: string; delta?: { text: string; tone: 'up' | 'down' | 'same' } | null; testId: string }) {
  return (
    <div class="figure" data-testid={testId}>
      {label} <b>{value}</b>
      {delta && <span class={delta.tone}>{delta.text}</span>}
    </div>
  );
}

function VolumeTable({ rows, label }: { rows: PeriodVolume[]; label: string }) {
  return (
    <table>
      <thead>
        <tr>
          <th>{label}</th>
          <th>vehicles</th>
          <th>vs year before</th>
          <th>green / orange / red</th>
          <th>X-ray</th>
          <th>reg. / crossing (avg min)</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((v) => {
          const share = (c: string): string => `${(((v.byChannel[c] ?? 0) / v.vehicles) * 100).toFixed(0)}`;
          return (
            <tr>
              <td>{v.period}</td>
              <td>{v.vehicles}</td>
              <td class={tone(v.changeVsPreviousYear)}>{change(v.changeVsPreviousYear)}</td>
              <td>{`${share('green')} / ${share('orange')} / ${share('red')} %`}</td>
              <td>{pct(v.xrayShare)}</td>
              <td>{`${min(v.avgRegistrationMin)} / ${min(v.avgCrossingMin)}`}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

/** `notice`: why the login form is back (the session expired), shown until the next attempt. */
function Login({ onLogin, notice }: { onLogin: (me: Me) => void; notice: string }) {
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [tried, setTried] = useState(false);
  const submit = (event: Event): void => {
    event.preventDefault();
    setTried(true);
    api<Me>('/api/login', { name, password }).then(
      (me) => onLogin({ name: me.name, role: me.role }),
      (e: unknown) => setError(e instanceof ApiError ? e.message : String(e)),
    );
  };
  return (
    <form class="login" onSubmit={submit}>
      <h1>VMC — border posts</h1>
      {notice && !tried && (
        <p class="notice" role="status" data-testid="login-notice">
          {notice}
        </p>
      )}
      <label>
        Name <input name="name" required maxLength={64} value={name} onInput={(e) => setName(e.currentTarget.value)} autocomplete="username" />
      </label>
      <label>
        Password <input name="password" type="password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} autocomplete="current-password" />
      </label>
      <button type="submit">Log in</button>
      {error && <p class="error">{error}</p>}
    </form>
  );
}

function PeriodPicker({ period, years, onChange }: { period: Period; years: string[]; onChange: (period: Period) => void }) {
  const days = period.year && period.month ? daysInMonth(Number(period.year), Number(period.month)) : 0;
  return (
    <>
      <label>
        Year
        <select name="year" onChange={(e) => onChange({ year: e.currentTarget.value, month: '', day: '' })}>
          <option value="">all</option>
          {years.map((y) => (
            <option value={y} selected={period.year === y}>
              {y}
            </option>
          ))}
        </select>
      </label>
      <label>
        Month
        <select name="month" disabled={!period.year} onChange={(e) => onChange({ ...period, month: e.currentTarget.value, day: '' })}>
          <option value="">all</option>
          {MONTHS.map((m) => (
            <option value={m} selected={period.month === m}>
              {m}
            </option>
          ))}
        </select>
      </label>
      <label>
        Day
        <select name="day" disabled={!period.month} onChange={(e) => onChange({ ...period, day: e.currentTarget.value })}>
          <option value="">all</option>
          {Array.from({ length: days }, (_, i) => String(i + 1).padStart(2, '0')).map((d) => (
            <option value={d} selected={period.day === d}>
              {d}
            </option>
          ))}
        </select>
      </label>
    </>
  );
}

function Choice({ name, label, values, value, onChange }: { name: string; label: string; values: string[]; value: string; onChange: (value: string) => void }) {
  return (
    <label>
      {label}
      <select name={name} onChange={(e) => onChange(e.currentTarget.value)}>
        <option value="">all</option>
        {values.map((v) => (
          <option value={v} selected={value === v}>
            {v}
          </option>
        ))}
      </select>
    </label>
  );
}

/** The dashboard's views, each at its own `#name` (a link to one opens it). */
const VIEWS = [
  ['figures', 'Figures'],
  ['crossings', 'Crossings & evidence'],
  ['commands', 'Commands'],
] as const;
type View = (typeof VIEWS)[number][0];
const viewOf = (hash: string): View => VIEWS.find(([name]) => `#${name}` === hash)?.[0] ?? 'figures';

/** `onLogout(expired)`: the caller logged out (false), or the API refused the session (true: it expired or was ended). */
function Dashboard({ me, onLogout, now }: { me: Me; onLogout: (expired: boolean) => void; now: () => number }) {
  const [view, setView] = useState<View>(viewOf(location.hash));
  useEffect(() => {
    const follow = (): void => setView(viewOf(location.hash));
    addEventListener('hashchange', follow);
    return () => removeEventListener('hashchange', follow);
  }, []);
  const [filters, setFilters] = useState<Filters>({ posts: [], period: { year: '', month: '', day: '' }, vehicleType: '', direction: '', channel: '', interval: 10 });
  const [data, setData] = useState<Data | null>(null);
  const [updated, setUpdated] = useState<Date | null>(null);
  const [error, setError] = useState('');
  const [intervalNote, setIntervalNote] = useState('');
  const knownYears = useRef<string[]>([]);

  useEffect(() => {
    let stopped = false;
    let busy = false;
    let seen = '';
    let loadedAt = 0;
    const fail = (e: unknown): void => {
      if (e instanceof ApiError && e.status === 401) onLogout(true);
      else if (!stopped) setError(e instanceof Error ? e.message : String(e));
    };
    const reload = (): Promise<void> =>
      loadAll(filters, now()).then((loaded) => {
        if (stopped) return;
        seen = signature(loaded.posts);
        loadedAt = now();
        // The year picker offers every year seen, whatever the other filters select.
        knownYears.current = [...new Set([...knownYears.current, ...loaded.years.map((y) => y.period)])].sort();
        setData(loaded);
        setUpdated(new Date());
        setError('');
      });
    // One request chain at a time; a hidden tab asks nothing.
    const tick = (): void => {
      if (busy || stopped || document.hidden) return;
      busy = true;
      const work =
        now() - loadedAt >= RELOAD_MS ? reload() : api<Post[]>('/api/posts').then((posts) => (signature(posts) === seen ? undefined : reload()));
      work.catch(fail).finally(() => (busy = false));
    };
    busy = true;
    reload()
      .catch(fail)
      .finally(() => (busy = false));
    const timer = setInterval(tick, POLL_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [filters]);

  const set = (patch: Partial<Filters>): void => setFilters({ ...filters, ...patch });
  const posts = data?.posts ?? [];
  const shown = posts.filter((p) => filters.posts.length === 0 || filters.posts.includes(p.postId));
  const report = data?.report;
  const cmp = data?.comparison ?? null;
  const dayVehicles = data?.days.reduce((sum, d) => sum + d.vehicles, 0) ?? 0;
  const monthsWithTraffic = new Set(data?.days.map((d) => d.period.slice(0, 7))).size;
  const directions = cmp ? DIRECTIONS.filter((d) => (cmp.now.byDirection[d] ?? 0) + (cmp.before.byDirection[d] ?? 0) > 0) : [];
  /** A change against the year before; coloured by whether it is good news (shorter times are), the sign says which way. */
  const delta = (now: number | null | undefined, before: number | null | undefined, lowerIsBetter = false) => {
    const r = ratio(now, before);
    const t = tone(lowerIsBetter && r !== null ? -r : r);
    return r === null ? null : { text: `${change(r)} vs ${rangeLabel(cmp!.beforeRange).slice(0, 4)}`, tone: t };
  };
  /** A share's change in percentage points; none when either side had no vehicles. */
  const shareDelta = (now: TrsReport, before: TrsReport) => {
    const pp = sharePoints({ vehicles: now.vehicles, share: now.xrayShare }, { vehicles: before.vehicles, share: before.xrayShare });
    return pp === null ? null : { text: `${points(pp)} vs ${rangeLabel(cmp!.beforeRange).slice(0, 4)}`, tone: 'same' as const };
  };
  const years = data?.years ?? [];
  const ytd = data?.ytd ?? null;
  return (
    <>
      <header>
        <h1>VMC — border posts</h1>
        <nav aria-label="views">
          {VIEWS.map(([name, label]) => (
            <a href={`#${name}`} aria-current={view === name ? 'page' : undefined} onClick={() => setView(name)}>
              {label}
            </a>
          ))}
        </nav>
        <span class="live" data-testid="updated">
          {updated ? `Live · updated ${updated.toLocaleTimeString()}` : 'loading…'}
        </span>
        <span>{`${me.name} (${me.role})`}</span>
        <button onClick={() => void api('/api/logout', {}).finally(() => onLogout(false))}>Log out</button>
      </header>
      <main>
        {view !== 'commands' && (
        <section class="filters" aria-label="filters">
          <label>
            Posts
            <select multiple name="post" size={Math.min(POST_ROWS_MAX, Math.max(2, posts.length))} onChange={(e) => set({ posts: [...e.currentTarget.selectedOptions].map((o) => o.value) })}>
              {posts.map((p) => (
                <option value={p.postId} selected={filters.posts.includes(p.postId)} title={p.postId}>
                  {clip(visibleControls(p.postId), ID_MAX)}
                </option>
              ))}
            </select>
          </label>
          <PeriodPicker period={filters.period} years={knownYears.current} onChange={(period) => set({ period })} />
          <Choice name="vehicleType" label="Vehicle type" values={VEHICLE_TYPES} value={filters.vehicleType} onChange={(vehicleType) => set({ vehicleType })} />
          <Choice name="direction" label="Direction" values={DIRECTIONS} value={filters.direction} onChange={(direction) => set({ direction })} />
          <Choice name="channel" label="Channel" values={CHANNELS} value={filters.channel} onChange={(channel) => set({ channel })} />
          <label>
            Interval (min){' '}
            <input
              type="number"
              name="interval"
              min={INTERVAL_MIN}
              max={INTERVAL_MAX}
              step={1}
              value={filters.interval}
              aria-invalid={intervalNote ? 'true' : undefined}
              onChange={(e) => {
                // Only what the API takes (whole minutes 1–999): anything else would be refused, and the figures shown would stay those of the old width.
                const minutes = intervalMinutes(e.currentTarget.value);
                if (minutes === null) {
                  setIntervalNote(`interval: whole minutes ${INTERVAL_MIN}–${INTERVAL_MAX}; still ${filters.interval}`);
                  e.currentTarget.value = String(filters.interval);
                } else {
                  setIntervalNote('');
                  set({ interval: minutes });
                }
              }}
            />
          </label>
          {intervalNote && (
            <span class="error" data-testid="interval-note">
              {intervalNote}
            </span>
          )}
          {error && <span class="error">{error}</span>}
        </section>
        )}
        {view === 'figures' && (
          <>
          {report && (
            <section class="wide" aria-label="figures">
              <h2>
                Time Release Study <small>{periodLabel(filters.period) || 'all time'}{cmp ? ` · changes: ${rangeLabel(cmp.nowRange)} against ${rangeLabel(cmp.beforeRange)}` : ''}</small>
              </h2>
              <div class="figures">
                <Figure testId="fig-vehicles" label="Vehicles" value={String(report.vehicles)} delta={cmp ? delta(cmp.now.vehicles, cmp.before.vehicles) : null} />
                <Figure testId="fig-per-day" label="Average per day" value={data.days.length ? (dayVehicles / data.days.length).toFixed(1) : '–'} />
                <Figure testId="fig-per-month" label="Average per month" value={monthsWithTraffic ? (dayVehicles / monthsWithTraffic).toFixed(0) : '–'} />
                <Figure testId="fig-xray" label="X-ray involvement" value={pct(report.xrayShare)} delta={cmp ? shareDelta(cmp.now, cmp.before) : null} />
                <Figure testId="fig-registration" label="Registration (avg min)" value={min(report.registration.avgMin)} delta={cmp ? delta(cmp.now.registration.avgMin, cmp.before.registration.avgMin, true) : null} />
                <Figure testId="fig-crossing" label="Crossing (avg min)" value={min(report.crossing.avgMin)} delta={cmp ? delta(cmp.now.crossing.avgMin, cmp.before.crossing.avgMin, true) : null} />
                <Figure testId="fig-crossing-p" label="Crossing median / p90" value={`${min(report.crossing.medianMin)} / ${min(report.crossing.p90Min)}`} />
              </div>
            </section>
          )}
          {cmp && (
            <section aria-label="directions">
              <h2>
                Vehicles by direction <small>against the same dates a year before</small>
              </h2>
              <Legend items={[{ label: rangeLabel(cmp.beforeRange), swatch: 'previous' }, { label: rangeLabel(cmp.nowRange), swatch: 'current' }]} />
              <GroupedBars
                testId="direction-yoy"
                title="Vehicles by direction, this period against the same dates a year before"
                categories={directions}
                series={[
                  { name: 'year before', color: 'previous', values: directions.map((d) => cmp.before.byDirection[d] ?? 0) },
                  { name: 'this period', color: 'current', values: directions.map((d) => cmp.now.byDirection[d] ?? 0) },
                ]}
                notes={directions.map((d) => {
                  const r = ratio(cmp.now.byDirection[d] ?? 0, cmp.before.byDirection[d] ?? 0);
                  return r === null ? { text: 'new', tone: 'same' as const } : { text: change(r), tone: tone(r) };
                })}
                values
              />
            </section>
          )}
          <section aria-label="years">
            <h2>
              Vehicles per year <small>{ytd ? `${ytd.year} to ${endLabel(ytd.range)}: change against the same dates of ${Number(ytd.year) - 1}` : ''}</small>
            </h2>
            <GroupedBars
              testId="years-chart"
              title="Vehicles per year"
              categories={years.map((y) => y.period)}
              series={[{ name: 'vehicles', color: 'current', values: years.map((y) => y.vehicles) }]}
              notes={years.map((y) => (y.changeVsPreviousYear === null ? null : { text: change(y.changeVsPreviousYear), tone: tone(y.changeVsPreviousYear) }))}
              values
              height={200}
            />
          </section>
          <section aria-label="channels">
            <h2>Channels per year</h2>
            <Legend items={CHANNELS.map((c) => ({ label: c, swatch: c }))} />
            <ChannelShares testId="channel-shares" rows={years} />
          </section>
          <section class="wide" aria-label="months">
            <h2>
              Monthly dynamics <small>last {data?.months.length ?? 0} months</small>
            </h2>
            <GroupedBars
              testId="months-chart"
              title="Vehicles per month"
              categories={(data?.months ?? []).map((m) => m.period)}
              series={[{ name: 'vehicles', color: 'current', values: (data?.months ?? []).map((m) => m.vehicles) }]}
              notes={(data?.months ?? []).map((m, i, all) => (all.length > 12 && i % 2 !== 0) || m.changeVsPreviousYear === null ? null : { text: change(m.changeVsPreviousYear), tone: tone(m.changeVsPreviousYear) })}
              labelEvery={(data?.months.length ?? 0) > 12 ? 2 : 1}
              values
              height={190}
            />
            <details>
              <summary>Per year and per month, as tables</summary>
              <VolumeTable rows={years} label="year" />
              <VolumeTable rows={data?.months ?? []} label="month" />
            </details>
          </section>
          {report && (
            <>
              <section aria-label="distribution">
                <h2>Crossing times by interval</h2>
                <IntervalChart intervals={report.intervals} />
              </section>
              <section aria-label="interval table">
                <h2>Interval table</h2>
                <div class="scroll" tabIndex={0}>
                  <table>
                    <thead>
                      <tr>
                        <th>up to (min)</th>
                        <th>vehicles</th>
                        <th>cumulative</th>
                        <th>cum. %</th>
                        <th>avg crossing (min)</th>
                      </tr>
                    </thead>
                    <tbody>
                      {report.intervals.map((r) => (
                        <tr>
                          <td>{intervalLabel(r)}</td>
                          <td>{r.vehicles}</td>
                          <td>{r.cumulative}</td>
                          <td>{fixed(r.cumulativePct, 2)}</td>
                          {/* null in the JSON where the report's mean overflowed (figures.ts): no figure, not a crash that leaves the last filters' figures up. */}
                          <td>{fixed(r.avgCrossingMin, 2)}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              </section>
            </>
          )}
          <section aria-label="posts">
            <h2>Posts, lanes and devices now</h2>
            {shown.map((p) => (
              <div>
                <b>
                  <Untrusted text={p.postId} max={ID_MAX} />
                </b> {p.status ? <span class={p.status.state === 'online' ? 'up' : 'down'}>{p.status.state}</span> : null} <span class="muted">· last event {new Date(p.lastSeen).toLocaleString()}</span>
                {p.openGaps > 0 && <span class="down"> · {p.openGaps} open gap(s)</span>}
                {p.lastSeqRestart && (
                  <span class="down" data-testid="seq-restart" title="the gateway's seq started again (a new outbox): events not yet sent from the old one are lost">
                    {` · seq restarted at ${p.lastSeqRestart.firstSeq} after ${p.lastSeqRestart.previousSeq}, ${new Date(p.lastSeqRestart.at).toLocaleString()}`}
                  </span>
                )}
                <ul class="devices">
                  {p.lanes.map((lane) => {
                    const devices = p.devices.filter((d) => d.laneId === lane.laneId);
                    return (
                      <li>
                        <Untrusted text={lane.laneId} max={ID_MAX} />
                        {devices.length === 0 ? (
                          <span class="muted"> · no device reports</span>
                        ) : (
                          devices.map((d) => (
                            <span class={d.state} data-device={d.deviceId}>
                              {' · '}
                              <Untrusted text={d.deviceId} max={ID_MAX} /> (<Untrusted text={lane.laneId} max={ID_MAX} />
                              {`): ${d.state}`}
                              {d.lastError && (
                                <>
                                  {' — '}
                                  <Untrusted text={d.lastError} max={MESSAGE_MAX} />
                                </>
                              )}
                            </span>
                          ))
                        )}
                      </li>
                    );
                  })}
                </ul>
              </div>
            ))}
          </section>
          <section aria-label="gaps and alarms">
            <h2>Open gaps</h2>
            {data?.gapsCut && (
              <p class="down" data-gaps-cut>
                {`Showing the first ${data.gapsCut.shown.toLocaleString()} of ${data.gapsCut.total.toLocaleString()} open gaps (by post, then seq)`}
                {data.gapsCut.notReached.length > 0 && '; not listed: '}
                {data.gapsCut.notReached.map((p, i) => (
                  <>
                    {i > 0 && ', '}
                    {/* One post's open gaps fit a page (at most 200 of them): a click lists them all. */}
                    <button type="button" class="link" data-gaps-post={p.postId} title={`Show the open gaps of ${p.postId} only`} onClick={() => set({ posts: [p.postId] })}>
                      <Untrusted text={p.postId} max={ID_MAX} />
                    </button>
                    {` (${p.notShown.toLocaleString()})`}
                  </>
                ))}
              </p>
            )}
            {(data?.gaps.length ?? 0) === 0 ? <p class="muted">none</p> : data?.gaps.map((g) => (
                  <p class="down">
                    <Untrusted text={g.postId} max={ID_MAX} />
                    {`: seq ${g.firstSeq}–${g.lastSeq}, ${g.missing} missing since ${new Date(g.openedAt).toLocaleString()}`}
                  </p>
                ))}
            <h2>Recent alarms</h2>
            {(data?.alarms.length ?? 0) === 0 ? <p class="muted">none</p> : data?.alarms.map((a) => (
                  <p class={a.severity} data-alarm={a.eventId}>
                    {`${new Date(a.time).toLocaleString()} `}
                    <Untrusted text={a.postId} max={ID_MAX} />/<Untrusted text={a.laneId} max={ID_MAX} /> <Untrusted text={a.alarm} max={ID_MAX} />
                    {': '}
                    <Untrusted text={a.message} max={MESSAGE_MAX} />
                  </p>
                ))}
          </section>
          </>
        )}
        {view === 'crossings' && <CrossingsView query={withRange(baseParams(filters), periodRange(filters.period))} reloadKey={updated?.getTime() ?? 0} />}
        {view === 'commands' && <CommandsView me={me} posts={posts} />}
      </main>
    </>
  );
}

/** `now`: the dashboard's clock (what "to date" means); the browser's by default. */
export function App({ now = Date.now }: { now?: () => number }) {
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [notice, setNotice] = useState('');
  useEffect(() => {
    api<Me | null>('/api/me').then(
      (who) => setMe(who ? { name: who.name, role: who.role } : null),
      () => setMe(null),
    );
  }, []);
  if (me === undefined) return null;
  if (me === null) return <Login onLogin={setMe} notice={notice} />;
  return (
    <Dashboard
      me={me}
      onLogout={(expired) => {
        setNotice(expired ? 'Your session has expired: log in again.' : '');
        setMe(null);
      }}
      now={now}
    />
  );
}
