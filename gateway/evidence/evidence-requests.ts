/**
 * What an `evidence.request` of the VMC (gateway/vmc-commands) does with the store: find which of
 * the named pieces the post holds intact, and queue a transfer of each, answering the command's id
 * (`requestId` on every chunk). The transfers are written in the transaction of the command's
 * `command.applied`, so a request is answered if and only if its transfers are queued, and a kill
 * after the answer resumes them like any other.
 */
import type { WithinCommit } from '../outbox/sqlite-outbox.js';
import { chunkCount, type EvidenceStore } from './evidence-store.js';
import type { UploadProgress } from './upload-progress.js';

export interface EvidenceRequests {
  /** Of `digests`, those held whole: read through and checked against their digest (a damaged one is dropped). */
  intact(digests: readonly string[]): Promise<string[]>;
  /** Queues a transfer of each of `digests` for `requestId`, inside the answer's transaction (one evicted meanwhile is skipped). */
  queueWithin(digests: readonly string[], requestId: string): WithinCommit;
  /** Starts sending what was queued, once the answer is stored. */
  wake(): void;
}

/** A post that keeps no evidence: every request names nothing held. */
export const NO_EVIDENCE: EvidenceRequests = {
  intact: () => Promise.resolve([]),
  queueWithin: () => (event) => event,
  wake: () => undefined,
};

export function storeRequests(store: Pick<EvidenceStore, 'intact' | 'get'>, uploads: UploadProgress, wake: () => void): EvidenceRequests {
  return {
    async intact(digests) {
      const held: string[] = [];
      for (const digest of digests) if (await store.intact(digest)) held.push(digest);
      return held;
    },
    queueWithin: (digests, requestId) => (event) => {
      for (const digest of digests) {
        const piece = store.get(digest);
        if (piece) uploads.add(digest, requestId, chunkCount(piece.bytes));
      }
      return event;
    },
    wake,
  };
}
