/**
 * `GET /api/live` (people with `lanes.read`): the console's live view as Server-Sent Events; the
 * stream itself is live-feed.ts. The reply is hijacked (fastify neither serialises nor ends it):
 * the headers are written here, the feed writes the events, and closing either side cleans up.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { AccountStore } from '../auth/account-store.js';
import type { SessionStore } from '../auth/sessions.js';
import type { Clock } from '../../core/clock.js';
import type { LaneApiDeps } from '../workflow/lane-routes.js';
import { LiveFeed, type LiveFeedOptions } from './live-feed.js';

export interface LiveRoutesOptions {
  deps: () => LaneApiDeps | null;
  sessions: SessionStore;
  accounts: AccountStore;
  clock: Clock;
  /** The feed's bounds and pace (live-feed.ts has the defaults). */
  limits?: Pick<LiveFeedOptions, 'minIntervalMs' | 'pingMs' | 'maxPerSession' | 'maxPerAccount' | 'maxStreams' | 'maxBufferedBytes'>;
}

export const liveRoutes: FastifyPluginAsync<LiveRoutesOptions> = (app, options) => {
  const feed = new LiveFeed({
    ...options.limits,
    clock: options.clock,
    source: () => options.deps()?.console ?? null,
    sessions: options.sessions,
    accounts: options.accounts,
    logger: app.log.child({ module: 'live' }),
  });
  // Before the server closes: it waits for open responses, and a stream ends only when told to.
  app.addHook('preClose', (done) => {
    feed.close();
    done();
  });

  // No HEAD twin: it would hold a stream open with nothing to show for it.
  app.get('/api/live', { config: { access: 'lanes.read' }, exposeHeadRoute: false }, (request, reply) => {
    const laneConsole = options.deps()?.console;
    if (!laneConsole) return reply.code(503).send({ code: 'GW_ERR_WORKFLOW_STEP', message: 'the lane workflow is not running' });
    // lanes.read is for people only: every caller here has a session.
    const own = request.session;
    if (!own) return reply.code(403).send({ code: 'GW_ERR_AUTH_FORBIDDEN', message: 'a live stream belongs to a person\'s session' });
    const refusal = feed.refusal(own.session);
    if (refusal) return reply.code(429).header('retry-after', '5').send({ code: 'GW_ERR_HTTP_TOO_MANY_STREAMS', message: refusal });
    reply.hijack();
    reply.raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      // A reverse proxy (nginx) would otherwise hold the events back in its buffer.
      'x-accel-buffering': 'no',
    });
    feed.open(reply.raw, own.token, own.session, laneConsole);
    return reply;
  });
  return Promise.resolve();
};
