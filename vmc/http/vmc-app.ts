/**
 * The VMC's HTTP API as fastify plugins: error replies in one shape (`{code, message}`, codes of
 * docs/errors.md), authentication in one `onRequest` hook (before any body is read), the session
 * routes, and the data routes. Every route names who may call it in its config (`vmcAccess`);
 * a route that names nothing needs a logged-in caller, so nothing is open by omission.
 */
import fastifyCookie from '@fastify/cookie';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Logger } from 'pino';
import type { Clock } from '../../core/clock.js';
import { isGatewayError } from '../../core/errors.js';
import { apiHeaders } from '../../core/api-headers.js';
import type { BytesInFlight } from '../../core/bytes-in-flight.js';
import { closeUnread } from '../../core/close-unread.js';
import { jsonBodyDepth } from '../../core/json-body-depth.js';
import { PasswordCheckBusy } from '../../core/passwords.js';
import type { VmcAuth } from '../vmc-auth.js';
import type { VmcRole, VmcStore } from '../store/vmc-store.js';
import { dataRoutes, type VmcStatusSource } from './data-routes.js';
import { sessionRoutes, SESSION_COOKIE } from './session-routes.js';
import { DEFAULT_UI_DIR, uiRoutes } from './ui-routes.js';
import { commandRoutes, type CommandSender } from '../commands/command-routes.js';
import { evidenceRoutes } from '../evidence/evidence-routes.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The logged-in caller; null on public routes. */
    caller: { name: string; role: VmcRole } | null;
    /** The session token the caller used (for logout). */
    sessionToken: string | null;
  }
  interface FastifyContextConfig {
    /** `public`, any logged-in caller (`analyst`, the default), or admins only. */
    vmcAccess?: 'public' | 'analyst' | 'admin';
  }
}

export interface VmcAppOptions {
  store: VmcStore;
  auth: VmcAuth;
  status: VmcStatusSource;
  /** Set the session cookie's Secure flag (behind TLS). Default false: the reference setup is plain HTTP on a private network. */
  secureCookie?: boolean;
  /** Where a request that failed inside the VMC (a 500) is logged, with its error. Default: nowhere (tests). */
  logger?: Logger;
  /** Signs and sends commands to the posts (`vmc --command-key`), evidence requests among them; null or absent: none sent. */
  commandSender?: CommandSender | null;
  /** The built dashboards (default dist/vmc-ui of the package); null for none. */
  uiDir?: string | null;
  /** The VMC's clock: "now" for a period not yet over when a query names no `asOf`. Default: the system clock. */
  clock?: Clock;
  /** What evidence answers hold at once (evidence-routes.ts). Default: a budget of EVIDENCE_BYTES_IN_FLIGHT, EVIDENCE_BYTES_PER_CALLER per account. */
  evidenceBytesInFlight?: BytesInFlight;
  /**
   * A connection on which nothing was received or sent for this long is closed: a client that
   * stopped reading its answer lets go of it then. Default CONNECTION_TIMEOUT_MS.
   */
  connectionTimeoutMs?: number;
}

/**
 * Deepest JSON body accepted. A model manifest nests 3 deep (a few more in its free-form
 * `quality`); the command that carries a body's manifest nests it one level deeper, and a post
 * refuses a command nested deeper than 64 (gateway/vmc-commands/verify-command.ts).
 */
export const MAX_BODY_DEPTH = 32;

/** 60 s without a byte either way closes a connection (fastify's connectionTimeout, Node's server.timeout). */
export const CONNECTION_TIMEOUT_MS = 60_000;

function bearer(header: string | undefined): string | null {
  if (!header || header.length > 512) return null;
  const match = /^Bearer +(\S+)$/i.exec(header);
  return match?.[1] ?? null;
}

export async function buildVmcApp(options: VmcAppOptions): Promise<FastifyInstance> {
  // Bodies here are logins and account forms: 16 KiB is plenty.
  const serverOptions: FastifyServerOptions = {
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
    // Requests are not logged one by one (dashboards poll); failures are, by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 16 * 1024,
    requestTimeout: 30_000,
    // requestTimeout ends once the request is in; an answer its client never reads would hold its
    // socket (and an evidence answer its copy) for as long as the client liked without this.
    connectionTimeout: options.connectionTimeoutMs ?? CONNECTION_TIMEOUT_MS,
    // An unknown query key is a 400, not silently dropped: a misspelt filter must not widen the answer.
    ajv: { customOptions: { removeAdditional: false } },
  };
  const app = Fastify(serverOptions);
  await app.register(fastifyCookie);
  // Every /api/ answer no-store and nosniff (a route caching on purpose, evidence, keeps its own).
  await app.register(apiHeaders);
  await app.register(closeUnread);
  await app.register(jsonBodyDepth, { maxDepth: MAX_BODY_DEPTH });
  app.decorateRequest('caller', null);
  app.decorateRequest('sessionToken', null);

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error.validation) return reply.code(400).send({ code: 'GW_ERR_HTTP_BAD_REQUEST', message: `${error.validationContext ?? 'request'}${error.message.replace(/^(body|params|querystring)/, '')}` });
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reply.code(413).send({ code: 'GW_ERR_HTTP_TOO_LARGE', message: error.message });
    // core/errors.ts has no code of its own for a body in another media type: the request does not match its route, as a 400's does.
    if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return reply.code(415).send({ code: 'GW_ERR_HTTP_BAD_REQUEST', message: `the body must be JSON (content-type: application/json), not ${request.headers['content-type']?.slice(0, 100) ?? 'untyped'}` });
    if (error instanceof PasswordCheckBusy) return reply.code(503).header('retry-after', '1').send({ code: 'GW_ERR_AUTH_THROTTLED', message: 'too many password checks at once; try again in a second' });
    if (isGatewayError(error, 'GW_ERR_AUTH_ACCOUNT') || isGatewayError(error, 'GW_ERR_HTTP_BAD_REQUEST')) return reply.code(400).send({ code: error.code, message: error.message });
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) return reply.code(error.statusCode).send({ code: 'GW_ERR_HTTP_BAD_REQUEST', message: error.message });
    request.log.error({ err: error }, 'request failed');
    return reply.code(500).send({ code: 'GW_ERR_HTTP_INTERNAL', message: 'the request failed inside the VMC; see its log' });
  });
  app.setNotFoundHandler((request, reply) => reply.code(404).send({ code: 'GW_ERR_HTTP_NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0] ?? ''}` }));

  app.addHook('onRequest', async (request, reply) => {
    const access = request.routeOptions.config?.vmcAccess ?? 'analyst';
    if (access === 'public') return;
    const token = bearer(request.headers.authorization) ?? request.cookies[SESSION_COOKIE] ?? null;
    const caller = token ? await options.auth.authenticate(token) : null;
    if (!caller) return reply.code(401).send({ code: 'GW_ERR_AUTH_REQUIRED', message: 'log in first: POST /api/login' });
    if (access === 'admin' && caller.role !== 'admin') return reply.code(403).send({ code: 'GW_ERR_AUTH_FORBIDDEN', message: 'admins only' });
    request.caller = caller;
    request.sessionToken = token;
  });

  await app.register(sessionRoutes, { auth: options.auth, store: options.store, secureCookie: options.secureCookie ?? false });
  await app.register(dataRoutes, { store: options.store, status: options.status, ...(options.clock ? { clock: options.clock } : {}) });
  await app.register(commandRoutes, { store: options.store, sender: options.commandSender ?? null });
  await app.register(evidenceRoutes, { store: options.store, sender: options.commandSender ?? null, ...(options.evidenceBytesInFlight ? { bytesInFlight: options.evidenceBytesInFlight } : {}) });
  if (options.uiDir !== null) await app.register(uiRoutes, { dir: options.uiDir ?? DEFAULT_UI_DIR });
  return app;
}
