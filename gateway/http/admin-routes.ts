/**
 * What admins and supervisors do beyond the lanes, as a fastify plugin: model reload and rollback
 * (admin), people's accounts (admin), the audit log and its verdict (supervisor, admin). Every
 * change is an `operator.action` written with its audit entry in one commit.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { AccountStore } from '../auth/account-store.js';
import type { AuditDraft, AuditLog } from '../auth/audit-log.js';
import { hashPassword, passwordProblem, PASSWORD_MAX_LENGTH } from '../../core/passwords.js';
import { PERSON_ROLES, type Actor } from '../auth/roles.js';
import type { SessionStore } from '../auth/sessions.js';
import { reasonSchema } from '../workflow/lane-routes.js';

export interface AdminRoutesOptions {
  accounts: AccountStore;
  sessions: SessionStore;
  audit: AuditLog;
  /** Emits an operator.action with its audit entry; resolves once both are stored. */
  recordAction: (draft: AuditDraft & { reason: string; apply?: () => void }) => Promise<void>;
  /** Null until the post runs; rollback loads an older model than the running one. */
  reloadModels: () => ((request: { requestedBy: Actor; rollback: boolean }) => Promise<Record<string, unknown>>) | null;
}

const nameSchema = { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' } as const;
const passwordSchema = { type: 'string', minLength: 1, maxLength: PASSWORD_MAX_LENGTH } as const;

export const adminRoutes: FastifyPluginAsync<AdminRoutesOptions> = (app, options) => {
  const actor = (request: { actor: Actor | null }): Actor => request.actor as Actor;

  app.post<{ Body: { rollback?: boolean; reason?: string } }>(
    '/api/models/reload',
    { config: { access: 'models.reload' }, schema: { body: { type: 'object', additionalProperties: false, properties: { rollback: { type: 'boolean' }, reason: reasonSchema } } } },
    async (request, reply) => {
      const reload = options.reloadModels();
      if (!reload) return reply.code(503).send({ code: 'GW_ERR_WORKFLOW_STEP', message: 'the lane workflow is not running' });
      const rollback = request.body?.rollback === true;
      const outcome = await reload({ requestedBy: actor(request), rollback });
      await options.recordAction({ actor: actor(request), action: rollback ? 'models.rollback' : 'models.reload', after: JSON.stringify(outcome).slice(0, 500), reason: request.body?.reason ?? (rollback ? 'model rollback' : 'model reload') });
      return outcome;
    },
  );

  app.get('/api/users', { config: { access: 'users.manage' } }, (_request, reply) => reply.send(options.accounts.accounts()));

  app.post<{ Body: { name: string; role: (typeof PERSON_ROLES)[number]; password: string; reason?: string } }>(
    '/api/users',
    {
      config: { access: 'users.manage' },
      bodyLimit: 4096,
      schema: { body: { type: 'object', additionalProperties: false, required: ['name', 'role', 'password'], properties: { name: nameSchema, role: { type: 'string', enum: PERSON_ROLES }, password: passwordSchema, reason: reasonSchema } } },
    },
    async (request, reply) => {
      const problem = passwordProblem(request.body.password);
      if (problem) return reply.code(400).send({ code: 'GW_ERR_AUTH_ACCOUNT', message: problem });
      if (options.accounts.account(request.body.name)) return reply.code(409).send({ code: 'GW_ERR_AUTH_ACCOUNT', message: `account "${request.body.name}" exists` });
      const hash = await hashPassword(request.body.password);
      const { name, role } = request.body;
      // The admin chose this password: its owner must set their own before doing anything else.
      await options.recordAction({ actor: actor(request), action: 'user.add', after: `${name} (${role})`, reason: request.body.reason ?? 'account added', apply: () => void options.accounts.addAccount(name, role, hash, true) });
      return reply.code(201).send({ name: request.body.name, role: request.body.role });
    },
  );

  app.post<{ Params: { name: string }; Body: { disabled: boolean; reason: string } }>(
    '/api/users/:name/disabled',
    {
      config: { access: 'users.manage' },
      schema: { params: { type: 'object', properties: { name: nameSchema } }, body: { type: 'object', additionalProperties: false, required: ['disabled', 'reason'], properties: { disabled: { type: 'boolean' }, reason: reasonSchema } } },
    },
    async (request, reply) => {
      const account = options.accounts.account(request.params.name);
      if (!account) return reply.code(404).send({ code: 'GW_ERR_AUTH_ACCOUNT', message: `no account "${request.params.name}"` });
      const { disabled } = request.body;
      await options.recordAction({
        actor: actor(request),
        action: disabled ? 'user.disable' : 'user.enable',
        before: String(account.disabled),
        after: String(disabled),
        reason: request.body.reason,
        apply: () => options.accounts.setAccountDisabled(account.name, disabled),
      });
      if (disabled) options.sessions.endAllOf(account.name);
      return { name: account.name, disabled: request.body.disabled };
    },
  );

  app.post<{ Params: { name: string }; Body: { password: string; reason?: string } }>(
    '/api/users/:name/password',
    {
      config: { access: 'users.manage' },
      bodyLimit: 4096,
      schema: { params: { type: 'object', properties: { name: nameSchema } }, body: { type: 'object', additionalProperties: false, required: ['password'], properties: { password: passwordSchema, reason: reasonSchema } } },
    },
    async (request, reply) => {
      const problem = passwordProblem(request.body.password);
      if (problem) return reply.code(400).send({ code: 'GW_ERR_AUTH_ACCOUNT', message: problem });
      if (!options.accounts.account(request.params.name)) return reply.code(404).send({ code: 'GW_ERR_AUTH_ACCOUNT', message: `no account "${request.params.name}"` });
      const hash = await hashPassword(request.body.password);
      const { name } = request.params;
      await options.recordAction({ actor: actor(request), action: 'user.password', after: name, reason: request.body.reason ?? 'password set by an admin', apply: () => options.accounts.setPassword(name, hash, true) });
      options.sessions.endAllOf(name);
      return { name: request.params.name };
    },
  );

  // Query values stay strings (no type coercion anywhere): digits checked here, converted below.
  const count = { type: 'string', pattern: '^[0-9]{1,12}$' } as const;
  app.get<{ Querystring: { q?: string; before?: string; limit?: string } }>(
    '/api/audit',
    { config: { access: 'audit.read' }, schema: { querystring: { type: 'object', additionalProperties: false, properties: { q: { type: 'string', maxLength: 100 }, before: count, limit: count } } } },
    async (request, reply) => {
      const { q, before, limit } = request.query;
      return reply.send(await options.audit.searchYielding({ ...(q === undefined ? {} : { text: q }), ...(before === undefined ? {} : { beforeSeq: Number(before) }), ...(limit === undefined ? {} : { limit: Number(limit) }) }));
    },
  );

  app.get('/api/audit/verify', { config: { access: 'audit.read' } }, async (_request, reply) => reply.send(await options.audit.verifyYielding()));
  return Promise.resolve();
};
