/**
 * JSON bodies nested deeper than `maxDepth` are refused before they are parsed: 400 with
 * GW_ERR_HTTP_BAD_REQUEST (the app's error handler answers it), the connection closed as for any
 * body the parser refuses. JSON.parse copes with any depth, but what walks the result recursively
 * does not: a model manifest of 20,000 nested arrays sent to the VMC's `POST /api/commands/model`
 * passed the route's schema (a manifest's `quality` is free-form) and overflowed the stack where
 * the command is serialised to be signed (core/canonical-json.ts): a 500. The depth is counted in
 * one pass over the text, stopping at the bound (jsonDepth); the text is then parsed by fastify's
 * own parser, with its guard against `__proto__` and `constructor` keys.
 */
import type { FastifyPluginCallback } from 'fastify';
import fastifyPlugin from 'fastify-plugin';
import { jsonDepth } from './canonical-json.js';
import { GatewayError } from './errors.js';

export interface JsonBodyDepthOptions {
  /** Deepest nesting of arrays and objects accepted. */
  maxDepth: number;
}

const plugin: FastifyPluginCallback<JsonBodyDepthOptions> = (app, { maxDepth }, done) => {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, parsed) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (jsonDepth(text, maxDepth) > maxDepth) return parsed(new GatewayError('GW_ERR_HTTP_BAD_REQUEST', `the body is nested deeper than ${maxDepth}`), undefined);
    void parse(request, text, parsed);
  });
  done();
};

export const jsonBodyDepth = fastifyPlugin(plugin, { name: 'border-gateway-json-body-depth' });
