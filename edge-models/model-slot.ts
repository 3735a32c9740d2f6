/**
 * A hot-swappable place for one model. `load` verifies and loads a new model completely before
 * swapping it in, so a vehicle is always scored by a whole model: calls already running finish on
 * the model they started with, and the old session is released only when the last of them is done.
 * A failed load leaves the current model in place (or none, so the rules decide) and says why.
 */
import type { KeyObject } from 'node:crypto';
import type { GatewayError } from '../core/errors.js';
import { verifyModel, type ModelKind, type VerifiedModel } from './manifest.js';

export interface LoadableModel {
  readonly version: string;
  release(): Promise<void>;
}

interface Entry<M> {
  model: M;
  inFlight: number;
  retired: boolean;
}

export class ModelSlot<M extends LoadableModel> {
  private entry: Entry<M> | null = null;
  /** Why the last load failed, until one succeeds. */
  lastError: GatewayError | null = null;
  swaps = 0;

  constructor(
    readonly kind: ModelKind,
    private readonly loader: (verified: VerifiedModel) => Promise<M>,
    private readonly trustedKeys: () => KeyObject[],
  ) {}

  get version(): string | null {
    return this.entry?.model.version ?? null;
  }

  /** Verifies and loads `manifestPath`, then swaps it in. Rejects (keeping the old model) on failure. */
  async load(manifestPath: string): Promise<M> {
    try {
      const model = await this.loader(verifyModel(manifestPath, this.trustedKeys(), this.kind));
      const previous = this.entry;
      this.entry = { model, inFlight: 0, retired: false };
      this.swaps += 1;
      this.lastError = null;
      if (previous) {
        previous.retired = true;
        if (previous.inFlight === 0) await previous.model.release();
      }
      return model;
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
