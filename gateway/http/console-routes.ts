/**
 * The lane console's files, served from the package (`dist/console/`, where Vite writes them): no
 * CDN, so the console works with the uplink down. `GET /` is index.html, `/assets/*` the bundles
 * (content-hashed names: cached for a year), and any other GET outside `/api/` index.html again,
 * for the console's own routes. These files are the only public routes besides login and the
 * health probe: they hold no data, and the console logs in through the API.
 *
 * Every page carries a Content-Security-Policy that allows only the gateway's own origin (no
 * inline script; inline styles for the chart library), so an injected plate or reason can never
 * run as script, no frame may embed the console (clickjacking at a booth), no injected `<base>`
 * can point the bundle's relative URLs elsewhere, and no injected form can post off the gateway.
 *
 * Not built (a source checkout before `npm run build`): the pages answer 503
 * GW_ERR_CONSOLE_NOT_BUILT, and the API works as before. Whether it is built is looked up at
 * start, and again only while it is not (a page request then checks, so a console built while
 * the gateway runs is served at once) or when serving the page finds index.html gone.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { PACKAGE_ROOT } from '../../core/package-info.js';

export const CONSOLE_DIR = join(PACKAGE_ROOT, 'dist', 'console');

export const CONSOLE_CSP = "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

export interface ConsoleRoutesOptions {
  /** Where the built console is. Default: `dist/console` of the package. */
  root?: string;
}

function securityHeaders(reply: FastifyReply): FastifyReply {
  return reply.header('content-security-policy', CONSOLE_CSP).header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer').header('x-frame-options', 'DENY');
}

export const consoleRoutes: FastifyPluginAsync<ConsoleRoutesOptions> = async (app, options) => {
  const root = options.root ?? CONSOLE_DIR;
  const indexPath = join(root, 'index.html');
  const assetsDir = join(root, 'assets');
  // No `root` here: @fastify/static would warn at every start of a checkout not yet built; each
  // sendFile names it instead, and `serve: false` leaves the routes (and their access) to us.
  await app.register(fastifyStatic, { serve: false });

  // Checked once here, and then only while the console is missing: no file system call per page.
  let built = existsSync(indexPath);
  const notBuilt = { code: 'GW_ERR_CONSOLE_NOT_BUILT', message: `the lane console is not built (${indexPath} is missing); run npm run build. The API under /api/ works.` };

  const page = (reply: FastifyReply): FastifyReply => {
    // Built while the gateway runs (development): served from the first request that finds it.
    built ||= existsSync(indexPath);
    if (!built) return reply.code(503).send(notBuilt);
    // The page names the current bundles: always asked again (a 304 when unchanged).
    return securityHeaders(reply).header('cache-control', 'no-cache').sendFile('index.html', root, { cacheControl: false });
  };

  /**
   * index.html gone since it was found (a rebuild empties the folder first): @fastify/static
   * answers through the not-found handler, whose reply still passes the route's own onSend
   * (fastify's four-oh-four.js keeps it for callNotFound). That reply becomes the 503 it always
   * was, and the next request looks for the file again.
   */
  const pageGone = (_request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> => {
    if (reply.statusCode !== 404) return Promise.resolve(payload);
    built = false;
    reply.code(503).header('content-type', 'application/json; charset=utf-8');
    return Promise.resolve(JSON.stringify(notBuilt));
  };

  const pageRoute = { config: { access: 'public' as const }, onSend: pageGone };
  app.get('/', pageRoute, (_request, reply) => page(reply));

  app.get<{ Params: { '*': string } }>('/assets/*', { config: { access: 'public', files: true } }, (request, reply) =>
    // Path traversal and dotfiles are refused by `send` (403, GW_ERR_HTTP_PATH_REFUSED through
    // error-replies.ts) before any file is opened; a file not there is 404 GW_ERR_HTTP_NOT_FOUND.
    // Vite names each bundle after its content, so a name never changes meaning: a year, immutable
    // (set by `send` on a file found only, never on a 404).
    // The root is assets/ itself, not the console's folder: `..%2findex.html` must not reach the
    // page (or anything else beside assets/) with a year's immutable cache.
    securityHeaders(reply).sendFile(request.params['*'], assetsDir, { maxAge: '365d', immutable: true, dotfiles: 'deny', index: false }),
  );

  // The console's own paths (e.g. /lanes/lane-1 reloaded in the browser) are its page.
  app.get('/*', pageRoute, (_request, reply) => page(reply));

  // …but not the API's: an unknown API path is still answered as before — 401 to the unknown
  // caller (nobody unauthenticated can map the routes), 404 to a signed-in one.
  app.get('/api/*', { config: { access: 'session.own' } }, (request, reply) =>
    reply.code(404).send({ code: 'GW_ERR_HTTP_NOT_FOUND', message: `no route GET ${request.url.split('?')[0] ?? ''}` }),
  );
};
