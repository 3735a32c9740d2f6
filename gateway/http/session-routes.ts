/**
 * Logging in and out: `POST /api/session` (throttled per account name and per address; every
 * attempt in the audit log), `GET /api/session` (who am I, the CSRF token), `DELETE /api/session`.
 * The session travels as an HttpOnly, SameSite=Strict cookie; a script may ask for the token in
 * the body (`"bearer": true`) and send it as `Authorization: Bearer` instead.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { AccountStore } from '../auth/account-store.js';
import type { AuditLog } from '../auth/audit-log.js';
import type { LoginThrottle } from '../../core/login-throttle.js';
import { hashPassword, passwordProblem, PasswordCheckBusy, verifyPassword, PASSWORD_MAX_LENGTH } from '../../core/passwords.js';
import { NAME_PATTERN } from '../auth/roles.js';
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
    // Names are account names or nothing: no control characters reach the audit log or a terminal.
    name: { type: 'string', pattern: NAME_PATTERN.source },
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
    mustChangePassword: options.accounts.account(session.account)?.mustChangePassword ?? false,
  });

  app.post<{ Body: LoginBody }>('/api/session', { config: { access: 'public' }, bodyLimit: 4096, schema: { body: loginSchema } }, async (request, reply) => {
    const { name, password } = request.body;
    const address = request.socket.remoteAddress ?? 'unknown';
    // Counted before the password is checked, so a burst of guesses is throttled like a series.
    const attempt = options.throttle.attempt(name, address);
    if (attempt.waitMs > 0) {
      void reply.header('retry-after', String(Math.ceil(attempt.waitMs / 1000)));
      return deny(reply, 429, 'GW_ERR_AUTH_THROTTLED', `too many failed logins; try again in ${Math.ceil(attempt.waitMs / 1000)} s`);
    }
    const account = options.accounts.account(name);
    let valid: boolean;
    try {
      valid = await verifyPassword(password, account?.passwordHash ?? null);
    } catch (error) {
      // Not checked at all: it does not count against the name (the error handler answers 503).
      if (error instanceof PasswordCheckBusy) options.throttle.withdrawn(name, address);
      throw error;
    }
    if (!account || !valid || account.disabled) {
      // One entry per failure until the lock, one when it starts: guessing cannot fill the disk.
      options.audit.record({
        actor: { id: name, role: account?.role ?? 'operator' },
        action: attempt.lockedNow ? 'login.locked' : 'login.failed',
        after: address,
        reason: account?.disabled ? 'account disabled' : attempt.lockedNow ? 'too many failures: name and address locked' : 'wrong name or password',
      });
      return deny(reply, 401, 'GW_ERR_AUTH_REQUIRED', 'wrong name or password');
    }
    options.throttle.succeeded(name, address);
    // Recorded before the session exists: a database locked by another connection refuses the
    // login (503, GW_ERR_OUTBOX_LOCKED, Retry-After) rather than open a session the log lacks.
    options.audit.record({ actor: { id: account.name, role: account.role }, action: 'login', after: address });
    const { token, session } = options.sessions.create(account);
    void reply.setCookie(SESSION_COOKIE, token, { httpOnly: true, sameSite: 'strict', secure: options.secureCookies, path: '/', maxAge: options.sessions.maxMs / 1000 });
    return reply.code(201).send({ ...view(session), ...(request.body.bearer ? { token } : {}) });
  });

  app.get('/api/session', { config: { access: 'session.own' } }, async (request, reply) => {
    // Any person may ask who they are; machines have no session.
    if (!request.session) return deny(reply, 403, 'GW_ERR_AUTH_FORBIDDEN', 'machines have no session');
    return view(request.session.session);
  });

  /** Sets one's own password (checked against the current one); the other sessions end. */
  app.post<{ Body: { current: string; password: string } }>(
    '/api/session/password',
    {
      config: { access: 'session.own' },
      bodyLimit: 4096,
      schema: { body: { type: 'object', additionalProperties: false, required: ['current', 'password'], properties: { current: { type: 'string', minLength: 1, maxLength: PASSWORD_MAX_LENGTH }, password: { type: 'string', minLength: 1, maxLength: PASSWORD_MAX_LENGTH } } } },
    },
    async (request, reply) => {
      const own = request.session;
      if (!own) return deny(reply, 403, 'GW_ERR_AUTH_FORBIDDEN', 'machines have no session');
      const name = own.session.account;
      const address = request.socket.remoteAddress ?? 'unknown';
      const attempt = options.throttle.attempt(name, address);
      if (attempt.waitMs > 0) {
        void reply.header('retry-after', String(Math.ceil(attempt.waitMs / 1000)));
        return deny(reply, 429, 'GW_ERR_AUTH_THROTTLED', `too many failed attempts; try again in ${Math.ceil(attempt.waitMs / 1000)} s`);
      }
      const account = options.accounts.account(name);
      if (!account || !(await verifyPassword(request.body.current, account.passwordHash))) return deny(reply, 401, 'GW_ERR_AUTH_REQUIRED', 'the current password is wrong');
      options.throttle.succeeded(name, address);
      const problem = passwordProblem(request.body.password);
      if (problem) return reply.code(400).send({ code: 'GW_ERR_AUTH_ACCOUNT', message: problem });
      if (request.body.password === request.body.current) return reply.code(400).send({ code: 'GW_ERR_AUTH_ACCOUNT', message: 'the new password must differ from the current one' });
      const hash = await hashPassword(request.body.password);
      options.audit.record({ actor: { id: name, role: account.role }, action: 'user.password', after: name, reason: 'changed by its owner' }, () => options.accounts.setPassword(name, hash));
      // Every session of the account ends (the stamp changed); this one continues as a new one.
      options.sessions.endAllOf(name);
      const renewed = options.sessions.create(options.accounts.account(name) ?? account);
      void reply.setCookie(SESSION_COOKIE, renewed.token, { httpOnly: true, sameSite: 'strict', secure: options.secureCookies, path: '/', maxAge: options.sessions.maxMs / 1000 });
      return { ...view(renewed.session), ...(request.headers.authorization ? { token: renewed.token } : {}) };
    },
  );

  app.delete('/api/session', { config: { access: 'session.own' } }, async (request, reply) => {
    if (!request.session) return deny(reply, 403, 'GW_ERR_AUTH_FORBIDDEN', 'machines have no session');
    // Recorded first: refused (the database locked), the session goes on and the logout can be repeated.
    options.audit.record({ actor: { id: request.session.session.account, role: request.session.session.role }, action: 'logout' });
    options.sessions.end(request.session.token);
    void reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.code(204).send();
  });
  return Promise.resolve();
};
