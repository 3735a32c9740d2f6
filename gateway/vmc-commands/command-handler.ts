/**
 * Applies the VMC's commands on a post: each message of the post's command topic is verified
 * (verify-command.ts), applied only when everything checks out, and answered with exactly one
 * event on the post pseudo-lane: `command.applied`, or `command.refused` with the reason's code.
 * Whatever is wrong with a command, the post keeps the watchlist and models it had.
 *
 * - A watchlist replaces the list the rules and the risk features read (the same array object
 *   every decision reads, swapped whole: a vehicle is judged against one list, old or new).
 * - A model rollout's manifest and ONNX file are written into `modelDir` and loaded through the
 *   model slot like any reload: its manifest must verify with the post's *model* keys, the file's
 *   sha256 must match, and its version must be above the running one (GW_ERR_MODEL_* otherwise).
 *   The swap is a `model.swapped` event, as every swap is.
 * - An evidence request queues a transfer of each named piece the post holds intact (read
 *   through and checked against its digest) in the transaction of its `command.applied`; its
 *   chunks carry the command id as `requestId` (gateway/evidence). When it holds none of them the
 *   request is refused, GW_ERR_EVIDENCE_NOT_HELD.
 * - The applied version and content are stored in the transaction of `command.applied`
 *   (command-state.ts), so a restart keeps them and the version floor.
 *
 * Each message is verified as it arrives (verifyCommand is pure and synchronous). One that fails
 * is refused for good — the version floor only rises — and its answer is budgeted
 * (refusal-budget.ts): a flood of junk on the topic (the broker ACL lets only the VMC publish here,
 * but a compromised client or a looping bridge can) is answered REFUSALS_AT_ONCE times, then once
 * a minute, and the rest only counted, summarised by one `GW_ERR_COMMAND_FLOOD` alarm a minute.
 * Only a command that verified (signed by the VMC, for this post, above the floor) waits in the
 * queue, so junk never takes the place of a valid command; it is verified again when its turn
 * comes (a command before it may have raised the floor). A copy of a command already waiting is
 * dropped: the first is answered. Commands are applied one at a time, in arrival order; at most
 * MAX_PENDING wait. The retained copy of the last applied command, which the broker hands over on
 * every (re)subscription, is recognised and not answered again; so is the retained copy of a
 * message refused already (recognised by its bytes, so a forged message naming a genuine
 * command's id cannot make the post ignore that command).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock } from '../../core/clock.js';
import { deviceText } from '../../core/device-text.js';
import { isGatewayError } from '../../core/errors.js';
import { POST_LANE } from '../../contract/envelope.js';
import type { EventData } from '../../contract/catalogue.js';
import type { ModelSlot, LoadableModel } from '../../edge-models/model-slot.js';
import type { Gateway } from '../daemon.js';
import { NO_EVIDENCE, type EvidenceRequests } from '../evidence/evidence-requests.js';
import type { ModelVersions } from '../model-versions.js';
import type { WithinCommit } from '../outbox/sqlite-outbox.js';
import type { AppliedModel, CommandState } from './command-state.js';
import { RefusalBudget, type RefusalSummary } from './refusal-budget.js';
import { verifyCommand, type CommandIdentity, type Verdict, type VerifiedCommand } from './verify-command.js';
import { fileWriteStarted } from '../../core/file-writes.js';
import { MODEL_FILE_NAME_PATTERN } from '../../contract/model-manifest.js';

/** Verified commands waiting to be applied, at most. */
export const MAX_PENDING = 16;
/** Refusals answered back to back before the budget holds them to one per REFUSAL_REFILL_MS. */
export const REFUSALS_AT_ONCE = 10;
export const REFUSAL_REFILL_MS = 60_000;
/** A refusal not answered is summarised (GW_ERR_COMMAND_FLOOD) at most this long after. */
export const REFUSAL_SUMMARY_MS = 60_000;
/**
 * A command issued further than this ahead of the post's wall clock is logged
 * (GW_ERR_COMMAND_ISSUED_AHEAD) and applied all the same: see issuedAtNote().
 */
export const ISSUED_AHEAD_WARN_MS = 5 * 60_000;
/** Refused messages remembered by digest, so their retained copies are not answered again. */
const REMEMBERED_REFUSALS = 64;

type ModelName = AppliedModel['model'];
const MODEL_NAME_OF_KIND: Record<string, ModelName> = { risk: 'risk', 'xray-screening': 'xrayScreening' };

export interface CommandHandlerOptions {
  postId: string;
  /** The VMC's public keys (`commands.publicKeys`); none: every command is refused. */
  keys: readonly KeyObject[];
  maxBytes: number;
  gateway: Pick<Gateway, 'emit'>;
  state: CommandState;
  /** The rules' options: `watchlist` is replaced by an applied watchlist. */
  rules: { watchlist: string[] };
  slots: Record<ModelName, ModelSlot<LoadableModel>>;
  versions: ModelVersions;
  /** The manifests a reload loads: an applied rollout's replaces its model's. */
  manifests: Record<ModelName, string | null>;
  /** Where rolled-out models are written (one folder per rollout version). */
  modelDir: string;
  /** The post's evidence store, for `evidence.request` (default: none held). */
  evidence?: EvidenceRequests;
  clock: Clock;
  logger: Logger;
}

type Answer =
  | {
      outcome: 'applied';
      within: WithinCommit;
      watchlistPlates?: number;
      /** Runs once the answer is stored (an evidence request's transfers start). */
      after?: () => void;
    }
  | { outcome: 'refused'; code: string; message: string };

export class CommandHandler {
  private queue: Promise<void> = Promise.resolve();
  /** Ids of the verified commands waiting (a copy of one of them is dropped). */
  private readonly pendingIds = new Set<string>();
  /**
   * sha256 of the messages refused for good (not GW_ERR_COMMAND_APPLY, which a later delivery may
   * get past), oldest first. The VMC keeps its latest command retained on the post's topic, so the
   * broker hands a refused one over again on every reconnect: recognised by its bytes and not
   * answered (nor a model written and verified) again. By bytes, not by the command id it claims:
   * a forged message naming a genuine command's id must not make the post ignore that command. In
   * memory: a restart, after which a configuration change (a key added) may let it through, hears
   * it once more.
   */
  private readonly refusedDigests = new Set<string>();
  private readonly refusals: RefusalBudget;
  /** Answers stored (tests and metrics). */
  readonly answered = { applied: 0, refused: 0 };

  constructor(private readonly options: CommandHandlerOptions) {
    this.refusals = new RefusalBudget(options.clock, { atOnce: REFUSALS_AT_ONCE, refillMs: REFUSAL_REFILL_MS, summaryMs: REFUSAL_SUMMARY_MS }, (summary) => this.summarise(summary));
  }

  /** Takes one message of the command topic; returns at once (applied in order). `retained`: the broker's stored copy. */
  receive(payload: Buffer, retained = false): void {
    const verdict = this.verify(payload);
    if (!verdict.ok) {
      if (this.recognised(verdict, payload, retained)) return;
      if (!this.refusals.admit(verdict.code)) {
        // Counted for the summary; remembered, so its retained copy is not answered either.
        if (verdict.code !== 'GW_ERR_COMMAND_APPLY') this.rememberRefused(payload);
        return;
      }
      this.enqueue(() => this.answer(verdict.identity, { outcome: 'refused', code: verdict.code, message: verdict.message }, payload));
      return;
    }
    const { commandId } = verdict.command.envelope;
    if (this.pendingIds.has(commandId)) {
      this.options.logger.debug({ commandId }, 'a copy of a VMC command already waiting; the first is answered');
      return;
    }
    if (this.pendingIds.size >= MAX_PENDING) {
      this.options.logger.warn({ code: 'GW_ERR_COMMAND_TOO_LARGE', pending: this.pendingIds.size, bytes: payload.length, commandId }, 'too many verified VMC commands waiting; this one is dropped unanswered');
      return;
    }
    this.pendingIds.add(commandId);
    this.enqueue(async () => {
      try {
        await this.handle(payload, retained);
      } finally {
        this.pendingIds.delete(commandId);
      }
    });
  }

  /** Resolves once every command received so far is handled and answered. */
  idle(): Promise<void> {
    return this.queue;
  }

  /** Stops: summarises refusals counted and not answered yet, and waits for the commands received. */
  async stop(): Promise<void> {
    this.refusals.flush();
    await this.queue;
  }

  /** Verifies one command and stores its answer, unbudgeted; resolves when the answer is stored (or could not be). */
  async handle(payload: Buffer, retained = false): Promise<void> {
    const verdict = this.verify(payload);
    if (!verdict.ok) {
      if (this.recognised(verdict, payload, retained)) return;
      await this.answer(verdict.identity, { outcome: 'refused', code: verdict.code, message: verdict.message }, payload);
      return;
    }
    const command = verdict.command;
    const identity: CommandIdentity = { commandId: command.envelope.commandId, kind: command.kind, version: command.envelope.version };
    if (retained && this.refusedAlready(payload, identity)) return;
    this.issuedAtNote(command.envelope);
    const answer =
      command.kind === 'watchlist.update' ? this.applyWatchlist(command) : command.kind === 'evidence.request' ? await this.applyEvidenceRequest(command) : await this.applyModel(command);
    await this.answer(identity, answer, payload);
  }

  /**
   * `issuedAt` is signed but decides nothing. The version floor is the replay defence; a time check
   * would only add a way to lose commands: a post whose clock is wrong (an RTC reset after a power
   * cut, no NTP for months) would refuse the very rollback or watchlist that should reach it, and
   * a post offline for days legitimately gets the VMC's retained commands days old. A command
   * issued ahead of the post's clock says one of the two clocks is wrong, which matters for every
   * TRS time the post stamps: logged for the operators, and applied.
   */
  private issuedAtNote(envelope: VerifiedCommand['envelope']): void {
    const now = this.options.clock.now();
    const aheadMs = Date.parse(envelope.issuedAt) - now;
    if (!(aheadMs > ISSUED_AHEAD_WARN_MS)) return;
    this.options.logger.warn(
      { code: 'GW_ERR_COMMAND_ISSUED_AHEAD', commandId: envelope.commandId, kind: envelope.kind, issuedAt: envelope.issuedAt, postTime: new Date(now).toISOString(), aheadMs },
      `a VMC command was issued ${Math.round(aheadMs / 60_000)} min ahead of this post's clock: this post's clock (or the VMC's) is wrong; the command is applied all the same`,
    );
  }

  private verify(payload: Buffer): Verdict {
    const { state } = this.options;
    return verifyCommand(payload, { postId: this.options.postId, keys: this.options.keys, maxBytes: this.options.maxBytes, lastApplied: (kind) => state.last(kind) });
  }

  /** True when a refused message is a retained copy answered already: of the applied command, or of one refused. */
  private recognised(verdict: Extract<Verdict, { ok: false }>, payload: Buffer, retained: boolean): boolean {
    if (!retained) return false;
    const last = verdict.identity.kind ? this.options.state.last(verdict.identity.kind) : null;
    if (verdict.code === 'GW_ERR_COMMAND_REPLAY' && last?.commandId === verdict.identity.commandId) {
      this.options.logger.debug({ commandId: last.commandId, kind: verdict.identity.kind }, 'retained copy of the applied command; nothing to do');
      return true;
    }
    return this.refusedAlready(payload, verdict.identity);
  }

  /** Queues `work` behind what was received before; a failure is logged. */
  private enqueue(work: () => Promise<void>): void {
    this.queue = this.queue.then(work).catch((error: unknown) => this.options.logger.error({ err: error }, 'VMC command handling failed'));
  }

  /** One alarm for the refusals the budget held back. */
  private summarise({ dropped, byCode, intervalMs }: RefusalSummary): void {
    const message = `${dropped} message(s) on the command topic refused in ${Math.round(intervalMs / 1000)} s without an answer each (over ${REFUSALS_AT_ONCE} at once and one a minute): someone publishes junk or replays there`;
    this.options.logger.warn({ code: 'GW_ERR_COMMAND_FLOOD', dropped, byCode, intervalMs }, message);
    this.options.gateway.emit('alarm.raised', POST_LANE, { alarm: 'GW_ERR_COMMAND_FLOOD', severity: 'warning', message, details: { dropped, byCode, intervalMs } }).catch((error: unknown) => {
      this.options.logger.error({ err: error, code: 'GW_ERR_COMMAND_FLOOD' }, 'the command flood alarm could not be stored');
    });
  }

  private applyWatchlist(command: Extract<VerifiedCommand, { kind: 'watchlist.update' }>): Answer {
    const { envelope, plates } = command;
    const within = this.options.state.within('watchlist.update', { version: envelope.version, commandId: envelope.commandId, content: { plates }, appliedMs: this.options.clock.now() });
    return {
      outcome: 'applied',
      watchlistPlates: plates.length,
      // The list is swapped in the answer's transaction: in use exactly when it is stored.
      within: (event, db) => {
        const stored = within(event, db);
        this.options.rules.watchlist = plates;
        return stored;
      },
    };
  }

  private async applyEvidenceRequest(command: Extract<VerifiedCommand, { kind: 'evidence.request' }>): Promise<Answer> {
    const { envelope, digests } = command;
    const evidence = this.options.evidence ?? NO_EVIDENCE;
    const held = await evidence.intact(digests);
    if (held.length === 0) {
      return { outcome: 'refused', code: 'GW_ERR_EVIDENCE_NOT_HELD', message: `none of the ${digests.length} piece(s) asked for is held here (never stored, evicted, or damaged): ${digests.slice(0, 3).join(', ')}${digests.length > 3 ? ', …' : ''}` };
    }
    const missing = digests.filter((digest) => !held.includes(digest));
    if (missing.length > 0) this.options.logger.warn({ commandId: envelope.commandId, held: held.length, missing }, 'evidence request: some pieces are not held here; the others are sent');
    const record = this.options.state.within('evidence.request', { version: envelope.version, commandId: envelope.commandId, content: { digests: held }, appliedMs: this.options.clock.now() });
    const queue = evidence.queueWithin(held, envelope.commandId);
    return {
      outcome: 'applied',
      // The transfers are queued in the answer's transaction: answered exactly when they will be sent.
      within: (event, db) => queue(record(event, db), db),
      after: () => evidence.wake(),
    };
  }

  private async applyModel(command: Extract<VerifiedCommand, { kind: 'model.rollout' }>): Promise<Answer> {
    const { envelope, payload } = command;
    const name = MODEL_NAME_OF_KIND[String(payload.manifest.kind)];
    const file = payload.manifest.file;
    // The file name is signed with the manifest: it must stay inside the rollout's folder.
    if (!name || typeof file !== 'string' || !MODEL_FILE_NAME_PATTERN.test(file)) {
      return { outcome: 'refused', code: 'GW_ERR_COMMAND_MALFORMED', message: 'manifest.kind must be risk or xray-screening and manifest.file a plain file name' };
    }
    const folder = join(this.options.modelDir, `${name}-${envelope.version}`);
    const manifestPath = join(folder, 'manifest.json');
    const onnx = Buffer.from(payload.onnxBase64, 'base64');
    const manifestText = JSON.stringify(payload.manifest, null, 2);
    // On the outbox's filesystem: counted for its room (core/file-writes.ts).
    const over = fileWriteStarted(onnx.length + Buffer.byteLength(manifestText));
    try {
      mkdirSync(folder, { recursive: true });
      writeFileSync(join(folder, file), onnx);
      writeFileSync(manifestPath, manifestText);
    } catch (error) {
      return { outcome: 'refused', code: 'GW_ERR_COMMAND_APPLY', message: `the model could not be written to ${folder}: ${(error as Error).message}` };
    } finally {
      over();
    }
    const { slots, versions, logger } = this.options;
    let loaded;
    try {
      loaded = await slots[name].load(manifestPath, { floorVersion: versions.get(name) });
    } catch (error) {
      // GW_ERR_MODEL_SIGNATURE / _DIGEST / _MANIFEST / _ROLLBACK / _LOAD: the running model stays.
      return { outcome: 'refused', code: isGatewayError(error) ? error.code : 'GW_ERR_MODEL_LOAD', message: (error as Error).message };
    }
    this.options.manifests[name] = manifestPath;
    const requestedBy = { id: `vmc:${envelope.keyId}`, role: 'vmc' };
    if (loaded.status === 'swapped') {
      logger.info({ model: name, fromVersion: loaded.fromVersion, toVersion: loaded.toVersion, commandId: envelope.commandId }, 'model rolled out by the VMC');
      const swapped: EventData<'model.swapped'> = { model: name, fromVersion: loaded.fromVersion, toVersion: loaded.toVersion, rollback: false, requestedBy, manifestSha256: loaded.manifestSha256 };
      await this.options.gateway.emit('model.swapped', POST_LANE, swapped, undefined, versions.within(name, loaded.toVersion)).catch((error: unknown) => {
        logger.error({ err: error, model: name }, 'model.swapped could not be stored');
      });
    }
    return {
      outcome: 'applied',
      within: this.options.state.within('model.rollout', {
        version: envelope.version,
        commandId: envelope.commandId,
        content: { model: name, manifestPath, modelVersion: loaded.toVersion },
        appliedMs: this.options.clock.now(),
      }),
    };
  }

  /** True when `payload` is (the retained copy of) a message refused already (refusedDigests). */
  private refusedAlready(payload: Buffer, identity: CommandIdentity): boolean {
    if (!this.refusedDigests.has(digestOf(payload))) return false;
    this.options.logger.debug({ ...identity }, 'retained copy of a message refused already; not answered again');
    return true;
  }

  private rememberRefused(payload: Buffer): void {
    const digest = digestOf(payload);
    this.refusedDigests.delete(digest);
    this.refusedDigests.add(digest);
    if (this.refusedDigests.size > REMEMBERED_REFUSALS) this.refusedDigests.delete(this.refusedDigests.values().next().value as string);
  }

  /** Stores the command's one answer; an answer that cannot be stored is logged. */
  private async answer(identity: CommandIdentity, answer: Answer, payload: Buffer): Promise<void> {
    const { gateway, logger } = this.options;
    try {
      if (answer.outcome === 'applied') {
        await gateway.emit('command.applied', POST_LANE, { ...identity, current: this.current(identity, answer.watchlistPlates) }, undefined, answer.within);
        this.answered.applied += 1;
        answer.after?.();
        logger.info({ ...identity }, 'VMC command applied');
      } else {
        // The reason can quote the sender's bytes (JSON.parse's message does): made fit for the VMC's
        // dashboard, no bidi override turning its words around, no line breaks of the sender's.
        const message = deviceText(answer.message, 1000);
        await gateway.emit('command.refused', POST_LANE, { ...identity, current: this.current(null), reason: { code: answer.code, message } });
        this.answered.refused += 1;
        if (answer.code !== 'GW_ERR_COMMAND_APPLY') this.rememberRefused(payload);
        logger.warn({ ...identity, code: answer.code, reason: message }, 'VMC command refused');
      }
    } catch (error) {
      logger.error({ err: error, code: 'GW_ERR_COMMAND_APPLY', ...identity }, 'the answer to a VMC command could not be stored; nothing was applied');
    }
  }

  /** The post's versions once `applied` (the command being answered, if applied) is in effect. */
  private current(applied: CommandIdentity | null, platesAfter?: number): EventData<'command.applied'>['current'] {
    const { state, rules, slots } = this.options;
    const watchlist = applied?.kind === 'watchlist.update' ? applied.version : (state.last('watchlist.update')?.version ?? null);
    const model = applied?.kind === 'model.rollout' ? applied.version : (state.last('model.rollout')?.version ?? null);
    return {
      watchlistVersion: watchlist,
      // An applied list is swapped in inside the answer's transaction, after this is computed.
      watchlistPlates: platesAfter ?? rules.watchlist.length,
      modelCommandVersion: model,
      models: { risk: slots.risk.version, xrayScreening: slots.xrayScreening.version },
    };
  }
}

function digestOf(payload: Buffer): string {
  return createHash('sha256').update(payload).digest('hex');
}
