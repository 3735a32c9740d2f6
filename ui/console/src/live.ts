/**
 * The lanes, live: one EventSource on /api/live (`lanes`, `alarm`, `session-ended`), opened again
 * by itself with capped, jittered backoff whenever it drops. The browser's own retry stops for good
 * on an HTTP error answer, so the console reconnects itself, asking first whether the session is
 * still there. Its state is one value, shown as the connection indicator.
 */
import type { AlarmView, LaneView } from './types.js';

export type LiveState = 'connecting' | 'live' | 'reconnecting' | 'closed';

export interface LiveAlarm extends AlarmView {
  laneId: string;
}

export interface LiveHandlers {
  onLanes: (lanes: LaneView[]) => void;
  onAlarm: (alarm: LiveAlarm) => void;
  onState: (state: LiveState) => void;
  /** The gateway ended the session (logout elsewhere, expiry, password changed). */
  onSessionEnded: () => void;
  /** Before each reconnect: false when the session is gone (then no reconnect). */
  sessionAlive: () => Promise<boolean>;
}

const INITIAL_MS = 500;
const MAX_MS = 8000;

/** What the stream needs of an EventSource (the browser's, or a test's stand-in). */
export interface EventSourceLike {
  addEventListener(type: string, listener: (event: Event) => void): void;
  close(): void;
}

export interface LiveOptions {
  /** Opens the stream; default the browser's EventSource. */
  open?: (url: string) => EventSourceLike;
  /** Jitter in [0, 1); default Math.random. */
  random?: () => number;
}

export class LiveStream {
  private source: EventSourceLike | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private attempt = 0;
  private state: LiveState = 'connecting';
  private stopped = false;

  constructor(
    private readonly url: string,
    private readonly handlers: LiveHandlers,
    private readonly options: LiveOptions = {},
  ) {}

  start(): void {
    this.stopped = false;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.source?.close();
    this.source = null;
    this.set('closed');
  }

  private set(state: LiveState): void {
    if (state === this.state) return;
    this.state = state;
    this.handlers.onState(state);
  }

  private open(): void {
    if (this.stopped) return;
    this.set(this.attempt === 0 ? 'connecting' : 'reconnecting');
    const source = this.options.open?.(this.url) ?? new EventSource(this.url);
    this.source = source;
    source.addEventListener('open', () => {
      this.attempt = 0;
      this.set('live');
    });
    source.addEventListener('lanes', (event) => {
      this.set('live');
      this.handlers.onLanes(JSON.parse((event as MessageEvent<string>).data) as LaneView[]);
    });
    source.addEventListener('alarm', (event) => this.handlers.onAlarm(JSON.parse((event as MessageEvent<string>).data) as LiveAlarm));
    source.addEventListener('session-ended', () => {
      this.stop();
      this.handlers.onSessionEnded();
    });
    source.addEventListener('error', () => {
      if (this.stopped || this.source !== source) return;
      // Closed for good (an HTTP error, or the stream ended): our own reconnect, after a check.
      source.close();
      this.source = null;
      this.set('reconnecting');
      this.schedule();
    });
  }

  private schedule(): void {
    const delay = Math.min(MAX_MS, INITIAL_MS * 2 ** this.attempt);
    this.attempt += 1;
    const jittered = delay / 2 + (this.options.random ?? Math.random)() * (delay / 2);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.handlers.sessionAlive().then(
        (alive) => {
          if (this.stopped) return;
          if (alive) this.open();
          else {
            this.stop();
            this.handlers.onSessionEnded();
          }
        },
        () => this.schedule(),
      );
    }, jittered);
  }
}
