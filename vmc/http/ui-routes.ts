/**
 * The dashboards' files (dist/vmc-ui, built by `npm run build` from ui/vmc/)
 * at `/`, public like any web page (the data behind them needs a session), under a
 * `default-src 'self'` policy: no inline script, no CDN. Without a build, `/` says how to make one.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';
import { PACKAGE_ROOT } from '../../core/package-info.js';

export const DEFAULT_UI_DIR = join(PACKAGE_ROOT, 'dist', 'vmc-ui');

const POLICY = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

export const uiRoutes: FastifyPluginAsync<{ dir: string }> = async (app, { dir }) => {
  app.addHook('onSend', async (_request, reply) => {
    reply.header('content-security-policy', POLICY).header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer');
  });
  if (!existsSync(join(dir, 'index.html'))) {
    app.get('/', { config: { vmcAccess: 'public' } }, (_request, reply) =>
      reply.type('text/plain').send('The dashboards are not built: npm run build (the API is at /api).\n'),
    );
    return;
  }
  // The files are the public page (the login form among them); only this plugin's routes are
  // marked so, and @fastify/static takes no route config of its own.
  app.addHook('onRoute', (route) => {
    route.config = { ...route.config, vmcAccess: 'public' };
  });
  await app.register(fastifyStatic, { root: dir, prefix: '/', index: ['index.html'], wildcard: false, serveDotFiles: false });
};
