/**
 * The console's live view as Server-Sent Events (`GET /api/live`, live-routes.ts): each stream gets
 * the lanes at once (`event: lanes`, the body of GET /api/lanes), again after any change — one view
 * built for all streams, at most one every `minIntervalMs` — each lane alarm as it is raised
 * (`event: alarm`), and a `: ping` comment every `pingMs` (which also keeps proxies and the
 * listener's idle timeout from closing a quiet stream).
 *
 * A stream belongs to a session and ends with it (`event: session-ended`): at once on logout, a
 * password change or an account disabled over the API (SessionStore.onEnded), and at the next
 * ping for what the gateway only finds out by looking (idle or absolute expiry, an account changed
 * from the command line). Looking does not count as activity: an open console does not keep a
 * deserted booth signed in.
 *
 * Bounded: `maxPerSession` streams per session, `maxPerAccount` per account (one account signed
 * in many times over cannot take the gateway's streams from everyone else) and `maxStreams` in all
 * (the route answers 429 beyond), and a client that does not read — its unsent bytes above
 * `maxBufferedBytes` — is cut off rather than buffered for (the console reconnects and starts from
 * a fresh snapshot).
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Clock, TimerHandle } from '../../core/clock.js';
import type { AccountStore } from '../auth/account-store.js';
import type { Session, SessionStore } from '../auth/sessions.js';
import type { LaneConsole, RaisedAlarm } from '../workflow/lane-console.js';
import { sessionAccount } from './auth-plugin.js';

/** What a stream writes to: the hijacked reply's `http.ServerResponse` (a fake one in tests). */
export interface SseSink {
  write(chunk: string): boolean;
  end(): void;
  destroy(): void;
  /** Bytes written but not yet taken by the client (the response's and its socket's buffers). */
  readonly writableLength: number;
  once(event: 'close', listener: () => void): unknown;
}

export interface LiveFeedOptions {
  /** The gateway's clock (real time in the demo, not the fast post clock). */
  clock: Clock;
  /** The running post's console; null while the lanes are not running. */
  source: () => LaneConsole | null;
  sessions: SessionStore;
  accounts: AccountStore;
  logger: FastifyBaseLogger;
  /** Least time between two lane views pushed. Default 250 ms: at most four a second. */
  minIntervalMs?: number;
  /** Default 15 s. */
  pingMs?: number;
  /** Default 3: a booth, a second screen, a reconnect overlapping its predecessor. */
  maxPerSession?: number;
  /**
   * Default 6: two sessions' worth (a booth and the supervisor's office under one name). Below
   * `maxStreams` / 10, so ten accounts at their cap still leave streams for the others.
   */
  maxPerAccount?: number;
  /** Default 64. */
  maxStreams?: number;
  /** Unsent bytes a stream may hold before it is cut off. Default 1 MiB: a few views of a large post. */
  maxBufferedBytes?: number;
}

interface Stream {
  sink: SseSink;
  token: string;
  session: Session;
  closed: boolean;
}

export class LiveFeed {
  private readonly streams = new Set<Stream>();
  private attached: { laneConsole: LaneConsole; unlisten: () => void } | null = null;
  private pending: TimerHandle | null = null;
  private lastSentMono = Number.NEGATIVE_INFINITY;
  private pingTimer: TimerHandle | null = null;
  private readonly unsubscribeSessions: () => void;
  private readonly minIntervalMs: number;
  private readonly pingMs: number;
  private readonly maxPerSession: number;
  private readonly maxPerAccount: number;
  private readonly maxStreams: number;
  private readonly maxBufferedBytes: number;

  constructor(private readonly options: LiveFeedOptions) {
    this.minIntervalMs = options.minIntervalMs ?? 250;
    this.pingMs = options.pingMs ?? 15_000;
    this.maxPerSession = options.maxPerSession ?? 3;
    this.maxPerAccount = options.maxPerAccount ?? 6;
    this.maxStreams = options.maxStreams ?? 64;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 1024 * 1024;
    this.unsubscribeSessions = options.sessions.onEnded((session) => {
      for (const stream of this.streams) if (stream.session === session) this.end(stream, 'session-ended');
    });
  }

  /** Streams open now. */
  get size(): number {
    return this.streams.size;
  }

  /** Why a new stream of `session` is refused (the caps), or null when it may open. */
  refusal(session: Session): string | null {
    if (this.streams.size >= this.maxStreams) return `the gateway serves ${this.maxStreams} live streams at most; try again later`;
    let own = 0;
    let account = 0;
    for (const stream of this.streams) {
      if (stream.session === session) own += 1;
      if (stream.session.account === session.account) account += 1;
    }
    if (own >= this.maxPerSession) return `a session may hold ${this.maxPerSession} live streams at most; close another console tab`;
    if (account >= this.maxPerAccount) return `an account may hold ${this.maxPerAccount} live streams at most; close a console signed in elsewhere under this name`;
    return null;
  }

  /** Starts a stream on `sink` (headers already sent) with the lanes as they are now. */
  open(sink: SseSink, token: string, session: Session, laneConsole: LaneConsole): void {
    const stream: Stream = { sink, token, session, closed: false };
    this.streams.add(stream);
    sink.once('close', () => this.forget(stream));
    this.attach(laneConsole);
    // The browser's EventSource waits this long before it reconnects after a drop.
    this.write(stream, `retry: 3000\n\nevent: lanes\ndata: ${JSON.stringify(laneConsole.lanes())}\n\n`);
    this.pingTimer ??= this.options.clock.setTimeout(() => this.ping(), this.pingMs);
  }

  /** Ends every stream (the listener is closing) and stops listening. */
  close(): void {
    for (const stream of [...this.streams]) this.end(stream, null);
    this.unsubscribeSessions();
    this.detach();
  }

  private attach(laneConsole: LaneConsole): void {
    if (this.attached?.laneConsole === laneConsole) return;
    this.detach();
    const unlisten = laneConsole.listen({
      changed: () => this.schedule(),
      alarm: (alarm) => this.alarm(alarm),
    });
    this.attached = { laneConsole, unlisten };
  }

  private detach(): void {
    this.attached?.unlisten();
    this.attached = null;
    if (this.pending) this.options.clock.clearTimeout(this.pending);
    this.pending = null;
  }

  /**
   * A view goes out `minIntervalMs` after the last at the earliest, and never in the call that
   * reported the change: the workflow reports some steps just before it makes them.
   */
  private schedule(): void {
    if (this.pending || this.streams.size === 0) return;
    const wait = Math.max(0, this.lastSentMono + this.minIntervalMs - this.options.clock.monotonic());
    this.pending = this.options.clock.setTimeout(() => {
      this.pending = null;
      this.broadcast();
    }, wait);
  }

  private broadcast(): void {
    const laneConsole = this.options.source();
    if (!laneConsole || this.streams.size === 0) return;
    this.lastSentMono = this.options.clock.monotonic();
    const message = `event: lanes\ndata: ${JSON.stringify(laneConsole.lanes())}\n\n`;
    for (const stream of [...this.streams]) this.write(stream, message);
  }

  private alarm(alarm: RaisedAlarm): void {
    const message = `event: alarm\ndata: ${JSON.stringify(alarm)}\n\n`;
    for (const stream of [...this.streams]) this.write(stream, message);
  }

  private ping(): void {
    this.pingTimer = null;
    for (const stream of [...this.streams]) {
      if (stream.closed) continue; // ended meanwhile, with the other sessions of its account
      const session = this.options.sessions.peek(stream.token);
      if (session === stream.session && !sessionAccount(this.options.accounts, session)) {
        // As a request would find it (auth-plugin.ts): the account's sessions end, and with them their streams.
        this.options.sessions.endAllOf(session.account);
      }
      if (session !== stream.session || stream.closed) this.end(stream, 'session-ended');
      else this.write(stream, ': ping\n\n');
    }
    // The lanes may have been restarted under a new console meanwhile.
    const current = this.options.source();
    if (current) this.attach(current);
    if (this.streams.size > 0) this.pingTimer = this.options.clock.setTimeout(() => this.ping(), this.pingMs);
  }

  private write(stream: Stream, message: string): void {
    if (stream.closed) return;
    // Bytes against bytes: a plate or reason in Cyrillic takes two bytes a character, and
    // `message.length` (UTF-16 units) would let the buffer grow past its bound.
    if (stream.sink.writableLength + Buffer.byteLength(message) > this.maxBufferedBytes) {
      this.options.logger.warn({ account: stream.session.account, unsentBytes: stream.sink.writableLength }, 'live stream dropped: its client does not keep up');
      this.forget(stream);
      stream.sink.destroy();
      return;
    }
    stream.sink.write(message);
  }

  private end(stream: Stream, event: 'session-ended' | null): void {
    if (stream.closed) return;
    if (event) stream.sink.write(`event: ${event}\ndata: {}\n\n`);
    this.forget(stream);
    stream.sink.end();
  }

  private forget(stream: Stream): void {
    stream.closed = true;
    this.streams.delete(stream);
    if (this.streams.size > 0) return;
    if (this.pingTimer) this.options.clock.clearTimeout(this.pingTimer);
    this.pingTimer = null;
    this.detach();
  }
}
