/**
 * The evidence of a running post, wired from its configuration (`evidence`): the store under
 * `{dataDir}/evidence`, the forwarder that sends its pieces through the outbox, what answers the
 * VMC's `evidence.request`, and, once the lane workflow listens to the devices, the capture of
 * snapshots and scans. With `evidence.maxBytes` 0 nothing is captured (what an earlier run kept is
 * evicted at start) and every request names nothing held.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { PostConfig } from '../../config/schema.js';
import type { Clock } from '../../core/clock.js';
import type { Gateway } from '../daemon.js';
import type { Crossing } from '../workflow/lane-workflow.js';
import { EvidenceCapture, type EvidenceCaptureOptions } from './evidence-capture.js';
import { EvidenceForwarder, gatewayChunkOutbox } from './evidence-forwarder.js';
import { storeRequests, type EvidenceRequests } from './evidence-requests.js';
import { EvidenceStore } from './evidence-store.js';
import { UploadProgress } from './upload-progress.js';

export interface PostEvidence {
  store: EvidenceStore;
  forwarder: EvidenceForwarder;
  /** For the command handler's `evidence.request`. */
  requests: EvidenceRequests;
  /**
   * Starts taking snapshots and scans: call after the lane workflow listens to the devices (its
   * arrivals are heard first); `open` are the crossings it restored, whose interrupted scans are taken again.
   */
  capture(sources: Pick<EvidenceCaptureOptions, 'devices' | 'image'>, open: Iterable<Crossing>): void;
  /** Settles once what was captured so far is stored and its chunks appended. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

export interface PostEvidenceOptions {
  config: PostConfig;
  gateway: Pick<Gateway, 'emit' | 'onEvent' | 'outbox' | 'uplink' | 'dataDir' | 'scansAwaiting'>;
  /** The post clock: stamps pieces, runs retention and retries. */
  clock: Clock;
  logger: Logger;
}

export async function startPostEvidence(options: PostEvidenceOptions): Promise<PostEvidence> {
  const { config, gateway, clock } = options;
  const logger = options.logger.child({ module: 'evidence' });
  const settings = config.evidence;
  const db = gateway.outbox.database;
  const uploads = new UploadProgress(db);
  let forwarder: EvidenceForwarder | null = null;
  const store = await EvidenceStore.open({
    db,
    dir: join(gateway.dataDir, 'evidence'),
    maxBytes: settings.maxBytes,
    fullImageDays: settings.fullImageDays,
    // Twice the outbox's reserve: the outbox refuses commits below one reserve, and must not
    // reach it because of pictures.
    reserveBytes: 2 * config.outbox.reserveBytes,
    maxEventBytes: config.uplink.maxEventBytes,
    gateway,
    uploads,
    clock,
    logger,
    onQueued: () => forwarder?.wake(),
  });
  const started = new EvidenceForwarder({
    outbox: gatewayChunkOutbox(gateway),
    pieces: store,
    uploads,
    maxQueuedChunks: settings.maxQueuedChunks,
    maxEventBytes: config.uplink.maxEventBytes,
    clock,
    logger,
  });
  forwarder = started;
  started.start();
  let capture: EvidenceCapture | null = null;
  const idle = async (): Promise<void> => {
    await capture?.idle();
    await store.idle();
    await started.idle();
  };
  // A clock that steps time (tests, lockstep runs) waits for the pictures being written before its
  // next timer, as real time would have: otherwise how far they got by then is the machine's speed,
  // and so is what the outbox and the thread pool are busy with when the lanes' next step comes.
  // The forwarder's rounds alone do not hold it: with a broker that answers, each acknowledgement
  // starts another, and time would stand still until a backlog of chunks had gone.
  const unsettle = clock.settleWith?.(async () => {
    if (!(capture?.busy ?? false) && !store.busy) return false;
    await idle();
    return true;
  });
  return {
    store,
    forwarder: started,
    requests: storeRequests(store, uploads, () => started.wake()),
    capture(sources, open) {
      if (settings.maxBytes === 0 || capture) return;
      capture = new EvidenceCapture({ store, onEvent: (listener) => gateway.onEvent(listener), awaiting: gateway.scansAwaiting, config: settings, clock, logger, ...sources });
      capture.resume(open);
    },
    idle,
    async stop() {
      unsettle?.();
      capture?.stop();
      await capture?.idle();
      await store.stop();
      await started.stop();
    },
  };
}
