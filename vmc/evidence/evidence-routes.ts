/**
 * The evidence API, a fastify plugin (any logged-in caller: analysts and admins):
 *   GET  /api/evidence/{digest}                       the verified bytes, with their own type
 *   GET  /api/crossings/{crossingId}/evidence?post=P  a crossing's pieces, held or not, and its screening regions
 *   POST /api/evidence/requests {post, digests}       asks the post for pieces in full (an evidence.request command)
 *   GET  /api/evidence/requests                       the latest evidence requests and the posts' answers
 * Analysts may ask for a full image: looking at a crossing's evidence is their work, the request
 * changes nothing at the post (it only sends what it holds), and it is bounded (100 digests, one
 * post). Sending needs the server's command key (`vmc --command-key`), like any command.
 *
 * The bytes are served as the gateway serves its pictures (gateway/http/image-routes.ts): only
 * image types as images, anything else (a 16-bit PGM scan) as a download; never sniffed, never
 * run (a sandboxing CSP), cached privately only (the name is the digest: an answer never changes).
 * Each answer is a copy read from the store (up to 48 MiB) and held until its client has taken
 * it: a client that asks and never reads holds it until the connection times out (60 s), so the
 * copies held at once are bounded (EVIDENCE_BYTES_IN_FLIGHT, core/bytes-in-flight.ts), and those
 * of one account's answers to a share of them (EVIDENCE_BYTES_PER_CALLER); past either a request
 * is answered 503 GW_ERR_VMC_EVIDENCE_BUSY with Retry-After, before anything is read.
 */
import type { FastifyPluginAsync } from 'fastify';
import { MAX_EVIDENCE_REQUEST_DIGESTS } from '../../contract/vmc-command.js';
import { BytesInFlight, releaseWhenSent } from '../../core/bytes-in-flight.js';
import { isGatewayError } from '../../core/errors.js';
import type { CommandSender } from '../commands/command-routes.js';
import type { VmcStore } from '../store/vmc-store.js';
import { requestEvidence } from './request-evidence.js';
import { ID_PATTERN } from '../../core/identifiers.js';

export interface EvidenceRoutesOptions {
  store: VmcStore;
  /** Null: this instance has no command key; it shows evidence but requests none. */
  sender: CommandSender | null;
  /** What evidence answers hold at once. Default: a budget of EVIDENCE_BYTES_IN_FLIGHT. */
  bytesInFlight?: BytesInFlight;
}

/** Bytes of evidence read for answers and not yet taken by their clients, at most: a 48 MiB piece and room beside it. */
export const EVIDENCE_BYTES_IN_FLIGHT = 64 * 1024 * 1024;

/**
 * Of those, what one account's answers hold at once (or one piece, however large, when it holds
 * none): an analyst's session in hostile hands leaves three quarters of the budget to the others,
 * or 16 MiB while it holds an unread full scan (up to 48 MiB: one piece).
 */
export const EVIDENCE_BYTES_PER_CALLER = 16 * 1024 * 1024;

/** Types served as images; anything else goes out as bytes to download, never as markup. */
const IMAGE_TYPES = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp', 'image/bmp']);
const EXTENSIONS: Record<string, string> = {
  'image/jpeg': 'jpg',
  'image/png': 'png',
  'image/gif': 'gif',
  'image/webp': 'webp',
  'image/bmp': 'bmp',
  'image/x-portable-graymap': 'pgm',
  'application/dicom': 'dcs',
  'image/tiff': 'tif',
};

const DIGEST = { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' } as const;
const POST = { type: 'string', pattern: ID_PATTERN.source } as const;

export const evidenceRoutes: FastifyPluginAsync<EvidenceRoutesOptions> = (app, { store, sender, bytesInFlight = new BytesInFlight(EVIDENCE_BYTES_IN_FLIGHT, EVIDENCE_BYTES_PER_CALLER) }) => {
  const notFound = (digest: string) => ({ code: 'GW_ERR_VMC_EVIDENCE_NOT_FOUND', message: `no verified evidence ${digest} is held (not received, not yet complete, or rejected)` });
  app.get<{ Params: { digest: string }; Querystring: { download?: boolean } }>(
    '/api/evidence/:digest',
    {
      schema: {
        params: { type: 'object', required: ['digest'], properties: { digest: DIGEST } },
        querystring: { type: 'object', additionalProperties: false, properties: { download: { type: 'boolean' } } },
      },
    },
    async (request, reply) => {
      const { digest } = request.params;
      const bytes = await store.evidence.blobBytes(digest);
      if (bytes === null) return reply.code(404).send(notFound(digest));
      // Reserved before the copy is read, held until the answer is sent or its connection is gone.
      const caller = request.caller?.name ?? '';
      const reservation = bytesInFlight.holder(caller).reserve(bytes);
      if (!reservation) {
        return reply
          .code(503)
          .header('retry-after', '1')
          .send({ code: 'GW_ERR_VMC_EVIDENCE_BUSY', message: `evidence answers already hold ${bytesInFlight.held} bytes not yet taken by their clients, ${bytesInFlight.heldBy(caller)} of them yours; try again in a second` });
      }
      releaseWhenSent(reply.raw, reservation);
      const blob = await store.evidence.blob(digest);
      if (!blob) return reply.code(404).send(notFound(digest));
      const type = blob.contentType.split(';')[0]?.trim().toLowerCase() ?? '';
      const image = IMAGE_TYPES.has(type);
      const name = `${digest.slice(7, 23)}.${EXTENSIONS[type] ?? 'bin'}`;
      return reply
        .header('content-type', image ? type : 'application/octet-stream')
        .header('content-disposition', `${image && request.query.download !== true ? 'inline' : 'attachment'}; filename="${name}"`)
        .header('cache-control', 'private, max-age=86400, immutable')
        .header('x-content-type-options', 'nosniff')
        .header('content-security-policy', "default-src 'none'; sandbox")
        .send(blob.data);
    },
  );

  app.get<{ Params: { crossingId: string }; Querystring: { post: string } }>(
    '/api/crossings/:crossingId/evidence',
    {
      schema: {
        // No control character: PostgreSQL refuses a NUL in text (a 500 before this).
        params: { type: 'object', required: ['crossingId'], properties: { crossingId: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[^\\u0000-\\u001f\\u007f]+$' } } },
        querystring: { type: 'object', additionalProperties: false, required: ['post'], properties: { post: POST } },
      },
    },
    (request) => store.evidence.ofCrossing(request.query.post, request.params.crossingId),
  );

  app.get('/api/evidence/requests', async () => ({ canSend: sender !== null, requests: await store.commands.progress(50, ['evidence.request']) }));

  app.post<{ Body: { post: string; digests: string[] } }>(
    '/api/evidence/requests',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['post', 'digests'],
          properties: { post: POST, digests: { type: 'array', minItems: 1, maxItems: MAX_EVIDENCE_REQUEST_DIGESTS, items: DIGEST } },
        },
      },
    },
    async (request, reply) => {
      if (!sender) return reply.code(503).send({ code: 'GW_ERR_VMC_NO_COMMAND_KEY', message: 'this VMC instance has no command key (vmc --command-key PEM)' });
      try {
        const result = await requestEvidence(store, sender.broker, sender.key, { postId: request.body.post, digests: request.body.digests, issuedBy: `user:${request.caller?.name ?? '?'}` }, sender.clock);
        const { command, topics, requested, carried, held } = result;
        return reply.code(command ? 201 : 200).send({ commandId: command?.commandId ?? null, version: command?.version ?? null, topics, requested, carried, held });
      } catch (error) {
        if (isGatewayError(error)) return reply.code(isGatewayError(error, 'GW_ERR_VMC_EVIDENCE_UNKNOWN') ? 404 : 400).send({ code: error.code, message: error.message });
        throw error;
      }
    },
  );
  return Promise.resolve();
};
