/**
 * One shape for every refusal, `{code, message}` with a stable code (docs/errors.md): schema
 * failures 400, bodies over the route's limit 413, a refused workflow step 409, unknown paths 404
 * (reached only by authenticated callers), a file route's refused path 403, an action the outbox
 * could not record 503 with the outbox's code, a device's push past its budget 503 and past its
 * deadline 408 (push-body.ts), anything unexpected 500 with the detail kept in the log.
 */
import type { FastifyError, FastifyPluginAsync } from 'fastify';
import fastifyPlugin from 'fastify-plugin';
import { isGatewayError } from '../../core/errors.js';
import { PasswordCheckBusy } from '../../core/passwords.js';
import { LOCKED_RETRY_AFTER_SEC } from '../storage/without-waiting.js';
import { WorkflowError } from '../workflow/lane-workflow.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The route serves files with @fastify/static (console-routes.ts): its 403 is `send` refusing
     * the path (out of the folder, a dotfile), answered GW_ERR_HTTP_PATH_REFUSED.
     */
    files?: boolean;
  }
}

const plugin: FastifyPluginAsync = (app) => {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof WorkflowError) return reply.code(409).send({ code: 'GW_ERR_WORKFLOW_STEP', message: error.message });
    if (error.validation) return reply.code(400).send({ code: 'GW_ERR_HTTP_BAD_REQUEST', message: `${error.validationContext ?? 'request'}${error.message.replace(/^(body|params|querystring)/, '')}` });
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reply.code(413).send({ code: 'GW_ERR_HTTP_TOO_LARGE', message: error.message });
    // Every route that hashes a password (login, password changes, accounts): too many at once.
    if (error instanceof PasswordCheckBusy) return reply.code(503).header('retry-after', '1').send({ code: 'GW_ERR_AUTH_THROTTLED', message: 'too many password checks at once; try again in a second' });
    if (isGatewayError(error) && error.code === 'GW_ERR_AUTH_ACCOUNT') return reply.code(400).send({ code: error.code, message: error.message });
    // A push refused while its body still comes: the connection goes with the answer, so the rest
    // of the body is neither read nor held.
    if (isGatewayError(error, 'GW_ERR_PUSH_BUSY')) return reply.code(503).header('retry-after', '1').header('connection', 'close').send({ code: error.code, message: error.message });
    if (isGatewayError(error, 'GW_ERR_PUSH_TIMEOUT')) return reply.code(408).header('connection', 'close').send({ code: error.code, message: error.message });
    if (isGatewayError(error) && (error.code.startsWith('GW_ERR_OUTBOX_') || error.code === 'GW_ERR_EVENT_TOO_LARGE')) {
      // The outbox could not store the action's event and audit entry (disk full, bound reached).
      // Another connection's lock passes when it ends its transaction: the caller may try again.
      if (error.code === 'GW_ERR_OUTBOX_LOCKED') void reply.header('retry-after', String(LOCKED_RETRY_AFTER_SEC));
      return reply.code(503).send({ code: error.code, message: `not recorded: ${error.message}` });
    }
    if (error.statusCode === 403 && request.routeOptions.config.files === true) {
      return reply.code(403).send({ code: 'GW_ERR_HTTP_PATH_REFUSED', message: `path refused: ${request.url.split('?')[0] ?? ''} leaves its folder or names a dotfile` });
    }
    if (error.statusCode === 404) return reply.code(404).send({ code: 'GW_ERR_HTTP_NOT_FOUND', message: `not found: ${request.method} ${request.url.split('?')[0] ?? ''}` });
    if (error.code === 'GW_ERR_HTTP_BAD_REQUEST' || (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500)) {
      return reply.code(error.statusCode ?? 400).send({ code: 'GW_ERR_HTTP_BAD_REQUEST', message: error.message });
    }
    request.log.error({ err: error }, 'request failed');
    return reply.code(500).send({ code: 'GW_ERR_HTTP_INTERNAL', message: 'the request failed inside the gateway; see its log' });
  });
  app.setNotFoundHandler((request, reply) => reply.code(404).send({ code: 'GW_ERR_HTTP_NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0] ?? ''}` }));
  return Promise.resolve();
};

export const errorReplies = fastifyPlugin(plugin, { name: 'border-gateway-error-replies' });
