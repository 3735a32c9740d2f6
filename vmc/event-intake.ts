/**
 * What the VMC does with one message of its subscription, transport aside: bound it, parse it,
 * check it against the contract, store it. A message that is not a valid event is counted by
 * reason and dropped (the caller still acknowledges it: redelivering it would not make it valid).
 * So is a valid event the store refuses for its data (a database data exception: GW_ERR_VMC_EVENT_UNSTORABLE).
 * Any other store failure is thrown, so the caller does not acknowledge and the broker delivers again.
 *
 * Two things the JSON Schema of the contract lets through are refused here, before the store
 * sees them: nesting deeper than MAX_JSON_DEPTH (JSON.stringify and every recursive reader of the
 * value would overflow the stack on it) and a NUL character in any string or key (PostgreSQL's
 * text types cannot hold U+0000).
 */
import type { Logger } from 'pino';
import { checkEvent, postAndLaneOf } from '../contract/event-validator.js';
import { COMMAND_TOPIC_LEAF } from '../contract/vmc-command.js';
import type { CloudEvent } from '../contract/envelope.js';
import type { Clock } from '../core/clock.js';
import { jsonDepth } from '../core/canonical-json.js';
import { isGatewayError } from '../core/errors.js';
import { COMMANDS_TOPIC_LEVEL } from '../core/identifiers.js';
import { EVIDENCE_REJECT_REASONS, type EvidenceRejectReason } from './evidence/evidence-chunks.js';
import type { StoreResult, VmcStore } from './store/vmc-store.js';

export const REJECT_REASONS = ['too-large', 'not-json', 'too-deep', 'nul-char', 'envelope', 'data', 'topic-mismatch', 'status-invalid', 'unstorable'] as const;

/** Deepest nesting of objects and arrays accepted (the gateway's events nest 4 deep at most). */
export const MAX_JSON_DEPTH = 64;
export type RejectReason = (typeof REJECT_REASONS)[number];

export type IntakeOutcome = 'stored' | 'duplicate' | 'status' | 'command' | 'rejected';

/** The evidence this instance received (vmc/evidence/evidence-chunks.ts), in /api/status. */
export interface EvidenceStats {
  /** New chunk events (a redelivered event is a duplicate event, not counted here). */
  chunks: number;
  /** Chunks already held, or of a piece already stored. */
  duplicateChunks: number;
  /** Pieces completed, verified and stored. */
  stored: number;
  /** Chunks and pieces rejected or dropped, by reason. */
  rejected: Record<EvidenceRejectReason, number>;
}

export interface IntakeStats {
  received: number;
  stored: number;
  duplicates: number;
  statuses: number;
  rejected: Record<RejectReason, number>;
  lastStoredAt: string | null;
  evidence: EvidenceStats;
}

export interface EventIntakeOptions {
  store: VmcStore;
  clock: Clock;
  logger: Logger;
  /** Written into each stored event's `stored_by`: which instance stored it. */
  consumerName: string;
  /** Largest payload accepted, bytes (default 256 KiB: the gateway's events are at most 64 KiB by default). */
  maxMessageBytes?: number;
  /**
   * The topic filter the VMC subscribes with (default `border/v1/+/#`): the post's id is the
   * segment of its last `+` before the `#` (postSegmentOf).
   */
  topicFilter?: string;
}

/**
 * Where a topic under `filter` names its post: the segment of the filter's `+` before its `#`
 * (`border/v1/+/#`: 2). An event's topic is that post, a lane and a type, and nothing more; a
 * status is the post and `status`. Matching from the end alone let a post write another's events
 * under its own tree (`border/v1/post-a/post-b/lane-1/…`, which the broker's ACL allows post-a).
 */
export function postSegmentOf(filter: string): number {
  const segments = filter.split('/');
  const end = segments.at(-1) === '#' ? segments.length - 1 : segments.length;
  const plus = segments.slice(0, end).lastIndexOf('+');
  return plus === -1 ? end - 1 : plus;
}

const COMMAND_LEAVES = new Set(Object.values(COMMAND_TOPIC_LEAF));
export const DEFAULT_TOPIC_FILTER = 'border/v1/+/#';

function isCommandTopic(topic: string): boolean {
  const segments = topic.split('/');
  return segments.at(-2) === COMMANDS_TOPIC_LEVEL && COMMAND_LEAVES.has(segments.at(-1) ?? '');
}

/** A rejection is logged at most once a minute per reason, with the count since: a flood cannot flood the log. */
const REJECT_LOG_INTERVAL_MS = 60_000;

export class EventIntake {
  readonly stats: IntakeStats = {
    received: 0,
    stored: 0,
    duplicates: 0,
    statuses: 0,
    rejected: Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>,
    lastStoredAt: null,
    evidence: { chunks: 0, duplicateChunks: 0, stored: 0, rejected: Object.fromEntries(EVIDENCE_REJECT_REASONS.map((r) => [r, 0])) as Record<EvidenceRejectReason, number> },
  };
  readonly maxMessageBytes: number;
  private readonly lastRejectLog = new Map<RejectReason | EvidenceRejectReason, { atMs: number; suppressed: number }>();

  private readonly postSegment: number;

  constructor(private readonly options: EventIntakeOptions) {
    this.maxMessageBytes = options.maxMessageBytes ?? 256 * 1024;
    this.postSegment = postSegmentOf(options.topicFilter ?? DEFAULT_TOPIC_FILTER);
  }

  /** Handles one message; resolves once it is stored (or judged). Throws only when the store fails. */
  async handle(topic: string, payload: Buffer): Promise<IntakeOutcome> {
    // The VMC's own commands to the posts (`{root}/commands/watchlist|model`) are under the same
    // filter: not events. (An event's topic ends in its type, which always holds a dot.)
    if (isCommandTopic(topic)) return 'command';
    this.stats.received += 1;
    if (payload.length > this.maxMessageBytes) return this.reject('too-large', topic, `${payload.length} bytes > ${this.maxMessageBytes}`);
    const text = payload.toString('utf8');
    const depth = jsonDepth(text, MAX_JSON_DEPTH);
    if (depth > MAX_JSON_DEPTH) return this.reject('too-deep', topic, `nested deeper than ${MAX_JSON_DEPTH}`);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      return this.reject('not-json', topic, (error as Error).message);
    }
    if (hasNul(value)) return this.reject('nul-char', topic, 'a string holds U+0000');
    if (topic.endsWith('/status')) return this.status(topic, value);
    const check = checkEvent(value);
    if (!check.ok) return this.reject(check.reason, topic, check.problem);
    const event = check.event;
    // The broker's ACL lets a post publish under its own topic only; a `source` naming another
    // post (or lane, or type) than the topic is a forgery or a bug, not an event of that post.
    const { postId, laneId } = postAndLaneOf(event);
    const segments = topic.split('/');
    const at = this.postSegment;
    if (segments.length !== at + 3 || segments[at] !== postId || segments[at + 1] !== laneId || segments[at + 2] !== event.type) {
      return this.reject('topic-mismatch', topic, `source ${event.source} type ${event.type}`);
    }
    let result;
    try {
      result = await this.options.store.store([event], this.options.consumerName, this.options.clock.now(), new Map<CloudEvent, string>([[event, text]]));
    } catch (error) {
      if (isGatewayError(error, 'GW_ERR_VMC_EVENT_UNSTORABLE')) return this.reject('unstorable', topic, error.message);
      throw error;
    }
    if (result.stored === 0) {
      this.stats.duplicates += 1;
      return 'duplicate';
    }
    this.stats.stored += 1;
    this.stats.lastStoredAt = new Date(this.options.clock.now()).toISOString();
    if (result.evidence) this.countEvidence(result.evidence, topic);
    return 'stored';
  }

  /** Counts what a stored event's evidence did; a rejection is logged like a rejected message (once a minute per reason). */
  private countEvidence(evidence: NonNullable<StoreResult['evidence']>, topic: string): void {
    const stats = this.stats.evidence;
    for (const chunk of evidence.chunks) {
      stats.chunks += 1;
      if (chunk.outcome === 'duplicate') stats.duplicateChunks += 1;
      else if (chunk.outcome === 'stored') stats.stored += 1;
      else if (chunk.outcome === 'rejected') this.evidenceDropped(chunk.reason, 1, topic, `${chunk.digest}: ${chunk.problem}`);
      else if (chunk.evicted > 0) this.evidenceDropped('evicted-bound', chunk.evicted, topic, `${chunk.evicted} incomplete piece(s) dropped to keep the bounds on incomplete evidence`);
    }
    if (evidence.droppedAtPost > 0) this.evidenceDropped('evicted-at-post', evidence.droppedAtPost, topic, 'incomplete piece(s) the post evicted before sending the rest');
  }

  /** Counts `count` pieces or chunks rejected or dropped for `reason` (also the age sweep's, vmc/evidence/evidence-sweep.ts). */
  evidenceDropped(reason: EvidenceRejectReason, count: number, topic: string, problem: string): void {
    this.stats.evidence.rejected[reason] += count;
    const suppressed = this.logTurn(reason);
    if (suppressed === null) return;
    if (reason === 'expired') {
      // Retention running its course: pieces served their time; counted and noted, no error code.
      this.options.logger.info({ reason, count, problem: problem.slice(0, 300), suppressedSinceLast: suppressed }, 'verified evidence kept its retention; dropped');
      return;
    }
    this.options.logger.warn(
      { code: 'GW_ERR_VMC_EVIDENCE_REJECTED', reason, count, topic: topic.slice(0, 200), problem: problem.slice(0, 300), suppressedSinceLast: suppressed },
      'evidence rejected or dropped: never served',
    );
  }

  /** At most one line a minute per reason: null when this one is left out (and counted), else how many were left out since the last. */
  private logTurn(reason: RejectReason | EvidenceRejectReason): number | null {
    const now = this.options.clock.monotonic();
    const last = this.lastRejectLog.get(reason);
    if (last && now - last.atMs < REJECT_LOG_INTERVAL_MS) {
      last.suppressed += 1;
      return null;
    }
    this.lastRejectLog.set(reason, { atMs: now, suppressed: 0 });
    return last?.suppressed ?? 0;
  }

  /** Whether `topic` is `postId`'s status topic: the post's segment, then `status`, nothing more. */
  private isStatusTopicOf(topic: string, postId: string): boolean {
    const segments = topic.split('/');
    return segments.length === this.postSegment + 2 && segments[this.postSegment] === postId;
  }

  /** Whether the store answers at all (VmcStore.ping): tells a poison message from a database that is down. */
  storeReachable(): Promise<boolean> {
    return this.options.store.ping();
  }

  private async status(topic: string, value: unknown): Promise<IntakeOutcome> {
    const status = value as { state?: unknown; postId?: unknown; time?: unknown; reason?: unknown; gatewayVersion?: unknown } | null;
    const timeMs = typeof status?.time === 'string' ? Date.parse(status.time) : NaN;
    if (
      !status || typeof status !== 'object' || (status.state !== 'online' && status.state !== 'offline') || typeof status.postId !== 'string' ||
      !this.isStatusTopicOf(topic, status.postId) || !Number.isFinite(timeMs)
    ) {
      return this.reject('status-invalid', topic, 'not a gateway status of this topic');
    }
    await this.options.store.recordStatus({
      postId: status.postId,
      state: status.state,
      reason: typeof status.reason === 'string' ? status.reason.slice(0, 200) : null,
      gatewayVersion: typeof status.gatewayVersion === 'string' ? status.gatewayVersion.slice(0, 50) : null,
      // A status stamped in the future (a gateway's clock far ahead) would win over every later
      // one (the newer status replaces the older): it counts as sent now.
      timeMs: Math.min(timeMs, this.options.clock.now()),
    });
    this.stats.statuses += 1;
    return 'status';
  }

  private reject(reason: RejectReason, topic: string, problem: string): IntakeOutcome {
    this.stats.rejected[reason] += 1;
    const now = this.options.clock.monotonic();
    const last = this.lastRejectLog.get(reason);
    if (last && now - last.atMs < REJECT_LOG_INTERVAL_MS) {
      last.suppressed += 1;
      return 'rejected';
    }
    this.lastRejectLog.set(reason, { atMs: now, suppressed: 0 });
    this.options.logger.warn(
      { code: reason === 'unstorable' ? 'GW_ERR_VMC_EVENT_UNSTORABLE' : 'GW_ERR_VMC_MESSAGE_REJECTED', reason, topic: topic.slice(0, 200), problem: problem.slice(0, 300), suppressedSinceLast: last?.suppressed ?? 0 },
      'message dropped: not a valid event',
    );
    return 'rejected';
  }
}

/** Whether any string or key of a parsed JSON value holds U+0000; iterative (the depth is bounded before, but no recursion is needed). */
function hasNul(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    if (typeof item === 'string') {
      if (item.includes('\u0000')) return true;
    } else if (Array.isArray(item)) {
      for (const child of item as unknown[]) stack.push(child);
    }
    else if (item !== null && typeof item === 'object') {
      for (const [key, child] of Object.entries(item)) {
        if (key.includes('\u0000')) return true;
        stack.push(child);
      }
    }
  }
  return false;
}
