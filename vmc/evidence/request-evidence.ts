/**
 * Asks one post for pieces of evidence in full (an `evidence.request` command, signed and sent
 * like any command: vmc/commands/send-command.ts numbers it, records it, publishes it retained on
 * the post's `{root}/commands/evidence`). What the VMC already holds verified is not asked for.
 *
 * Only the latest command of a kind stays retained on a post's topic, so a post offline while two
 * requests are sent would get only the second: each request therefore carries along the digests
 * of earlier requests to the same post that have neither arrived nor been answered (within
 * CARRY_REQUESTS_MS, at most MAX_EVIDENCE_REQUEST_DIGESTS in all, the newly asked first).
 *
 * Only what the post announced (`evidence.stored`) is asked of it: a request naming a post or a
 * digest the VMC never heard of is refused before anything is signed, stored or published, or
 * any analyst could fill the command tables and the broker's retained topics with made-up posts.
 */
import type { KeyObject } from 'node:crypto';
import type { Clock } from '../../core/clock.js';
import { GatewayError } from '../../core/errors.js';
import { MAX_EVIDENCE_REQUEST_DIGESTS, type CommandEnvelope } from '../../contract/vmc-command.js';
import { sendCommand, type Broker } from '../commands/send-command.js';
import type { VmcStore } from '../store/vmc-store.js';

/** How long an unanswered request is carried along by the next one to the same post. */
export const CARRY_REQUESTS_MS = 7 * 24 * 3600 * 1000;

export interface EvidenceRequest {
  postId: string;
  digests: string[];
  /** Who asks: `user:NAME` or `cli:KEYID`. */
  issuedBy: string;
}

export interface EvidenceRequestResult {
  /** The command sent; null when everything asked for is held already (nothing is sent). */
  command: CommandEnvelope | null;
  topics: string[];
  /** Asked for now. */
  requested: string[];
  /** Carried along from earlier unanswered requests. */
  carried: string[];
  /** Already held verified by the VMC: not asked for. */
  held: string[];
}

export async function requestEvidence(store: VmcStore, broker: Broker, key: KeyObject, request: EvidenceRequest, clock: Clock): Promise<EvidenceRequestResult> {
  const asked = [...new Set(request.digests)];
  const announced = await store.evidence.announced(request.postId, asked);
  const unknown = asked.filter((d) => !announced.has(d));
  if (unknown.length > 0) {
    const named = unknown.slice(0, 3).join(', ') + (unknown.length > 3 ? ` and ${unknown.length - 3} more` : '');
    throw new GatewayError('GW_ERR_VMC_EVIDENCE_UNKNOWN', `post ${request.postId} has announced no evidence ${named}: only pieces a post announced (evidence.stored) can be asked of it`);
  }
  const heldNow = await store.evidence.held(asked);
  const requested = asked.filter((d) => !heldNow.has(d));
  const held = asked.filter((d) => heldNow.has(d));
  if (requested.length === 0) return { command: null, topics: [], requested, carried: [], held };
  const earlier = await store.evidence.unansweredRequests(request.postId, clock.now() - CARRY_REQUESTS_MS, MAX_EVIDENCE_REQUEST_DIGESTS);
  const carried = earlier.filter((d) => !requested.includes(d)).slice(0, Math.max(0, MAX_EVIDENCE_REQUEST_DIGESTS - requested.length));
  const digests = [...requested, ...carried];
  const { command, topics } = await sendCommand(
    store.commands,
    broker,
    key,
    {
      kind: 'evidence.request',
      payload: { digests },
      summary: `${requested.length} piece(s)${carried.length > 0 ? ` + ${carried.length} carried along` : ''}`,
      postIds: [request.postId],
      issuedBy: request.issuedBy,
    },
    clock,
  );
  await store.evidence.recordRequest(request.postId, digests, command.commandId, request.issuedBy, clock.now());
  return { command, topics, requested, carried, held };
}
