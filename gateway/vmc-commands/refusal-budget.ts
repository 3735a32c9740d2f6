/**
 * How many refusals of messages on the command topic are answered one by one: a token bucket on
 * the injected clock's monotonic time (`atOnce` answered back to back, then one more every
 * `refillMs`). A refusal over the budget is only counted, by code; the first one starts a summary
 * interval of `summaryMs`, at whose end one summary says how many were counted. A flood of junk on
 * the topic (a compromised client, a bridge looping) therefore costs the outbox at most `atOnce`
 * answers, one more per `refillMs` and one summary per `summaryMs`, however many messages it sends.
 */
import type { Clock, TimerHandle } from '../../core/clock.js';

export interface RefusalSummary {
  /** Refusals counted, not answered, since the interval began. */
  dropped: number;
  /** Of those, how many per refusal code. */
  byCode: Record<string, number>;
  /** Length of the interval (monotonic ms). */
  intervalMs: number;
}

export interface RefusalBudgetOptions {
  atOnce: number;
  refillMs: number;
  summaryMs: number;
}

export class RefusalBudget {
  private tokens: number;
  private refilledAtMono: number;
  private dropped = 0;
  private byCode: Record<string, number> = {};
  private startedAtMono = 0;
  private timer: TimerHandle | null = null;

  constructor(
    private readonly clock: Clock,
    private readonly options: RefusalBudgetOptions,
    private readonly summarise: (summary: RefusalSummary) => void,
  ) {
    this.tokens = options.atOnce;
    this.refilledAtMono = clock.monotonic();
  }

  /** True: answer this refusal. False: it is counted for the next summary (the first such starts its interval). */
  admit(code: string): boolean {
    const now = this.clock.monotonic();
    const earned = Math.floor((now - this.refilledAtMono) / this.options.refillMs);
    if (earned > 0) {
      this.tokens = Math.min(this.options.atOnce, this.tokens + earned);
      this.refilledAtMono = this.tokens === this.options.atOnce ? now : this.refilledAtMono + earned * this.options.refillMs;
    }
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    if (this.dropped === 0) this.startedAtMono = now;
    this.dropped += 1;
    // Codes are the registry's: a handful of keys at most.
    this.byCode[code] = (this.byCode[code] ?? 0) + 1;
    this.timer ??= this.clock.setTimeout(() => {
      this.timer = null;
      this.flush();
    }, this.options.summaryMs);
    return false;
  }

  /** Refusals counted since the last summary. */
  get pending(): number {
    return this.dropped;
  }

  /** Summarises what is counted now (on stop), instead of at the interval's end. */
  flush(): void {
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = null;
    if (this.dropped === 0) return;
    const summary: RefusalSummary = { dropped: this.dropped, byCode: this.byCode, intervalMs: this.clock.monotonic() - this.startedAtMono };
    this.dropped = 0;
    this.byCode = {};
    this.summarise(summary);
  }
}
