/**
 * `GET /api/images/sha256:<hex>` (`lanes.read`): a picture the post holds by its digest — an entry
 * camera's snapshot of a plate read, a thumbnail of a scan — with its own content type, from memory
 * or from the evidence store on disk. The reference names the bytes,
 * so an answer never changes and may be cached; privately only, as it shows a vehicle and maybe
 * its driver. Unknown or dropped pictures are 404 GW_ERR_IMAGE_NOT_FOUND; 503 GW_ERR_IMAGE_BUSY when
 * the pictures being read or sent already hold the console's budget (LaneConsole.pictureBytes), or
 * the caller's account its share of it: an answer holds its picture's bytes until the socket has
 * taken them, and clients that ask and never read would otherwise make the gateway hold a copy for
 * each of them.
 */
import type { FastifyPluginAsync } from 'fastify';
import { isGatewayError } from '../../core/errors.js';
import { releaseWhenSent } from '../../core/bytes-in-flight.js';
import type { Actor } from '../auth/roles.js';
import type { HeldPicture } from '../workflow/lane-console.js';
import type { LaneApiDeps } from '../workflow/lane-routes.js';

export interface ImageRoutesOptions {
  deps: () => LaneApiDeps | null;
}

/** Types a held picture may be served as; anything else goes out as bytes, never as markup. */
const IMAGE_TYPES = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp', 'image/bmp']);

export const imageRoutes: FastifyPluginAsync<ImageRoutesOptions> = (app, options) => {
  app.get<{ Params: { ref: string } }>(
    '/api/images/:ref',
    { config: { access: 'lanes.read' }, schema: { params: { type: 'object', required: ['ref'], properties: { ref: { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' } } } } },
    async (request, reply) => {
      let image: HeldPicture | null;
      try {
        image = (await options.deps()?.console.picture(request.params.ref, (request.actor as Actor).id)) ?? null;
      } catch (error) {
        if (!isGatewayError(error, 'GW_ERR_IMAGE_BUSY')) throw error;
        return reply.code(503).header('retry-after', '1').send({ code: error.code, message: error.message });
      }
      if (!image) return reply.code(404).send({ code: 'GW_ERR_IMAGE_NOT_FOUND', message: `no picture ${request.params.ref} is held (never stored, or dropped since)` });
      releaseWhenSent(reply.raw, image.reservation);
      const type = image.contentType.split(';')[0]?.trim().toLowerCase() ?? '';
      return reply
        .header('content-type', IMAGE_TYPES.has(type) ? type : 'application/octet-stream')
        .header('cache-control', 'private, max-age=86400, immutable')
        .header('x-content-type-options', 'nosniff')
        .header('content-security-policy', "default-src 'none'; sandbox")
        .send(image.body);
    },
  );
  return Promise.resolve();
};
