/**
 * Requests that change something are refused at once, before their body is read or anything is
 * applied, while the gateway's database is locked by another connection (an sqlite3 shell left in
 * a transaction): 503 GW_ERR_OUTBOX_LOCKED with Retry-After (error-replies.ts). Each such request
 * answers only once its events are stored (an operator's action with its audit entry, a device's
 * push); under the lock the outbox keeps commits waiting in memory (sqlite-outbox.ts), so the
 * caller would hear nothing until the lock ends. Refused before any change, the retry the 503
 * invites applies the request once; an answer timed out after the change was applied would make
 * the retry apply it twice (a second arrival, a second audit entry).
 *
 * Registered after the auth plugin: callers without credentials hear 401, not the lock.
 */
import type { FastifyPluginAsync } from 'fastify';
import fastifyPlugin from 'fastify-plugin';

/** Methods that change nothing; the rest may. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface RefuseWhileLockedOptions {
  /** Throws GW_ERR_OUTBOX_LOCKED while a commit would wait for another connection's lock (SqliteOutbox.refuseWhileLocked). */
  check: (what: string) => void;
  /**
   * Close the connection with the refusal (the device listener: a push's body, up to 48 MiB for a
   * scanner, is then neither read nor drained).
   */
  closeConnection?: boolean;
}

const plugin: FastifyPluginAsync<RefuseWhileLockedOptions> = (app, options) => {
  app.addHook('onRequest', async (request, reply) => {
    if (SAFE_METHODS.has(request.method)) return;
    try {
      options.check(`${request.method} ${request.routeOptions.url ?? request.url.split('?')[0] ?? ''}`);
    } catch (error) {
      if (options.closeConnection) void reply.header('connection', 'close');
      throw error;
    }
  });
  return Promise.resolve();
};

/** Applies to every route of the app it is registered on (not encapsulated). */
export const refuseWhileLocked = fastifyPlugin(plugin, { name: 'border-gateway-refuse-while-locked', dependencies: ['border-gateway-auth'] });
