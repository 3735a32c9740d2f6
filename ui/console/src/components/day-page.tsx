/**
 * The post's day: the Time Release Study indicators of today or a chosen date (GET /api/trs) —
 * vehicles by direction, channel shares, X-ray involvement, registration and crossing time
 * (average, median, p90), and the interval table with its distribution curve.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, type Api } from '../api.js';
import type { PostClock } from '../clock.js';
import { useI18n } from '../i18n/index.js';
import type { TrsDay } from '../types.js';
import { IntervalChart } from './interval-chart.js';

const INTERVALS = [5, 10, 15, 30, 60];

export function DayPage({ api, postClock }: { api: Api; postClock: PostClock }) {
  const { t, number, percent, dateTime } = useI18n();
  /** Empty: the post's today (the gateway knows its clock and time zone), filled in from the answer. */
  const [date, setDate] = useState('');
  const [interval, setInterval] = useState(10);
  const [report, setReport] = useState<TrsDay | null>(null);
  const [error, setError] = useState<string | null>(null);
  /** Browser time the report arrived; shown on the post clock (the day is the post's). */
  const [loadedAt, setLoadedAt] = useState<number | null>(null);
  // Read once, and again only if the post clock was not known yet then: every lanes event moves
  // the estimate by its transit time (times the demo's speed), which would make the time flicker.
  const asOf = useMemo(() => (loadedAt === null ? null : postClock.at(loadedAt)), [loadedAt, postClock.known]);
  const [width, setWidth] = useState(900);
  const chartBox = useRef<HTMLDivElement>(null);

  const load = (): void => {
    setError(null);
    const params = new URLSearchParams({ interval: String(interval) });
    if (date) params.set('date', date);
    api.get<TrsDay>(`/api/trs?${params.toString()}`).then(
      (answer) => {
        setReport(answer);
        if (!date && answer.date) setDate(answer.date);
        setLoadedAt(Date.now());
      },
      (caught: unknown) => {
        setReport(null);
        setError(caught instanceof ApiError ? (caught.status === 0 ? t('error.network') : t('error.api', { message: caught.message })) : String(caught));
      },
    );
  };
  useEffect(load, [date, interval]);
  const hasReport = report !== null;
  useEffect(() => {
    const box = chartBox.current;
    if (!box) return;
    // The chart fills its box: padding off, and at least a narrow screen's width.
    const observer = new ResizeObserver(() => setWidth(Math.max(320, Math.floor(box.clientWidth - 16))));
    observer.observe(box);
    return () => observer.disconnect();
  }, [hasReport]);

  const minutes = (value: number | null): string => (value === null ? '—' : t('unit.min', { value: number(value, { maximumFractionDigits: 1 }) }));
  return (
    <div class="page day">
      <div class="page-head">
        <h1>{t('day.title')}</h1>
        <label>
          {t('day.date')}
          <input type="date" value={date} data-testid="day-date" onChange={(e) => setDate((e.currentTarget).value)} />
        </label>
        <label>
          {t('day.interval')}
          <select value={String(interval)} onChange={(e) => setInterval(Number((e.currentTarget).value))}>
            {INTERVALS.map((value) => (
              <option key={value} value={String(value)}>
                {t('unit.min', { value: number(value) })}
              </option>
            ))}
          </select>
        </label>
        <button type="button" onClick={load}>
          {t('day.refresh')}
        </button>
        {asOf !== null && (
          <time class="muted small" dateTime={new Date(asOf).toISOString()} data-testid="day-as-of">
            {t('day.loadedAt', { time: dateTime(asOf) })}
          </time>
        )}
        {report?.timeZone && <span class="muted small">{t('day.timeZone', { zone: report.timeZone })}</span>}
      </div>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {report && (
        <>
          <div class="tiles" data-testid="trs-tiles">
            <section class="tile">
              <h2>{t('day.vehicles')}</h2>
              <p class="big" data-testid="trs-vehicles">
                {number(report.vehicles)}
              </p>
              <table class="mini">
                <tbody>
                  {Object.entries(report.byDirection).map(([direction, count]) => (
                    <tr key={direction}>
                      <th scope="row">{t(`direction.${direction}` as 'direction.import')}</th>
                      <td>{number(count)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </section>
            <section class="tile">
              <h2>{t('day.channels')}</h2>
              <ul class="shares">
                {(['green', 'orange', 'red'] as const).map((channel) => (
                  <li key={channel}>
                    <span class={`badge channel-${channel}`}>{t(`channel.${channel}`)}</span> {percent(report.channels[channel] ?? 0)}
                    <span class="share-bar" aria-hidden="true">
                      <span class={`share-fill channel-${channel}`} style={{ width: `${Math.round((report.channels[channel] ?? 0) * 100)}%` }} />
                    </span>
                  </li>
                ))}
              </ul>
              <p>
                {t('day.xray')}: <strong>{percent(report.xrayShare)}</strong>
              </p>
            </section>
            <section class="tile">
              <h2>{t('day.times')}</h2>
              <table class="mini">
                <thead>
                  <tr>
                    <td />
                    <th scope="col">{t('day.avg')}</th>
                    <th scope="col">{t('day.median')}</th>
                    <th scope="col">{t('day.p90')}</th>
                  </tr>
                </thead>
                <tbody>
                  <tr>
                    <th scope="row">{t('day.registration')}</th>
                    <td>{minutes(report.registration.avgMin)}</td>
                    <td>{minutes(report.registration.medianMin)}</td>
                    <td>{minutes(report.registration.p90Min)}</td>
                  </tr>
                  <tr>
                    <th scope="row">{t('day.crossing')}</th>
                    <td>{minutes(report.crossing.avgMin)}</td>
                    <td>{minutes(report.crossing.medianMin)}</td>
                    <td>{minutes(report.crossing.p90Min)}</td>
                  </tr>
                </tbody>
              </table>
            </section>
          </div>
          <div ref={chartBox} class="chart-box">
            {report.intervals.length > 0 ? <IntervalChart intervals={report.intervals} width={width} /> : <p class="notice">{t('day.noVehicles')}</p>}
          </div>
          {report.intervals.length > 0 && (
            <table class="intervals" data-testid="trs-intervals">
              <caption>{t('day.tableCaption', { minutes: number(interval) })}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('day.colUpTo')}</th>
                  <th scope="col">{t('day.colVehicles')}</th>
                  <th scope="col">{t('day.colCumulative')}</th>
                  <th scope="col">{t('day.colCumulativePct')}</th>
                  <th scope="col">{t('day.colAvg')}</th>
                </tr>
              </thead>
              <tbody>
                {report.intervals.map((row) => (
                  <tr key={row.upToMin}>
                    <td>{number(row.upToMin)}</td>
                    <td>{number(row.vehicles)}</td>
                    <td>{number(row.cumulative)}</td>
                    <td>{number(row.cumulativePct, { maximumFractionDigits: 1 })}</td>
                    <td>{number(row.avgCrossingMin, { maximumFractionDigits: 1 })}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </div>
  );
}
