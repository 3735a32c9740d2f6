/**
 * The VMC dashboard: log in, pick posts, a period, direction and channel, and see the TRS
 * figures (vehicles by direction, channel shares, X-ray involvement, registration and crossing
 * times, the interval table and distribution curve), each post's lanes and device health now,
 * open gaps and recent alarms. Refreshed every 10 seconds ("live" at the pace events arrive).
 */
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, type Alarm, type Gap, type PeriodVolume, type Post, type TrsReport } from './api.js';
import { IntervalChart } from './interval-chart.js';

const DIRECTIONS = ['import', 'export', 'transit-entry', 'transit-exit', 'domestic-transit'];
const CHANNELS = ['green', 'orange', 'red'];
const REFRESH_MS = 10_000;

interface Filters {
  posts: string[];
  from: string;
  to: string;
  direction: string;
  channel: string;
  interval: number;
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const min = (x: number | null): string => (x === null ? '–' : x.toFixed(1));

function query(filters: Filters): string {
  const params = new URLSearchParams();
  if (filters.posts.length) params.set('post', filters.posts.join(','));
  if (filters.from) params.set('from', filters.from);
  if (filters.to) params.set('to', filters.to);
  if (filters.direction) params.set('direction', filters.direction);
  if (filters.channel) params.set('channel', filters.channel);
  params.set('interval', String(filters.interval));
  return params.toString();
}

/** The period views ignore the period filter (they are the periods) but keep the others. */
function volumeQuery(filters: Filters): string {
  return query({ ...filters, from: '', to: '' }).replace(/&?interval=\d+(\.\d+)?/, '');
}

const change = (x: number | null): string => (x === null ? '–' : `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`);

function VolumeTable({ rows, label }: { rows: PeriodVolume[]; label: string }) {
  return (
    <table>
      <thead>
        <tr>
          <th>{label}</th>
          <th>vehicles</th>
          <th>vs year before</th>
          <th>per day</th>
          <th>green / orange / red</th>
          <th>X-ray</th>
          <th>reg. / crossing (avg min)</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((v) => {
          const days = v.period.length === 4 ? 365 : v.period.length === 7 ? new Date(Date.UTC(Number(v.period.slice(0, 4)), Number(v.period.slice(5, 7)), 0)).getUTCDate() : 1;
          const share = (c: string): string => `${(((v.byChannel[c] ?? 0) / v.vehicles) * 100).toFixed(0)}`;
          return (
            <tr>
              <td>{v.period}</td>
              <td>{v.vehicles}</td>
              <td class={v.changeVsPreviousYear !== null && v.changeVsPreviousYear < 0 ? 'down' : 'up'}>{change(v.changeVsPreviousYear)}</td>
              <td>{(v.vehicles / days).toFixed(1)}</td>
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

function Login({ onLogin }: { onLogin: (name: string) => void }) {
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const submit = (event: Event): void => {
    event.preventDefault();
    api<{ name: string }>('/api/login', { name, password }).then(
      (me) => onLogin(me.name),
      (e: unknown) => setError(e instanceof ApiError ? e.message : String(e)),
    );
  };
  return (
    <form class="login" onSubmit={submit}>
      <h1>VMC — border posts</h1>
      <label>
        Name <input name="name" value={name} onInput={(e) => setName(e.currentTarget.value)} autocomplete="username" />
      </label>
      <label>
        Password <input name="password" type="password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} autocomplete="current-password" />
      </label>
      <button type="submit">Log in</button>
      {error && <p class="error">{error}</p>}
    </form>
  );
}

function Dashboard({ me, onLogout }: { me: string; onLogout: () => void }) {
  const [posts, setPosts] = useState<Post[]>([]);
  const [filters, setFilters] = useState<Filters>({ posts: [], from: '', to: '', direction: '', channel: '', interval: 10 });
  const [report, setReport] = useState<TrsReport | null>(null);
  const [gaps, setGaps] = useState<Gap[]>([]);
  const [alarms, setAlarms] = useState<Alarm[]>([]);
  const [years, setYears] = useState<PeriodVolume[]>([]);
  const [months, setMonths] = useState<PeriodVolume[]>([]);
  const [error, setError] = useState('');

  useEffect(() => {
    let stopped = false;
    const load = (): void => {
      const postQuery = filters.posts.length ? `post=${filters.posts.join(',')}` : '';
      Promise.all([
        api<Post[]>('/api/posts'),
        api<TrsReport>(`/api/trs?${query(filters)}`),
        api<Gap[]>(`/api/gaps?state=open${postQuery ? `&${postQuery}` : ''}`),
        api<Alarm[]>(`/api/alarms?limit=20${postQuery ? `&${postQuery}` : ''}`),
        api<PeriodVolume[]>(`/api/volumes?unit=year&${volumeQuery(filters)}`),
        api<PeriodVolume[]>(`/api/volumes?unit=month&${volumeQuery(filters)}`),
      ]).then(
        ([p, r, g, a, y, m]) => {
          if (stopped) return;
          setPosts(p);
          setReport(r);
          setGaps(g);
          setAlarms(a);
          setYears(y);
          setMonths(m.slice(-24));
          setError('');
        },
        (e: unknown) => {
          if (e instanceof ApiError && e.status === 401) onLogout();
          else if (!stopped) setError(e instanceof Error ? e.message : String(e));
        },
      );
    };
    load();
    const timer = setInterval(load, REFRESH_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [filters]);

  const set = (patch: Partial<Filters>): void => setFilters({ ...filters, ...patch });
  const shown = posts.filter((p) => filters.posts.length === 0 || filters.posts.includes(p.postId));
  return (
    <>
      <header>
        <h1>VMC — border posts</h1>
        <span>{me}</span>
        <button onClick={() => void api('/api/logout', {}).finally(onLogout)}>Log out</button>
      </header>
      <main>
        <section class="filters" aria-label="filters">
          <label>
            Posts
            <select multiple name="post" size={Math.min(4, Math.max(2, posts.length))} onChange={(e) => set({ posts: [...e.currentTarget.selectedOptions].map((o) => o.value) })}>
              {posts.map((p) => (
                <option value={p.postId} selected={filters.posts.includes(p.postId)}>
                  {p.postId}
                </option>
              ))}
            </select>
          </label>
          <label>
            From <input type="date" name="from" value={filters.from} onChange={(e) => set({ from: e.currentTarget.value })} />
          </label>
          <label>
            To (exclusive) <input type="date" name="to" value={filters.to} onChange={(e) => set({ to: e.currentTarget.value })} />
          </label>
          <label>
            Direction
            <select name="direction" onChange={(e) => set({ direction: e.currentTarget.value })}>
              <option value="">all</option>
              {DIRECTIONS.map((d) => (
                <option value={d} selected={filters.direction === d}>
                  {d}
                </option>
              ))}
            </select>
          </label>
          <label>
            Channel
            <select name="channel" onChange={(e) => set({ channel: e.currentTarget.value })}>
              <option value="">all</option>
              {CHANNELS.map((c) => (
                <option value={c} selected={filters.channel === c}>
                  {c}
                </option>
              ))}
            </select>
          </label>
          <label>
            Interval (min) <input type="number" name="interval" min={1} max={1440} value={filters.interval} onChange={(e) => set({ interval: Number(e.currentTarget.value) || 10 })} />
          </label>
          {error && <span class="error">{error}</span>}
        </section>
        {report && (
          <>
            <section aria-label="figures">
              <h2>Time Release Study</h2>
              <div class="figures">
                <div class="figure">
                  Vehicles <b>{report.vehicles}</b>
                </div>
                <div class="figure">
                  X-ray <b>{pct(report.xrayShare)}</b>
                </div>
                <div class="figure">
                  Registration (avg min) <b>{min(report.registration.avgMin)}</b>
                </div>
                <div class="figure">
                  Crossing (avg min) <b>{min(report.crossing.avgMin)}</b>
                </div>
              </div>
              <table>
                <tbody>
                  {Object.entries(report.byDirection).map(([d, n]) => (
                    <tr>
                      <td>{d}</td>
                      <td>{n}</td>
                    </tr>
                  ))}
                  {Object.entries(report.channels).map(([c, share]) => (
                    <tr>
                      <td>channel {c}</td>
                      <td>{pct(share)}</td>
                    </tr>
                  ))}
                  <tr>
                    <td>crossing median / p90 (min)</td>
                    <td>
                      {min(report.crossing.medianMin)} / {min(report.crossing.p90Min)}
                    </td>
                  </tr>
                </tbody>
              </table>
            </section>
            <section aria-label="distribution">
              <h2>Crossing times by interval</h2>
              <IntervalChart intervals={report.intervals} />
            </section>
            <section class="wide" aria-label="interval table">
              <h2>Interval table</h2>
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
                      <td>{r.upToMin}</td>
                      <td>{r.vehicles}</td>
                      <td>{r.cumulative}</td>
                      <td>{r.cumulativePct.toFixed(2)}</td>
                      <td>{r.avgCrossingMin.toFixed(2)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </section>
          </>
        )}
        <section class="wide" aria-label="years">
          <h2>Vehicles per year</h2>
          <VolumeTable rows={years} label="year" />
          <h2>Monthly dynamics (last 24 months)</h2>
          <VolumeTable rows={months} label="month" />
        </section>
        <section aria-label="posts">
          <h2>Posts now</h2>
          {shown.map((p) => (
            <div>
              <b>{p.postId}</b> {p.status ? <span class={p.status.state === 'online' ? 'up' : 'down'}>{p.status.state}</span> : null} · last event {new Date(p.lastSeen).toLocaleString()} · lanes {p.lanes.map((l) => l.laneId).join(', ')}
              {p.openGaps > 0 && <span class="down"> · {p.openGaps} open gap(s)</span>}
              <ul>
                {p.devices.map((d) => (
                  <li class={d.state}>
                    {d.deviceId} ({d.laneId}): {d.state}
                    {d.lastError ? ` — ${d.lastError}` : ''}
                  </li>
                ))}
              </ul>
            </div>
          ))}
        </section>
        <section aria-label="gaps and alarms">
          <h2>Open gaps</h2>
          {gaps.length === 0 ? <p>none</p> : gaps.map((g) => <p class="down">{`${g.postId}: seq ${g.firstSeq}–${g.lastSeq}, ${g.missing} missing since ${new Date(g.openedAt).toLocaleString()}`}</p>)}
          <h2>Recent alarms</h2>
          {alarms.length === 0 ? <p>none</p> : alarms.map((a) => <p class={a.severity}>{`${new Date(a.time).toLocaleString()} ${a.postId}/${a.laneId} ${a.alarm}: ${a.message}`}</p>)}
        </section>
      </main>
    </>
  );
}

export function App() {
  const [me, setMe] = useState<string | null | undefined>(undefined);
  useEffect(() => {
    api<{ name: string } | null>('/api/me').then(
      (who) => setMe(who?.name ?? null),
      () => setMe(null),
    );
  }, []);
  if (me === undefined) return null;
  if (me === null) return <Login onLogin={setMe} />;
  return <Dashboard me={me} onLogout={() => setMe(null)} />;
}
