/**
 * The commands API, a fastify plugin: `GET /api/commands` (any logged-in caller) answers each
 * post's current watchlist and model versions (from its latest answer) and the latest watchlist
 * and model commands with their progress (applied / refused / waiting; evidence requests are
 * listed by vmc/evidence/evidence-routes.ts, not here); `POST /api/commands/watchlist` and
 * `POST /api/commands/model` (admins) sign and send one. The signing key stays in the server
 * (`vmc --command-key PEM`): the browser never sees it; without it the POSTs answer 503.
 */
import type { KeyObject } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import type { Clock } from '../../core/clock.js';
import { isGatewayError } from '../../core/errors.js';
import type { VmcStore } from '../store/vmc-store.js';
import { sendCommand, watchlistFromText, type Broker } from './send-command.js';
import { ID_PATTERN } from '../../core/identifiers.js';

export interface CommandSender {
  key: KeyObject;
  broker: Broker;
  clock: Clock;
}

export interface CommandRoutesOptions {
  store: VmcStore;
  /** Null: this instance has no command key; it shows commands but sends none. */
  sender: CommandSender | null;
}

/** What this view follows: the rollouts, not the (many, small) evidence requests. */
const ROLLOUT_KINDS = ['watchlist.update', 'model.rollout'] as const;
const POSTS = { type: 'array', minItems: 1, maxItems: 1000, uniqueItems: true, items: { type: 'string', pattern: ID_PATTERN.source } } as const;
const VERSION = { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER } as const;
/** A watchlist of 100 000 plates, or a model of ~3 MB in base64. */
const COMMAND_BODY_LIMIT = 4 * 1024 * 1024;

export const commandRoutes: FastifyPluginAsync<CommandRoutesOptions> = (app, { store, sender }) => {
  app.get('/api/commands', async () => ({
    canSend: sender !== null,
    posts: await store.commands.postVersions(),
    commands: await store.commands.progress(50, ROLLOUT_KINDS),
  }));

  const send = async (caller: string, kind: 'watchlist.update' | 'model.rollout', content: { payload: Record<string, unknown>; summary: string }, posts: string[], version: number | undefined) => {
    if (!sender) return { status: 503, body: { code: 'GW_ERR_VMC_NO_COMMAND_KEY', message: 'this VMC instance has no command key (vmc --command-key PEM)' } };
    try {
      const { command, topics } = await sendCommand(store.commands, sender.broker, sender.key, { kind, ...content, postIds: posts, ...(version !== undefined ? { version } : {}), issuedBy: caller }, sender.clock);
      return { status: 201, body: { commandId: command.commandId, kind, version: command.version, topics } };
    } catch (error) {
      if (isGatewayError(error)) return { status: 400, body: { code: error.code, message: error.message } };
      throw error;
    }
  };

  app.post<{ Body: { plates: string; posts: string[]; version?: number; clear?: boolean } }>(
    '/api/commands/watchlist',
    {
      config: { vmcAccess: 'admin' },
      bodyLimit: COMMAND_BODY_LIMIT,
      schema: { body: { type: 'object', additionalProperties: false, required: ['plates', 'posts'], properties: { plates: { type: 'string', maxLength: COMMAND_BODY_LIMIT }, posts: POSTS, version: VERSION, clear: { type: 'boolean' } } } },
    },
    async (request, reply) => {
      let content;
      try {
        content = await watchlistFromText(request.body.plates, request.body.clear ?? false);
      } catch (error) {
        if (!isGatewayError(error)) throw error;
        return reply.code(400).send({ code: error.code, message: error.message });
      }
      const answer = await send(`user:${request.caller?.name ?? '?'}`, 'watchlist.update', content, request.body.posts, request.body.version);
      return reply.code(answer.status).send(answer.body);
    },
  );

  app.post<{ Body: { manifest: Record<string, unknown>; onnxBase64: string; posts: string[]; version?: number } }>(
    '/api/commands/model',
    {
      config: { vmcAccess: 'admin' },
      bodyLimit: COMMAND_BODY_LIMIT,
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['manifest', 'onnxBase64', 'posts'],
          properties: { manifest: { type: 'object', maxProperties: 32 }, onnxBase64: { type: 'string', maxLength: COMMAND_BODY_LIMIT }, posts: POSTS, version: VERSION },
        },
      },
    },
    async (request, reply) => {
      const { manifest, onnxBase64 } = request.body;
      const answer = await send(`user:${request.caller?.name ?? '?'}`, 'model.rollout', { payload: { manifest, onnxBase64 }, summary: `${String(manifest.kind)} ${String(manifest.version)}` }, request.body.posts, request.body.version);
      return reply.code(answer.status).send(answer.body);
    },
  );
  return Promise.resolve();
};
