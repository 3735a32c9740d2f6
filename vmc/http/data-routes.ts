/**
 * What the VMC serves to other systems and its dashboards. `GET /api/trs` answers exactly the
 * JSON of `border-gateway trs report --format json` (the same contract code computes both), over
 * the crossings the filters select, read from the store a page at a time and folded into the
 * report's accumulator (contract/trs-report.ts): it holds 16 bytes a crossing and one page, not
 * the records. Filters: `post` (one or several, comma-separated), `from` (inclusive) and `to`
 * (exclusive) as an RFC 3339 time or a UTC date (`2026-11-26` = its midnight) applied to the
 * crossing's completion time, `direction`, `channel`, `vehicleType` (one of crossing.completed's:
 * `truck`, `van`, …), `interval` (whole minutes 1–999, as the gateway's /api/trs takes; default 10).
 * `GET /api/volumes?unit=year|month|day` (and the same filters) gives the vehicles per period
 * with the change against the same dates a year before, for the year-over-year views; a period
 * not over is compared to date, as of `asOf` (a time as `from` takes; default: now).
 */
import type { FastifyPluginAsync } from 'fastify';
import { DIRECTIONS } from '../../config/schema.js';
import { CHANNELS, eventDataSchemas } from '../../contract/catalogue.js';
import { systemClock, type Clock } from '../../core/clock.js';
import { GatewayError } from '../../core/errors.js';
import { onRequestEnded } from '../../core/request-ended.js';
import { TRS_PAGE_SIZE, type CrossingCursor, type CrossingFilter, type CrossingRow, type GapCursor, type GapRow, type PeriodUnit, type VmcStore } from '../store/vmc-store.js';
import { ID_PATTERN_SOURCE, MAX_ID_LENGTH } from '../../core/identifiers.js';

/** What /api/status reports about this instance (its consumer and intake). */
export type VmcStatusSource = () => Record<string, unknown>;

/** The vehicle types of the contract, read from its schema so the filter follows the catalogue. */
export const VEHICLE_TYPES: readonly string[] = eventDataSchemas['crossing.completed'].shape.vehicleType.options;

/** Gaps one `/api/gaps` answer lists: by default, and at most (`limit`). */
export const DEFAULT_GAPS_LIMIT = 1000;
export const MAX_GAPS_LIMIT = 10_000;

/** Posts one filter may name. */
const MAX_FILTER_POSTS = 100;
// Exactly the post ids a gateway may emit (core/identifiers.ts): a longer one could be shown but not filtered on.
const POST_LIST = `^${ID_PATTERN_SOURCE}(,${ID_PATTERN_SOURCE}){0,${MAX_FILTER_POSTS - 1}}$`;
const TIME = '^\\d{4}-\\d{2}-\\d{2}(T\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,3})?)?(Z|[+-]\\d{2}:\\d{2}))?$';

const filterProperties = {
  post: { type: 'string', pattern: POST_LIST, maxLength: MAX_FILTER_POSTS * (MAX_ID_LENGTH + 1) - 1 },
  from: { type: 'string', pattern: TIME, maxLength: 40 },
  to: { type: 'string', pattern: TIME, maxLength: 40 },
  direction: { type: 'string', enum: [...DIRECTIONS] },
  channel: { type: 'string', enum: [...CHANNELS] },
  vehicleType: { type: 'string', enum: [...VEHICLE_TYPES] },
} as const;

interface FilterQuery {
  post?: string;
  from?: string;
  to?: string;
  direction?: string;
  channel?: string;
  vehicleType?: string;
}

/**
 * A filter's time in epoch ms. The pattern (TIME) has checked the shape; what Date.parse would
 * roll over or read beyond RFC 3339 is refused here: 2026-02-30 (not 2 March), hour 24.
 */
function timeOf(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const [, year, month, date, hour] = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}))?/.exec(value) ?? [];
  const ms = Date.parse(value.length === 10 ? `${value}T00:00:00Z` : value);
  const day = new Date(Date.UTC(Number(year), Number(month) - 1, Number(date)));
  const real = day.getUTCFullYear() === Number(year) && day.getUTCMonth() === Number(month) - 1 && day.getUTCDate() === Number(date) && Number(hour ?? 0) <= 23;
  if (!real || !Number.isFinite(ms)) throw new GatewayError('GW_ERR_HTTP_BAD_REQUEST', `querystring/${name} is not a date or time: ${value}`);
  return ms;
}

export function crossingFilter(query: FilterQuery): CrossingFilter {
  const filter: CrossingFilter = {};
  if (query.post !== undefined) filter.posts = query.post.split(',');
  const fromMs = timeOf('from', query.from);
  const toMs = timeOf('to', query.to);
  if (fromMs !== undefined) filter.fromMs = fromMs;
  if (toMs !== undefined) filter.toMs = toMs;
  if (query.direction !== undefined) filter.direction = query.direction;
  if (query.channel !== undefined) filter.channel = query.channel;
  if (query.vehicleType !== undefined) filter.vehicleType = query.vehicleType;
  return filter;
}

/**
 * Deepest `offset` into /api/crossings: the database reads and drops every row before it, so a
 * large one costs every request that much (10,000,000 kept a PostgreSQL core busy per request).
 * Page further with `after`, the cursor each page's `Link: <…>; rel="next"` header carries.
 */
export const MAX_CROSSINGS_OFFSET = 10_000;

/**
 * A page's cursor: the completion time (epoch ms; an event's `time` has a four-digit year) and
 * event id (a UUID, unique) of the last crossing of the page before, `<ms>_<id>`.
 */
const CROSSINGS_CURSOR = /^(-?\d{1,15})_([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})$/;
const CROSSINGS_CURSOR_MAX_LENGTH = 53;

interface CrossingsQuery extends FilterQuery {
  limit?: number;
  offset?: number;
  after?: string;
}

/** The cursor the schema's pattern has checked, read. */
function cursorOf(after: string): CrossingCursor {
  const [, ms, eventId] = CROSSINGS_CURSOR.exec(after) ?? [];
  return { completedMs: Number(ms), eventId: eventId as string };
}

/** The URL of the page after `last`: the same filters and limit, `after` in place of any `offset`. */
function nextCrossingsPage(query: CrossingsQuery, last: CrossingRow): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value !== undefined && name !== 'offset' && name !== 'after') params.set(name, String(value));
  params.set('after', `${Date.parse(last.completedAt)}_${last.eventId}`);
  return `/api/crossings?${params.toString()}`;
}

/**
 * A page of /api/gaps starts after the gap of the page before's last: `<postId>_<firstSeq>_<id>`
 * (a post id has no `_`; a seq and a row id are safe integers, which the handler checks).
 */
const GAPS_CURSOR = new RegExp(`^(${ID_PATTERN_SOURCE})_(\\d{1,16})_(\\d{1,16})$`);
const GAPS_CURSOR_MAX_LENGTH = MAX_ID_LENGTH + 2 * 17;

interface GapsQuery {
  post?: string;
  state?: 'open' | 'closed';
  limit?: number;
  after?: string;
}

/** The cursor the schema's pattern has checked, read; a number past 2^53 (which would round) refused. */
function gapCursorOf(after: string): GapCursor {
  const [, postId, firstSeq, id] = GAPS_CURSOR.exec(after) ?? [];
  const cursor = { postId: postId as string, firstSeq: Number(firstSeq), id: Number(id) };
  if (!Number.isSafeInteger(cursor.firstSeq) || !Number.isSafeInteger(cursor.id)) throw new GatewayError('GW_ERR_HTTP_BAD_REQUEST', `querystring/after is not a cursor of /api/gaps: ${after}`);
  return cursor;
}

/** The URL of the page of gaps after `last`: the same filters and limit. */
function nextGapsPage(query: GapsQuery, last: GapRow): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value !== undefined && name !== 'after') params.set(name, String(value));
  params.set('after', `${last.postId}_${last.firstSeq}_${last.id}`);
  return `/api/gaps?${params.toString()}`;
}

export interface DataRoutesOptions {
  store: VmcStore;
  status: VmcStatusSource;
  /** What "now" is for a period not yet over (`/api/volumes` without `asOf`). Default: the system clock. */
  clock?: Clock;
  /** Crossings `/api/trs` reads from the store a page at a time (VmcStore.trsRecordPages). Default: TRS_PAGE_SIZE (1000). */
  trsPageSize?: number;
  /** Turns for `/api/trs` reports. Default: MAX_TRS_REPORTS_AT_ONCE at once, MAX_TRS_REPORTS_WAITING waiting. */
  trsTurns?: ReportTurns;
}

/** TRS reports one VMC instance makes at once; those asked meanwhile wait their turn. */
export const MAX_TRS_REPORTS_AT_ONCE = 2;
/** TRS reports that may wait for a turn (a dashboard asks for three at a time); one more is answered 503 (GW_ERR_VMC_TRS_BUSY). */
export const MAX_TRS_REPORTS_WAITING = 16;

/** Turns to make a report: `atOnce` at a time, at most `waiting` queued, oldest first. */
export class ReportTurns {
  private running = 0;
  private readonly queue: (() => void)[] = [];

  constructor(
    private readonly atOnce: number,
    private readonly waiting: number,
  ) {}

  /** Reports waiting for a turn. */
  get queued(): number {
    return this.queue.length;
  }

  /**
   * Resolves 'turn' once it is the caller's turn; 'full' at once when the queue is full; 'gone'
   * when `signal` aborts first (the asker left while it waited: its place goes to the next).
   */
  async take(signal?: AbortSignal): Promise<'turn' | 'full' | 'gone'> {
    if (signal?.aborted) return 'gone';
    if (this.running < this.atOnce) {
      this.running += 1;
      return 'turn';
    }
    if (this.queue.length >= this.waiting) return 'full';
    return new Promise((resolve) => {
      const left = (): void => {
        this.queue.splice(this.queue.indexOf(granted), 1);
        resolve('gone');
      };
      const granted = (): void => {
        signal?.removeEventListener('abort', left);
        resolve('turn');
      };
      this.queue.push(granted);
      signal?.addEventListener('abort', left, { once: true });
    });
  }

  /** The turn ends: passed to the oldest waiting, if any. */
  give(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.running -= 1;
  }
}

export const dataRoutes: FastifyPluginAsync<DataRoutesOptions> = (app, { store, status, clock = systemClock, trsPageSize = TRS_PAGE_SIZE, trsTurns = new ReportTurns(MAX_TRS_REPORTS_AT_ONCE, MAX_TRS_REPORTS_WAITING) }) => {
  app.get<{ Querystring: FilterQuery & { interval?: number } }>(
    '/api/trs',
    { schema: { querystring: { type: 'object', additionalProperties: false, properties: { ...filterProperties, interval: { type: 'integer', minimum: 1, maximum: 999 } } } } },
    async (request, reply) => {
      // A report without a period reads every crossing stored (seconds at 300,000): a few at once,
      // the rest waiting in a bounded queue, not one report per request however many come. A client
      // gone leaves the queue, or stops its report at the next page: its turn is not held for nobody.
      const asker = new AbortController();
      onRequestEnded(request, reply, () => asker.abort());
      // 499, nginx's "client closed request": an answer nobody reads (Fastify's lifecycle wants one).
      const gone = () => reply.code(499).send({ code: 'GW_ERR_VMC_TRS_GONE', message: 'the client left before its TRS report was made' });
      const turn = await trsTurns.take(asker.signal);
      if (turn === 'full') {
        return reply.code(503).header('retry-after', '1').send({ code: 'GW_ERR_VMC_TRS_BUSY', message: `${MAX_TRS_REPORTS_AT_ONCE} TRS reports are being made on this instance and ${MAX_TRS_REPORTS_WAITING} wait; try again in a second` });
      }
      if (turn === 'gone') return gone();
      try {
        return await store.trsReport(crossingFilter(request.query), request.query.interval ?? 10, trsPageSize, asker.signal);
      } catch (error) {
        if (asker.signal.aborted && error === asker.signal.reason) return gone();
        throw error;
      } finally {
        trsTurns.give();
      }
    },
  );

  app.get<{ Querystring: FilterQuery & { unit?: PeriodUnit; asOf?: string } }>(
    '/api/volumes',
    { schema: { querystring: { type: 'object', additionalProperties: false, properties: { ...filterProperties, unit: { type: 'string', enum: ['year', 'month', 'day'] }, asOf: filterProperties.to } } } },
    (request) => {
      const { unit = 'month', asOf, ...filters } = request.query;
      return store.volumes(crossingFilter(filters), unit, timeOf('asOf', asOf) ?? clock.now());
    },
  );

  app.get<{ Querystring: CrossingsQuery }>(
    '/api/crossings',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ...filterProperties,
            limit: { type: 'integer', minimum: 1, maximum: 1000 },
            offset: { type: 'integer', minimum: 0, maximum: MAX_CROSSINGS_OFFSET },
            after: { type: 'string', pattern: CROSSINGS_CURSOR.source, maxLength: CROSSINGS_CURSOR_MAX_LENGTH },
          },
        },
      },
    },
    async (request, reply) => {
      const { limit = 100, offset, after } = request.query;
      if (after !== undefined && offset !== undefined) throw new GatewayError('GW_ERR_HTTP_BAD_REQUEST', 'querystring: page with after or with offset, not both');
      // One row more than asked says whether there is a next page.
      const rows = await store.crossings({ ...crossingFilter(request.query), limit: limit + 1, ...(offset !== undefined ? { offset } : {}), ...(after !== undefined ? { after: cursorOf(after) } : {}) });
      const last = rows.length > limit ? rows[limit - 1] : undefined;
      if (last) reply.header('link', `<${nextCrossingsPage(request.query, last)}>; rel="next"`);
      return rows.slice(0, limit);
    },
  );

  // Open gaps are bounded per post (vmc-store.ts), closed ones are kept: the answer is bounded here,
  // and says how many there are (X-Total-Count) and where the rest begins (Link rel="next").
  app.get<{ Querystring: GapsQuery }>(
    '/api/gaps',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            post: filterProperties.post,
            state: { type: 'string', enum: ['open', 'closed'] },
            limit: { type: 'integer', minimum: 1, maximum: MAX_GAPS_LIMIT },
            after: { type: 'string', pattern: GAPS_CURSOR.source, maxLength: GAPS_CURSOR_MAX_LENGTH },
          },
        },
      },
    },
    async (request, reply) => {
      const { post, state, limit = DEFAULT_GAPS_LIMIT, after } = request.query;
      const filter = { ...(post !== undefined ? { posts: post.split(',') } : {}), ...(state !== undefined ? { open: state === 'open' } : {}) };
      // One row more than asked says whether there is a next page.
      const rows = await store.gaps({ ...filter, limit: limit + 1, ...(after !== undefined ? { after: gapCursorOf(after) } : {}) });
      const last = rows.length > limit ? rows[limit - 1] : undefined;
      if (last) reply.header('link', `<${nextGapsPage(request.query, last)}>; rel="next"`);
      reply.header('x-total-count', String(await store.gapCount(filter)));
      return rows.slice(0, limit);
    },
  );

  app.get<{ Querystring: { post?: string; from?: string; to?: string; limit?: number } }>(
    '/api/alarms',
    {
      schema: {
        querystring: { type: 'object', additionalProperties: false, properties: { post: filterProperties.post, from: filterProperties.from, to: filterProperties.to, limit: { type: 'integer', minimum: 1, maximum: 1000 } } },
      },
    },
    (request) => {
      const filter = crossingFilter(request.query);
      return store.alarms({ ...filter, limit: request.query.limit ?? 100 });
    },
  );

  app.get('/api/posts', () => store.posts());

  // `evidence`: what the store holds (all instances); this instance's counters are under `intake.evidence`.
  app.get('/api/status', async () => ({ ...status(), events: await store.eventCounts(), evidence: await store.evidence.summary() }));

  app.get('/healthz', { config: { vmcAccess: 'public' } }, () => Promise.resolve({ ok: true }));
  return Promise.resolve();
};
