/**
 * A hot-swappable place for one model. `load` verifies and loads a new model completely before
 * swapping it in, so a vehicle is always scored by a whole model: calls already running finish on
 * the model they started with, and the old session is released only when the last of them is done.
 * A failed load leaves the current model in place (or none, so the rules decide) and says why.
 *
 * Versions only move forward (model-version.ts): a validly signed but older manifest is refused
 * (GW_ERR_MODEL_ROLLBACK) unless the caller asks for a rollback, so an old model with a known
 * weakness cannot be put back silently. The same version with the same signed content is a no-op.
 */
import type { KeyObject } from 'node:crypto';
import { GatewayError } from '../core/errors.js';
import { verifyModel, type ModelKind, type VerifiedModel } from './manifest.js';
import { compareModelVersions } from '../contract/model-version.js';

export interface LoadableModel {
  readonly version: string;
  release(): Promise<void>;
}

export interface LoadOptions {
  /** Accept a manifest older than the running model (an admin's deliberate rollback). Default false. */
  allowRollback?: boolean;
  /**
   * The newest version this post has run, remembered across restarts: with an empty slot (at
   * start) a manifest older than it is a rollback too, so a restart cannot be used to downgrade.
   */
  floorVersion?: string | null;
}

/** What a successful `load` did. */
export interface LoadOutcome<M> {
  /**
   * `swapped`: `model` now scores new calls. `unchanged`: the running model already has this
   * version and signed content; nothing was loaded or swapped.
   */
  status: 'swapped' | 'unchanged';
  /** The model now running. */
  model: M;
  /** Version running before the load (null when the slot was empty). */
  fromVersion: string | null;
  toVersion: string;
  /** True when an older model replaced a newer one (only with `allowRollback`). */
  rollback: boolean;
  /** sha256 of the manifest's signed bytes (VerifiedModel.manifestSha256). */
  manifestSha256: string;
}

interface Entry<M> {
  model: M;
  manifestSha256: string;
  inFlight: number;
  retired: boolean;
}

export class ModelSlot<M extends LoadableModel> {
  private entry: Entry<M> | null = null;
  /** Why the last load failed, until one succeeds. */
  lastError: GatewayError | null = null;
  swaps = 0;
  /** Loads run one at a time, so two reloads cannot both compare against the same running version. */
  private loading: Promise<unknown> = Promise.resolve();

  constructor(
    readonly kind: ModelKind,
    private readonly loader: (verified: VerifiedModel) => Promise<M>,
    private readonly trustedKeys: () => KeyObject[],
  ) {}

  get version(): string | null {
    return this.entry?.model.version ?? null;
  }

  /**
   * Verifies `manifestPath`, checks its version against the running model's, loads it and swaps it
   * in. Rejects, keeping the running model, when verification or loading fails, or with
   * GW_ERR_MODEL_ROLLBACK when the manifest is older and `options.allowRollback` is not set.
   */
  load(manifestPath: string, options: LoadOptions = {}): Promise<LoadOutcome<M>> {
    const run = this.loading.then(() => this.loadNow(manifestPath, options));
    this.loading = run.catch(() => undefined);
    return run;
  }

  private async loadNow(manifestPath: string, options: LoadOptions): Promise<LoadOutcome<M>> {
    try {
      const verified = verifyModel(manifestPath, this.trustedKeys(), this.kind);
      const toVersion = verified.manifest.version;
      const current = this.entry;
      const fromVersion = current?.model.version ?? null;
      const baseline = current?.model.version ?? options.floorVersion ?? null;
      const order = baseline === null ? 1 : compareModelVersions(toVersion, baseline);
      if (current && order === 0) {
        if (verified.manifestSha256 !== current.manifestSha256) {
          // Same version, other content: neither a newer model nor a rollback, and swapping it would
          // let a model change without its version saying so.
          throw new GatewayError(
            'GW_ERR_MODEL_MANIFEST',
            `${manifestPath}: version ${toVersion} is already running with other content (manifest sha256 ${current.manifestSha256.slice(0, 16)}…, this one ${verified.manifestSha256.slice(0, 16)}…); a changed model needs a new version`,
          );
        }
        this.lastError = null;
        return { status: 'unchanged', model: current.model, fromVersion, toVersion, rollback: false, manifestSha256: verified.manifestSha256 };
      }
      const rollback = order < 0;
      if (rollback && !options.allowRollback) {
        const against = current ? `the running ${fromVersion}` : `${baseline}, which this post ran before its restart`;
        throw new GatewayError('GW_ERR_MODEL_ROLLBACK', `${manifestPath}: version ${toVersion} is older than ${against}; not loaded without a rollback request`, {
          details: { runningVersion: fromVersion ?? baseline, refusedVersion: toVersion },
        });
      }
      const model = await this.loader(verified);
      this.entry = { model, manifestSha256: verified.manifestSha256, inFlight: 0, retired: false };
      this.swaps += 1;
      this.lastError = null;
      // A close() during the load has released it already.
      if (current && !current.retired) {
        current.retired = true;
        if (current.inFlight === 0) await current.model.release();
      }
      return { status: 'swapped', model, fromVersion, toVersion, rollback, manifestSha256: verified.manifestSha256 };
    } catch (error) {
      this.lastError = error as GatewayError;
      throw error;
    }
  }

  /** Runs `fn` with the current model (or null when none is loaded), keeping it alive meanwhile. */
  async use<T>(fn: (model: M | null) => Promise<T>): Promise<T> {
    const entry = this.entry;
    if (!entry) return fn(null);
    entry.inFlight += 1;
    try {
      return await fn(entry.model);
    } finally {
      entry.inFlight -= 1;
      if (entry.retired && entry.inFlight === 0) await entry.model.release();
    }
  }

  async close(): Promise<void> {
    const entry = this.entry;
    this.entry = null;
    if (entry) {
      entry.retired = true;
      if (entry.inFlight === 0) await entry.model.release();
    }
  }
}
