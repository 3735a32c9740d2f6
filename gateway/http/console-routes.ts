/**
 * The lane console's files, served from the package (`dist/console/`, where Vite writes them): no
 * CDN, so the console works with the uplink down. `GET /` is index.html, `/assets/*` the bundles
 * (content-hashed names: cached for a year), and any other GET outside `/api/` index.html again,
 * for the console's own routes. These files are the only public routes besides login and the
 * health probe: they hold no data, and the console logs in through the API.
 *
 * Every page carries a Content-Security-Policy that allows only the gateway's own origin (no
 * inline script; inline styles for the chart library), so an injected plate or reason can never
 * run as script, and no frame may embed the console (clickjacking at a booth).
 *
 * Not built (a source checkout before `npm run build`): the pages answer 503
 * GW_ERR_CONSOLE_NOT_BUILT, and the API works as before.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { PACKAGE_ROOT } from '../../core/package-info.js';

export const CONSOLE_DIR = join(PACKAGE_ROOT, 'dist', 'console');

export const CONSOLE_CSP = "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'";

export interface ConsoleRoutesOptions {
  /** Where the built console is. Default: `dist/console` of the package. */
  root?: string;
}

function securityHeaders(reply: FastifyReply): FastifyReply {
  return reply.header('content-security-policy', CONSOLE_CSP).header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer').header('x-frame-options', 'DENY');
}

export const consoleRoutes: FastifyPluginAsync<ConsoleRoutesOptions> = async (app, options) => {
  const root = options.root ?? CONSOLE_DIR;
  // No `root` here: @fastify/static would warn at every start of a checkout not yet built; each
  // sendFile names it instead, and `serve: false` leaves the routes (and their access) to us.
  await app.register(fastifyStatic, { serve: false });

  const page = (reply: FastifyReply): FastifyReply => {
    // Looked up per request: the console may be built while the gateway runs (development).
    if (!existsSync(join(root, 'index.html'))) {
      return reply.code(503).send({ code: 'GW_ERR_CONSOLE_NOT_BUILT', message: `the lane console is not built (${join(root, 'index.html')} is missing); run npm run build. The API under /api/ works.` });
    }
    // The page names the current bundles: always asked again (a 304 when unchanged).
    return securityHeaders(reply).header('cache-control', 'no-cache').sendFile('index.html', root, { cacheControl: false });
  };

  app.get('/', { config: { access: 'public' } }, (_request, reply) => page(reply));

  app.get<{ Params: { '*': string } }>('/assets/*', { config: { access: 'public' } }, (request, reply) =>
    // Path traversal and dotfiles are refused by `send` (403/404) before any file is opened.
    // Vite names each bundle after its content, so a name never changes meaning: a year, immutable
    // (set by `send` on a file found only, never on a 404).
    securityHeaders(reply).sendFile(`assets/${request.params['*']}`, root, { maxAge: '365d', immutable: true, dotfiles: 'deny', index: false }),
  );

  // The console's own paths (e.g. /lanes/lane-1 reloaded in the browser) are its page.
  app.get('/*', { config: { access: 'public' } }, (_request, reply) => page(reply));

  // …but not the API's: an unknown API path is still answered as before — 401 to the unknown
  // caller (nobody unauthenticated can map the routes), 404 to a signed-in one.
  app.get('/api/*', { config: { access: 'session.own' } }, (request, reply) =>
    reply.code(404).send({ code: 'GW_ERR_HTTP_NOT_FOUND', message: `no route GET ${request.url.split('?')[0] ?? ''}` }),
  );
};
