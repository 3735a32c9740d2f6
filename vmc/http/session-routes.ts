/**
 * Logging in and out, who am I, and (admins) the accounts. A login answers the session token in
 * the body (for API clients: `Authorization: Bearer TOKEN`) and as an HttpOnly, SameSite=Strict
 * cookie (for the dashboards). Every state-changing route is a POST with a JSON body, which a
 * cross-site form cannot send, and the cookie is not sent cross-site at all.
 */
import type { FastifyPluginAsync } from 'fastify';
import { PASSWORD_MAX_LENGTH } from '../../core/passwords.js';
import { SESSION_TTL_MS, VMC_ROLES, type VmcAuth } from '../vmc-auth.js';
import type { VmcStore } from '../store/vmc-store.js';

export const SESSION_COOKIE = 'vmc_session';

/** The refusal of a login whose body is not a name and a password within their bounds. */
const LOGIN_REFUSED = `enter your name (up to 64 characters) and your password (up to ${PASSWORD_MAX_LENGTH} characters)`;

const credentials = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'password'],
  // No control character in a name: PostgreSQL refuses a NUL in text (a 500 before this).
  properties: { name: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[^\\u0000-\\u001f\\u007f]+$' }, password: { type: 'string', minLength: 1, maxLength: PASSWORD_MAX_LENGTH } },
} as const;

export const sessionRoutes: FastifyPluginAsync<{ auth: VmcAuth; store: VmcStore; secureCookie: boolean }> = (app, { auth, store, secureCookie }) => {
  // A login form's refusal is read by people: what to fill in, not the schema's wording ("body/name must NOT have fewer than 1 characters").
  app.post<{ Body: { name: string; password: string } }>('/api/login', { config: { vmcAccess: 'public' }, schema: { body: credentials }, attachValidation: true }, async (request, reply) => {
    if (request.validationError) return reply.code(400).send({ code: 'GW_ERR_HTTP_BAD_REQUEST', message: LOGIN_REFUSED });
    const result = await auth.login(request.body.name, request.body.password);
    if (!result.ok) {
      if (result.throttled) {
        void reply.header('retry-after', String(result.retryAfterSec));
        return reply.code(429).send({ code: 'GW_ERR_AUTH_THROTTLED', message: `too many failed logins for this account; try again in ${result.retryAfterSec} s` });
      }
      return reply.code(401).send({ code: 'GW_ERR_AUTH_REQUIRED', message: 'wrong name or password' });
    }
    void reply.setCookie(SESSION_COOKIE, result.token, { httpOnly: true, sameSite: 'strict', path: '/', secure: secureCookie, maxAge: SESSION_TTL_MS / 1000 });
    return { name: result.name, role: result.role, token: result.token, expiresAt: result.expiresAt };
  });

  app.post('/api/logout', async (request, reply) => {
    if (request.sessionToken) await auth.logout(request.sessionToken);
    void reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return { ok: true };
  });

  app.get('/api/me', (request) => Promise.resolve(request.caller));

  app.get('/api/users', { config: { vmcAccess: 'admin' } }, () => store.accounts());

  app.post<{ Body: { name: string; password: string; role: string } }>(
    '/api/users',
    {
      config: { vmcAccess: 'admin' },
      schema: { body: { ...credentials, required: ['name', 'password', 'role'], properties: { ...credentials.properties, role: { type: 'string', enum: [...VMC_ROLES] } } } },
    },
    async (request, reply) => {
      await auth.addAccount(request.body.name, request.body.role, request.body.password);
      return reply.code(201).send({ name: request.body.name, role: request.body.role });
    },
  );
  return Promise.resolve();
};
