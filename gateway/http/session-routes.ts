/**
 * Logging in and out: `POST /api/session` (throttled per account name and per address; every
 * attempt in the audit log), `GET /api/session` (who am I, the CSRF token), `DELETE /api/session`.
 * The session travels as an HttpOnly, SameSite=Strict cookie; a script may ask for the token in
 * the body (`"bearer": true`) and send it as `Authorization: Bearer` instead.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { AccountStore } from '../auth/account-store.js';
import type { AuditLog } from '../auth/audit-log.js';
import type { LoginThrottle } from '../auth/login-throttle.js';
import { verifyPassword, PASSWORD_MAX_LENGTH } from '../auth/passwords.js';
import type { Session, SessionStore } from '../auth/sessions.js';
import { deny, SESSION_COOKIE } from './auth-plugin.js';

export interface SessionRoutesOptions {
  accounts: AccountStore;
  sessions: SessionStore;
  throttle: LoginThrottle;
  audit: AuditLog;
  /** Cookies marked Secure (the listener serves HTTPS). */
  secureCookies: boolean;
}

interface LoginBody {
  name: string;
  password: string;
  bearer?: boolean;
}

const loginSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'password'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 64 },
    password: { type: 'string', minLength: 1, maxLength: PASSWORD_MAX_LENGTH },
    bearer: { type: 'boolean' },
  },
} as const;

export const sessionRoutes: FastifyPluginAsync<SessionRoutesOptions> = (app, options) => {
  const view = (session: Session): Record<string, unknown> => ({
    account: session.account,
    role: session.role,
    csrfToken: session.csrfToken,
    signedInAt: new Date(session.createdWallMs).toISOString(),
    idleTimeoutSec: options.sessions.idleMs / 1000,
    maxAgeSec: options.sessions.maxMs / 1000,
  });

  app.post<{ Body: LoginBody }>('/api/session', { config: { access: 'public' }, bodyLimit: 4096, schema: { body: loginSchema } }, async (request, reply) => {
    const { name, password } = request.body;
    const address = request.socket.remoteAddress ?? 'unknown';
    const waitMs = options.throttle.waitMs(name, address);
    if (waitMs > 0) {
      void reply.header('retry-after', String(Math.ceil(waitMs / 1000)));
      return deny(reply, 429, 'GW_ERR_AUTH_THROTTLED', `too many failed logins; try again in ${Math.ceil(waitMs / 1000)} s`);
    }
    const account = options.accounts.account(name);
    const valid = await verifyPassword(password, account?.passwordHash ?? null);
    if (!account || !valid || account.disabled) {
      options.throttle.failed(name, address);
      options.audit.record({ actor: { id: name.slice(0, 64), role: account?.role ?? 'operator' }, action: 'login.failed', after: address, reason: account?.disabled ? 'account disabled' : 'wrong name or password' });
      return deny(reply, 401, 'GW_ERR_AUTH_REQUIRED', 'wrong name or password');
    }
    options.throttle.succeeded(name);
    const { token, session } = options.sessions.create(account.name, account.role);
    options.audit.record({ actor: { id: account.name, role: account.role }, action: 'login', after: address });
    void reply.setCookie(SESSION_COOKIE, token, { httpOnly: true, sameSite: 'strict', secure: options.secureCookies, path: '/', maxAge: options.sessions.maxMs / 1000 });
    return reply.code(201).send({ ...view(session), ...(request.body.bearer ? { token } : {}) });
  });

  app.get('/api/session', { config: { access: 'session.own' } }, async (request, reply) => {
    // Any person may ask who they are; machines have no session.
    if (!request.session) return deny(reply, 403, 'GW_ERR_AUTH_FORBIDDEN', 'machines have no session');
    return view(request.session.session);
  });

  app.delete('/api/session', { config: { access: 'session.own' } }, async (request, reply) => {
    if (!request.session) return deny(reply, 403, 'GW_ERR_AUTH_FORBIDDEN', 'machines have no session');
    options.sessions.end(request.session.token);
    options.audit.record({ actor: { id: request.session.session.account, role: request.session.session.role }, action: 'logout' });
    void reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.code(204).send();
  });
  return Promise.resolve();
};
