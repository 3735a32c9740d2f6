/**
 * Authentication and authorisation as one `onRequest` hook, so both are decided from the headers
 * alone, before the body is read or parsed: 401 without valid credentials, 403 without the role.
 * Every route names its access in its config (`access: 'public'` or a permission); a route that
 * names none, and every unknown path, needs an authenticated caller with no permission at all,
 * so nothing is open by omission and nobody unauthenticated can map the routes.
 *
 * Credentials: a session token (cookie `bg_session`, or `Authorization: Bearer`); a machine
 * client's secret as `Authorization: Bearer NAME.SECRET` or HTTP Basic `NAME:SECRET` (for cameras
 * and scanners that can only be given a user name and password).
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import fastifyPlugin from 'fastify-plugin';
import type { Account, AccountStore } from '../auth/account-store.js';
import { addressAllowed } from '../auth/account-store.js';
import { allows, type Actor, type Permission } from '../auth/roles.js';
import type { Session, SessionStore } from '../auth/sessions.js';

export const SESSION_COOKIE = 'bg_session';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated caller, null when none (public routes only). */
    actor: Actor | null;
    /** The session behind `actor` for people; null for machines. */
    session: { token: string; session: Session } | null;
  }
  interface FastifyContextConfig {
    /** Who may call the route: anyone (`public`) or holders of a permission. */
    access?: 'public' | Permission;
    /** Device push routes: the one device whose client may push here. */
    deviceId?: string;
  }
}

export interface AuthPluginOptions {
  accounts: AccountStore;
  /** Null on the device listener: people do not log in there. */
  sessions: SessionStore | null;
  /** Realm named in WWW-Authenticate. */
  realm: string;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

interface Authentication {
  actor: Actor | null;
  viaCookie: boolean;
  /** Why there is no actor, for the log and the 401. */
  failure?: string;
  /** Valid credentials used from an address outside the client's allowlist: 403, not 401. */
  wrongAddress?: boolean;
  /** A person whose password an admin chose: only their own session routes until they change it. */
  mustChangePassword?: boolean;
}

export function deny(reply: FastifyReply, status: 401 | 403 | 429, code: string, message: string): FastifyReply {
  return reply.code(status).type('application/json').send({ code, message });
}

/**
 * The account behind a session, or null when it no longer stands for it: disabled, its role
 * changed, or its password changed (anywhere, the command line included) since the login.
 */
export function sessionAccount(accounts: AccountStore, session: Session): Account | null {
  const account = accounts.account(session.account);
  if (!account || account.disabled || account.role !== session.role || account.changedMs !== session.accountStamp) return null;
  return account;
}

function parseAuthorization(header: string | undefined): { scheme: 'bearer' | 'basic'; value: string } | null {
  if (!header || header.length > 1024) return null;
  const match = /^(Bearer|Basic) +(\S+)$/i.exec(header);
  if (!match?.[1] || !match[2]) return null;
  return { scheme: match[1].toLowerCase() as 'bearer' | 'basic', value: match[2] };
}

const plugin: FastifyPluginAsync<AuthPluginOptions> = (app, options) => {
  app.decorateRequest('actor', null);
  app.decorateRequest('session', null);

  const authenticate = (request: FastifyRequest): Authentication => {
    const authorization = parseAuthorization(request.headers.authorization);
    if (authorization?.scheme === 'basic') {
      const decoded = Buffer.from(authorization.value, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 1) return { actor: null, viaCookie: false, failure: 'HTTP Basic credentials without a name' };
      return machine(request, decoded.slice(0, colon), decoded.slice(colon + 1));
    }
    if (authorization?.scheme === 'bearer') {
      // The secret is base64url (no dot); a client's name may hold dots.
      const dot = authorization.value.lastIndexOf('.');
      // Client tokens are NAME.SECRET; session tokens are base64url and never contain a dot.
      if (dot > 0) return machine(request, authorization.value.slice(0, dot), authorization.value.slice(dot + 1));
      return person(request, authorization.value, false);
    }
    const cookie = request.cookies[SESSION_COOKIE];
    if (cookie) return person(request, cookie, true);
    return { actor: null, viaCookie: false };
  };

  const machine = (request: FastifyRequest, name: string, secret: string): Authentication => {
    const client = options.accounts.authenticateClient(name, secret);
    if (!client) return { actor: null, viaCookie: false, failure: 'unknown client or wrong secret' };
    if (!addressAllowed(client.allowFrom, request.socket.remoteAddress)) {
      return { actor: null, viaCookie: false, wrongAddress: true, failure: `client ${client.name} may not call from ${request.socket.remoteAddress ?? 'an unknown address'}` };
    }
    return { actor: { id: client.name, role: client.role, deviceId: client.deviceId }, viaCookie: false };
  };

  const person = (request: FastifyRequest, token: string, viaCookie: boolean): Authentication => {
    const session = options.sessions?.touch(token) ?? null;
    if (!session) return { actor: null, viaCookie, failure: 'no session, or it has expired' };
    // The account is read again on every request: disabling it or changing its role acts at once.
    const account = sessionAccount(options.accounts, session);
    if (!account) {
      options.sessions?.endAllOf(session.account);
      return { actor: null, viaCookie, failure: 'the account was disabled or its password changed: log in again' };
    }
    request.session = { token, session };
    return { actor: { id: account.name, role: account.role }, viaCookie, mustChangePassword: account.mustChangePassword };
  };

  app.addHook('onRequest', async (request, reply) => {
    const { access, deviceId } = request.routeOptions.config;
    // Open routes need no caller: credentials sent there are not looked up (a monitoring poll
    // carrying a cookie neither costs a lookup nor keeps a session awake).
    if (access === 'public') return;
    const { actor, viaCookie, failure, wrongAddress, mustChangePassword } = authenticate(request);
    if (failure && actor === null) request.log.info({ failure, url: request.url }, 'authentication failed');
    request.actor = actor;
    if (wrongAddress) return deny(reply, 403, 'GW_ERR_AUTH_FORBIDDEN', failure ?? 'not from this address');
    if (!actor) {
      // Basic is offered only where devices push: on the operators' port a browser would otherwise
      // show its own login box and cache what is typed into it.
      void reply.header('www-authenticate', options.sessions ? `Bearer realm="${options.realm}"` : `Bearer realm="${options.realm}", Basic realm="${options.realm}"`);
      return deny(reply, 401, 'GW_ERR_AUTH_REQUIRED', failure ?? 'authentication required');
    }
    if (mustChangePassword && access !== 'session.own') {
      return deny(reply, 403, 'GW_ERR_AUTH_FORBIDDEN', `${actor.id} must set a password of their own first (POST /api/session/password): this one was chosen by an admin`);
    }
    if (access === undefined && request.is404) return;
    if (access === undefined || !allows(actor.role, access)) {
      return deny(reply, 403, 'GW_ERR_AUTH_FORBIDDEN', access === undefined ? 'no such route' : `${actor.id} (${actor.role}) may not ${access}`);
    }
    if (deviceId !== undefined && actor.deviceId !== deviceId) {
      return deny(reply, 403, 'GW_ERR_AUTH_FORBIDDEN', `client ${actor.id} may push only to device ${actor.deviceId ?? '(none)'}, not ${deviceId}`);
    }
    if (viaCookie && !SAFE_METHODS.has(request.method) && request.headers['x-csrf-token'] !== request.session?.session.csrfToken) {
      return deny(reply, 403, 'GW_ERR_AUTH_CSRF', 'a request with the session cookie needs the session\'s X-CSRF-Token header');
    }
  });
  return Promise.resolve();
};

/** Applies to every route of the app it is registered on (not encapsulated). */
export const authPlugin = fastifyPlugin(plugin, { name: 'border-gateway-auth', dependencies: ['@fastify/cookie'] });
