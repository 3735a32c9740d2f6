/**
 * Where `trs report` reads events: a JSON-lines file (one CloudEvent per line, or the
 * `topic payload` lines of `mosquitto_sub -v`), an outbox database, or a live MQTT subscription.
 * A line that is not an event is an error naming its line, never silently skipped.
 *
 * Each source keeps only what `select` makes of an event (the report's crossing records), never
 * the events themselves: a day recorded with `mosquitto_sub -t 'border/#'` holds every evidence
 * chunk too (44 KB each, gigabytes with real cameras' pictures), which the report does not read.
 */
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { boundedLines } from '../../core/bounded-lines.js';
import { GatewayError, isGatewayError } from '../../core/errors.js';
import { refuseNewerSchema } from '../storage/migrations.js';

type Json = Record<string, unknown>;

/** What a source keeps of an event; null keeps nothing. */
export type EventSelect<T> = (event: Json) => T | null;

/** The longest line read: the largest event `uplink.maxEventBytes` allows (16 MiB), and a topic before it. */
export const MAX_EVENT_LINE_BYTES = 16 * 1024 * 1024 + 64 * 1024;

/**
 * What `select` makes of each event of a JSON-lines file, one line read at a time: the report
 * folds them as they come, so a file of any length costs one line (at most `maxLineBytes`).
 */
export async function* readJsonLines<T>(file: string, select: EventSelect<T>, maxLineBytes = MAX_EVENT_LINE_BYTES): AsyncGenerator<T> {
  try {
    for await (const { number, text } of boundedLines(file, maxLineBytes)) {
      if (text === null) throw new GatewayError('GW_ERR_TRS_INPUT', `${file}:${number}: a line longer than ${maxLineBytes} bytes, larger than any event`);
      const line = text.trim();
      if (line === '') continue;
      // `mosquitto_sub -v` prints "topic payload": the payload starts at the first brace.
      const json = line.startsWith('{') ? line : line.slice(line.indexOf(' {') + 1);
      let value: unknown;
      try {
        value = JSON.parse(json) as unknown;
        if (typeof value !== 'object' || value === null) throw new Error('not an object');
      } catch (error) {
        throw new GatewayError('GW_ERR_TRS_INPUT', `${file}:${number}: not a JSON event (${(error as Error).message})`);
      }
      const selected = select(value as Json);
      if (selected !== null) yield selected;
    }
  } catch (error) {
    if (error instanceof GatewayError) throw error;
    throw new GatewayError('GW_ERR_TRS_INPUT', `${file}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * What `select` makes of each completed crossing still in an outbox, in commit order, one row
 * read at a time (the database is closed when the reading ends, or is abandoned).
 */
export function* readOutbox<T>(path: string, select: EventSelect<T>): Generator<T> {
  const db = openOutbox(path);
  try {
    refuseNewerSchema(db);
    for (const row of db.prepare<[], { payload: string }>("SELECT payload FROM events WHERE type = 'crossing.completed' ORDER BY seq").iterate()) {
      const selected = select(JSON.parse(row.payload) as Json);
      if (selected !== null) yield selected;
    }
  } catch (error) {
    // Only the reading's own errors come here: a generator is not thrown into by its consumer.
    throw notAnOutbox(path, error);
  } finally {
    db.close();
  }
}

/** How much an outbox has sent on: what explains an outbox without crossings. */
export interface OutboxCounts {
  /** Events still waiting in the outbox (any type). */
  waiting: number;
  /** The last seq the outbox gave out: every event it ever committed, sent or not. */
  lastSeq: number;
}

export function outboxCounts(path: string): OutboxCounts {
  return withOutbox(path, (db) => ({
    waiting: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM events').get()?.n ?? 0,
    lastSeq: db.prepare<[], { value: number }>("SELECT value FROM meta WHERE key = 'last_seq'").get()?.value ?? 0,
  }));
}

function withOutbox<T>(path: string, read: (db: Database.Database) => T): T {
  const db = openOutbox(path);
  try {
    refuseNewerSchema(db);
    return read(db);
  } catch (error) {
    throw notAnOutbox(path, error);
  } finally {
    db.close();
  }
}

function openOutbox(path: string): Database.Database {
  try {
    return new Database(path, { readonly: true, fileMustExist: true });
  } catch (error) {
    throw new GatewayError('GW_ERR_TRS_INPUT', `${path}: cannot open the outbox database: ${(error as Error).message}`, { cause: error });
  }
}

/** A newer gateway's rows may not mean what this one reads into them: refused as such, as `run` refuses them. */
function notAnOutbox(path: string, error: unknown): GatewayError {
  if (isGatewayError(error, 'GW_ERR_OUTBOX_SCHEMA_NEWER')) return error;
  return new GatewayError('GW_ERR_TRS_INPUT', `${path}: not an outbox database: ${(error as Error).message}`, { cause: error });
}

/**
 * Said instead of a bare "Vehicles: 0" when an outbox holds no crossing: the outbox deletes each
 * event once the broker has acknowledged it, so a gateway that has been online holds few or none.
 */
export function emptyOutboxNote(path: string, contents: OutboxCounts): string {
  return [
    `${path}: the outbox holds no completed crossings.`,
    `The outbox keeps an event only until the broker acknowledges it, then deletes it (${contents.lastSeq} events committed so far, ${contents.waiting} still waiting to be sent).`,
    'Delivered crossings are at the VMC (border-gateway vmc; GET /api/trs there) and on the lane console\'s day page.',
  ].join('\n');
}

/**
 * What `select` keeps of the events of a subscription for `seconds`, as they arrive: the report
 * folds each one in, so a long subscription holds the records not yet folded (a turn of the
 * event loop's worth), not all of them. Over MQTT 5 the broker is told the largest packet taken
 * (the largest event and its topic, MAX_EVENT_LINE_BYTES), so a larger message on the topic is
 * dropped by the broker, never read into memory here; MQTT 3.1.1 has no such bound.
 */
export async function* subscribe<T>(url: string, topic: string, seconds: number, select: EventSelect<T>, protocolVersion: 4 | 5 = 5): AsyncGenerator<T> {
  const client = await mqtt.connectAsync(url, { protocolVersion, reconnectPeriod: 0, ...(protocolVersion === 5 ? { properties: { maximumPacketSize: MAX_EVENT_LINE_BYTES } } : {}) });
  let arrived: T[] = [];
  let over = false;
  let wake: (() => void) | null = null;
  client.on('message', (_topic, payload) => {
    let value: unknown;
    try {
      value = JSON.parse(payload.toString()) as unknown;
    } catch {
      // Non-JSON payloads on the topic are not events; the status topic is JSON but no crossing.
      return;
    }
    const selected = typeof value === 'object' && value !== null ? select(value as Json) : null;
    if (selected === null) return;
    arrived.push(selected);
    wake?.();
  });
  const timer = setTimeout(() => {
    over = true;
    wake?.();
  }, seconds * 1000);
  try {
    await client.subscribeAsync(topic, { qos: 1 });
    for (;;) {
      if (arrived.length === 0) {
        // Ends only with nothing left unfolded: what arrived before the time was up is reported.
        if (over) return;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
        continue;
      }
      const batch = arrived;
      arrived = [];
      yield* batch;
    }
  } finally {
    clearTimeout(timer);
    await client.endAsync();
  }
}
