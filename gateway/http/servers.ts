/**
 * The gateway's two HTTP listeners, each a fastify app built from plugins:
 * - operators (`http.host:port`): the lane console's pages, login, the lane API with its live
 *   stream, pictures and TRS day, admin routes, /healthz and /metrics;
 * - devices (`devicePush.host:port`): the push paths of cameras and scanners, nothing else, so a
 *   device on the device LAN never reaches the operators' routes and the other way round.
 * Both authenticate in one onRequest hook before any body is read (auth-plugin.ts), bound every
 * body per route, close a connection whose body was not read (core/close-unread.ts), and time out
 * slow requests (a slow-loris client holds a socket, never the loop).
 */
import { readFileSync } from 'node:fs';
import fastifyCookie from '@fastify/cookie';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify';
import type { Logger } from 'pino';
import { createSecureContext } from 'node:tls';
import { resolveListenerKey } from '../../config/secrets.js';
import type { SecretRef } from '../../config/schema.js';
import { GatewayError } from '../../core/errors.js';
import type { AccountStore } from '../auth/account-store.js';
import type { AuditLog } from '../auth/audit-log.js';
import type { LoginThrottle } from '../../core/login-throttle.js';
import type { SessionStore } from '../auth/sessions.js';
import type { GatewayMetrics } from '../metrics.js';
import { laneRoutes, type LaneApiDeps } from '../workflow/lane-routes.js';
import { adminRoutes, type AdminRoutesOptions } from './admin-routes.js';
import { apiHeaders } from '../../core/api-headers.js';
import { closeUnread } from '../../core/close-unread.js';
import { authPlugin } from './auth-plugin.js';
import { errorReplies } from './error-replies.js';
import { expectContinue } from './expect-continue.js';
import { healthRoutes, type HealthReport } from './health-routes.js';
import { sessionRoutes } from './session-routes.js';
import { consoleRoutes } from './console-routes.js';
import { imageRoutes } from './image-routes.js';
import { liveRoutes, type LiveRoutesOptions } from './live-routes.js';
import { trsRoutes } from '../trs/trs-routes.js';
import type { CrossingLog } from '../trs/crossing-log.js';
import { systemClock, type Clock } from '../../core/clock.js';
import type { PushBody } from '../../drivers/push-driver.js';
import { pushSlots } from './push-slots.js';
import { acceptPushBodies, pushDeadlineMs, streamPushBodies } from './push-body.js';
import { refuseWhileLocked, type RefuseWhileLockedOptions } from './refuse-while-locked.js';
import { DEFAULT_CONNECTION_LIMITS, limitConnections } from '../../core/connection-limits.js';

/** The lane API and login bodies are small: 64 KiB bounds every one of them with room to spare. */
export const API_BODY_LIMIT = 64 * 1024;

export interface HttpsFiles {
  cert: string;
  key: SecretRef;
}

/** A device push endpoint (camera or scanner POSTing to a configured path). */
export type PushHandler = (contentType: string | undefined, body: PushBody) => Promise<{ status: number; body: string }>;

export interface PushRoute {
  path: string;
  deviceId: string;
  /** Largest body this device may send. */
  bodyLimit: number;
  /** Handed to the driver as it arrives (PushChunks) rather than whole: an X-ray scan's image. */
  streamed: boolean;
}

export interface ListeningApp {
  app: FastifyInstance;
  address: { host: string; port: number };
  /** `http` or `https`. */
  scheme: string;
}

/** A whole request (headers and body) within this long, on the operators' listener and by default. */
const REQUEST_TIMEOUT_MS = 30_000;

function baseOptions(logger: Logger, https: HttpsFiles | undefined, where: string, bodyLimit: number): FastifyServerOptions & { https?: { cert: Buffer; key: Buffer } } {
  const options: FastifyServerOptions & { https?: { cert: Buffer; key: Buffer } } = {
    loggerInstance: logger,
    // Requests are not logged one by one (the simulator polls); refusals and failures are.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit,
    // A whole request (headers and body) within 30 s: a client that trickles holds one socket
    // until then, never the event loop.
    requestTimeout: REQUEST_TIMEOUT_MS,
    connectionTimeout: 60_000,
    keepAliveTimeout: 10_000,
    routerOptions: { maxParamLength: 128 },
    return503OnClosing: true,
    // A URL that does not decode (`/assets/%E0%A4%A`) is refused before routing, where fastify
    // would answer in its own shape: ours, with a stable code.
    frameworkErrors: (error, _request, reply) => void (reply as FastifyReply).code(400).send({ code: 'GW_ERR_HTTP_BAD_REQUEST', message: error.message }),
    // Strict: no type coercion, no silently removed keys, the first problem only.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false, useDefaults: false } },
  };
  if (https) {
    try {
      options.https = { cert: readFileSync(https.cert), key: typeof https.key === 'object' && 'file' in https.key ? readFileSync(https.key.file) : Buffer.from(resolveListenerKey(https.key, `${where}.tls.key`)) };
      // A file that is no certificate or key is said here, with its place in the configuration,
      // not as OpenSSL's stack trace from inside fastify.
      createSecureContext(options.https);
    } catch (error) {
      throw new GatewayError('GW_ERR_CONFIG_SECRET', `${where}.tls: cannot read the certificate or key: ${(error as Error).message}`, { cause: error });
    }
  }
  return options;
}

export interface OperatorAppOptions {
  logger: Logger;
  https?: HttpsFiles | undefined;
  accounts: AccountStore;
  sessions: SessionStore;
  throttle: LoginThrottle;
  audit: AuditLog;
  metrics: GatewayMetrics;
  health: () => HealthReport;
  laneDeps: () => LaneApiDeps | null;
  reloadModels: AdminRoutesOptions['reloadModels'];
  recordAction: AdminRoutesOptions['recordAction'];
  /** The gateway's clock (live stream pace and pings). Default: the system clock. */
  clock?: Clock;
  /** Completed crossings for GET /api/trs; without it the route is not served. */
  crossingLog?: CrossingLog;
  /** The post's clock now (what "today" is for GET /api/trs). Default: `clock`. */
  postNow?: () => number;
  /** The post's offset from UTC in minutes, where its TRS days begin. Default 0. */
  utcOffsetMin?: number;
  /** Where the built console is (tests). Default: the package's `dist/console`. */
  consoleRoot?: string;
  liveLimits?: LiveRoutesOptions['limits'];
  /** Refuses state-changing requests while the database is locked by another connection (refuse-while-locked.ts). */
  refuseWhileLocked?: RefuseWhileLockedOptions['check'];
}

/** The operators' app, routes registered, not yet listening (tests use `app.inject()`). */
export async function buildOperatorApp(options: OperatorAppOptions): Promise<FastifyInstance> {
  const app = Fastify(baseOptions(options.logger, options.https, 'http', API_BODY_LIMIT));
  await app.register(fastifyCookie);
  await app.register(apiHeaders);
  await app.register(closeUnread);
  await app.register(errorReplies);
  await app.register(expectContinue);
  await app.register(authPlugin, { accounts: options.accounts, sessions: options.sessions, realm: 'border-gateway' });
  if (options.refuseWhileLocked) await app.register(refuseWhileLocked, { check: options.refuseWhileLocked });
  await app.register(healthRoutes, { metrics: options.metrics, health: options.health });
  await app.register(sessionRoutes, { accounts: options.accounts, sessions: options.sessions, throttle: options.throttle, audit: options.audit, secureCookies: options.https !== undefined });
  await app.register(laneRoutes, { deps: options.laneDeps });
  await app.register(adminRoutes, { accounts: options.accounts, sessions: options.sessions, audit: options.audit, reloadModels: options.reloadModels, recordAction: options.recordAction });
  const clock = options.clock ?? systemClock;
  await app.register(liveRoutes, { deps: options.laneDeps, sessions: options.sessions, accounts: options.accounts, clock, ...(options.liveLimits ? { limits: options.liveLimits } : {}) });
  await app.register(imageRoutes, { deps: options.laneDeps });
  if (options.crossingLog) await app.register(trsRoutes, { log: options.crossingLog, now: options.postNow ?? (() => clock.now()), utcOffsetMin: options.utcOffsetMin ?? 0 });
  await app.register(consoleRoutes, options.consoleRoot === undefined ? {} : { root: options.consoleRoot });
  await app.ready();
  return app;
}

export interface DeviceAppOptions {
  logger: Logger;
  https?: HttpsFiles | undefined;
  accounts: AccountStore;
  routes: PushRoute[];
  /** Looked up per request: a device's driver registers its handler after the listener starts. */
  handler: (path: string) => PushHandler | undefined;
  /** Camera pushes handled at once (push-slots.ts); a scanner's streamed push is not counted. */
  maxConcurrentPushes: number;
  /** Times each push's deadline (push-body.ts). Default: the system clock. */
  clock?: Clock;
  /** Refuses pushes while the database is locked by another connection (refuse-while-locked.ts). */
  refuseWhileLocked?: RefuseWhileLockedOptions['check'];
}

/**
 * How long the device listener gives one request: its largest route's push deadline
 * (pushDeadlineMs: a scanner's 48 MiB, 101 s), the bound of a scanner's streamed push, which holds
 * a socket and a file, not memory. A camera's push is held to its own route's deadline as it is
 * read (push-body.ts); a caller without credentials is refused at its headers, which Node bounds
 * on its own.
 */
export function devicePushTimeoutMs(routes: PushRoute[]): number {
  return pushDeadlineMs(Math.max(0, ...routes.map((route) => route.bodyLimit)));
}

/** The devices' app: one POST route per configured push path, each for its own device's client. */
export async function buildDeviceApp(options: DeviceAppOptions): Promise<FastifyInstance> {
  const whole = options.routes.filter((route) => !route.streamed);
  const largest = Math.max(API_BODY_LIMIT, ...whole.map((route) => route.bodyLimit));
  const app = Fastify({ ...baseOptions(options.logger, options.https, 'devicePush', largest), requestTimeout: devicePushTimeoutMs(options.routes) });
  await app.register(fastifyCookie);
  await app.register(closeUnread);
  await app.register(errorReplies);
  await app.register(expectContinue);
  await app.register(authPlugin, { accounts: options.accounts, sessions: null, realm: 'border-gateway-devices' });
  if (options.refuseWhileLocked) await app.register(refuseWhileLocked, { check: options.refuseWhileLocked, closeConnection: true });
  const addRoute = (scope: FastifyInstance, route: PushRoute): void => {
    scope.post(route.path, { config: { access: 'device.push', deviceId: route.deviceId }, bodyLimit: route.bodyLimit }, async (request, reply) => {
      const handler = options.handler(route.path);
      if (!handler) return reply.code(503).type('text/plain').send('device input not started');
      const body = (request.body as PushBody | undefined) ?? Buffer.alloc(0);
      const answer = await handler(request.headers['content-type'], body);
      return reply.code(answer.status).type('text/plain').send(answer.body);
    });
  };
  // Camera pushes are multipart or XML with pictures: each reaches its driver as bytes, within its
  // limit, in memory once, its device's pushes within twice its limit and its deadline (push-body.ts).
  acceptPushBodies(app, options.clock ?? systemClock);
  await app.register(async (scope) => {
    await scope.register(pushSlots, { maxConcurrent: options.maxConcurrentPushes });
    for (const route of whole) addRoute(scope, route);
  });
  // A scanner's push (up to 48 MiB) reaches its driver as it arrives and goes to disk from there:
  // in a scope of its own, whose content type parser hands on the stream (push-body.ts).
  await app.register((scope, _options, done) => {
    streamPushBodies(scope);
    for (const route of options.routes.filter((r) => r.streamed)) addRoute(scope, route);
    done();
  });
  await app.ready();
  return app;
}

export async function listen(app: FastifyInstance, host: string, port: number, https: boolean): Promise<ListeningApp> {
  // Before listening: no socket is ever accepted unbounded (core/connection-limits.ts).
  limitConnections(app.server, DEFAULT_CONNECTION_LIMITS, app.log);
  try {
    await app.listen({ host, port });
  } catch (error) {
    throw new GatewayError('GW_ERR_HTTP_LISTEN', `cannot listen on ${host}:${port}: ${String(error)}`, { cause: error });
  }
  const address = app.server.address();
  return { app, address: { host, port: typeof address === 'object' && address ? address.port : port }, scheme: https ? 'https' : 'http' };
}
