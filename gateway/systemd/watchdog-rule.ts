/**
 * When a watchdog ping is honest. systemd restarts a service whose pings stop (WatchdogSec=), so
 * a ping must mean "this gateway does its job", not "a timer fired". The timer firing on time
 * proves the event loop turns; this rule adds the one thing a restart can cure that the loop
 * cannot see by itself: the outbox no longer getting events onto the disk.
 *
 * The outbox commits a batch in SQLite, then fdatasyncs the WAL off the loop; a producer hears of
 * its event only after that sync (sqlite-outbox.ts). So the rule withholds the ping when, for at
 * least `boundMs`:
 * - a commit waits for the disk: events were committed beyond the durable seq and the durable
 *   seq has not moved (a flash disk hung in fsync, a sync failing with EIO and being retried);
 * - commits fail: the last commit failed (GW_ERR_OUTBOX_WRITE: an I/O error, a damaged file, or
 *   GW_ERR_OUTBOX_CLOSED) and none has succeeded since.
 * A full disk (GW_ERR_OUTBOX_DISK_FULL) does not count: a restart cannot make room, and the
 * outbox is built to live through it (it keeps delivering and deleting, which frees space, and
 * /healthz says 503); restarting every minute would only drop the operators' sessions.
 * Nor does another connection's write lock (GW_ERR_OUTBOX_LOCKED, appends refused once 10,000
 * wait for it): the lock outlives a restart, which would only lose the events waiting in memory.
 *
 * The conditions are seen at each judgement (each ping), so a spell counts from the first
 * judgement that saw it: pings stop between `boundMs` and `boundMs` + one ping interval after
 * the disk stopped. Whatever the rule cannot read counts as unhealthy (SystemdNotifier).
 */
import type { ErrorCode } from '../../core/errors.js';

/** What the rule reads from the outbox at each judgement (Gateway.commitState). */
export interface CommitState {
  /** Highest seq committed to SQLite. */
  lastSeq: number;
  /** Highest seq known to be on disk (fsynced). */
  durableSeq: number;
  /** The code of the last commit's error while no commit has succeeded since; null when the last succeeded. */
  lastError: ErrorCode | null;
}

export type Verdict = { healthy: true } | { healthy: false; reason: string };

/** Codes a restart cannot cure; a spell of them does not stop the pings (see the file comment). */
const RESTART_CANNOT_FIX = new Set<ErrorCode>(['GW_ERR_OUTBOX_DISK_FULL', 'GW_ERR_OUTBOX_FULL', 'GW_ERR_OUTBOX_LOCKED']);

/** Default bound: longer than any fsync a healthy flash disk takes, even behind a checkpoint. */
export const DEFAULT_COMMIT_STALL_BOUND_MS = 60_000;

export class WatchdogRule {
  /** A sync the durable seq has been waiting on since `sinceMono`, unmoved from `durableSeq`. */
  private stall: { durableSeq: number; sinceMono: number } | null = null;
  private failing: { code: ErrorCode; sinceMono: number } | null = null;

  constructor(private readonly boundMs: number = DEFAULT_COMMIT_STALL_BOUND_MS) {}

  /** Judges `state`, read at monotonic time `nowMono` (ms); call it at every ping. */
  judge(state: CommitState, nowMono: number): Verdict {
    if (state.durableSeq >= state.lastSeq) this.stall = null;
    else if (this.stall === null || state.durableSeq > this.stall.durableSeq) this.stall = { durableSeq: state.durableSeq, sinceMono: nowMono };

    if (state.lastError === null || RESTART_CANNOT_FIX.has(state.lastError)) this.failing = null;
    else if (this.failing === null) this.failing = { code: state.lastError, sinceMono: nowMono };
    else this.failing.code = state.lastError;

    const reasons: string[] = [];
    if (this.stall && nowMono - this.stall.sinceMono >= this.boundMs) {
      reasons.push(`outbox commits have waited ${seconds(nowMono - this.stall.sinceMono)} s for the disk (durable up to seq ${state.durableSeq}, committed up to ${state.lastSeq})`);
    }
    if (this.failing && nowMono - this.failing.sinceMono >= this.boundMs) {
      reasons.push(`outbox commits have failed for ${seconds(nowMono - this.failing.sinceMono)} s (${this.failing.code})`);
    }
    return reasons.length === 0 ? { healthy: true } : { healthy: false, reason: reasons.join('; ') };
  }
}

function seconds(ms: number): number {
  return Math.round(ms / 1000);
}
