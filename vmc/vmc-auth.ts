/**
 * The VMC's people: accounts with a role (`analyst` reads every post's figures; `admin` also
 * manages accounts), passwords hashed as the gateway hashes them (core/passwords.ts), and
 * sessions kept in the store (as a sha256 of the token) so any instance behind a load balancer
 * knows them. Failed logins are throttled per account name in this instance's memory, by the
 * gateway's throttle (core/login-throttle.ts) keyed by name alone: behind a load balancer every
 * caller has the balancer's address.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { GatewayError } from '../core/errors.js';
import { LoginThrottle } from '../core/login-throttle.js';
import { hashPassword, passwordProblem, verifyPassword } from '../core/passwords.js';
import type { VmcRole, VmcStore } from './store/vmc-store.js';

export const VMC_ROLES = ['analyst', 'admin'] as const satisfies readonly VmcRole[];
export const ACCOUNT_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** A session lasts one working day (and a bit): analysts log in once per shift. */
export const SESSION_TTL_MS = 12 * 3600 * 1000;

/**
 * The VMC's locks: 5 failed logins free, then 5 minutes, doubling with each further failure to an
 * hour; a name an hour without a failure starts again from zero. Longer than the gateway's (30 s
 * to 15 min): the VMC is reached from every post's network and beyond.
 */
export const VMC_LOGIN_LOCKS = { freeFailures: 5, baseLockMs: 5 * 60_000, maxLockMs: 60 * 60_000, windowMs: 60 * 60_000, byAddress: false } as const;

export function isVmcRole(role: string): role is VmcRole {
  return (VMC_ROLES as readonly string[]).includes(role);
}

export const tokenHash = (token: string): string => createHash('sha256').update(token).digest('hex');

export type LoginResult =
  | { ok: true; token: string; name: string; role: VmcRole; expiresAt: string }
  | { ok: false; throttled: false }
  | { ok: false; throttled: true; retryAfterSec: number };

export class VmcAuth {
  private readonly throttle: LoginThrottle;

  /** `throttle`: the VMC's locks (VMC_LOGIN_LOCKS) unless a test gives its own. */
  constructor(
    private readonly store: VmcStore,
    private readonly clock: Clock,
    throttle?: LoginThrottle,
  ) {
    this.throttle = throttle ?? new LoginThrottle({ clock, ...VMC_LOGIN_LOCKS });
  }

  /** Makes an account; refuses a bad name, role or password, or a name already taken (GW_ERR_AUTH_ACCOUNT). */
  async addAccount(name: string, role: string, password: string): Promise<void> {
    if (!ACCOUNT_NAME.test(name)) throw new GatewayError('GW_ERR_AUTH_ACCOUNT', `an account name is 1-64 of a-z 0-9 . _ - (starting with a letter or digit), got "${name.slice(0, 70)}"`);
    if (!isVmcRole(role)) throw new GatewayError('GW_ERR_AUTH_ACCOUNT', `a VMC role is one of ${VMC_ROLES.join(', ')}, got "${role.slice(0, 20)}"`);
    const problem = passwordProblem(password);
    if (problem) throw new GatewayError('GW_ERR_AUTH_ACCOUNT', problem);
    if (!(await this.store.addAccount({ name, role, passwordHash: await hashPassword(password) }, this.clock.now()))) {
      throw new GatewayError('GW_ERR_AUTH_ACCOUNT', `an account "${name}" exists already`);
    }
  }

  async login(name: string, password: string): Promise<LoginResult> {
    // Counted as a failure from here until the password proves right, so guesses sent all at once
    // are throttled like guesses sent one by one. The address plays no part (VMC_LOGIN_LOCKS).
    const attempt = this.throttle.attempt(name, '');
    if (attempt.waitMs > 0) return { ok: false, throttled: true, retryAfterSec: Math.ceil(attempt.waitMs / 1000) };
    let account;
    let valid;
    try {
      account = await this.store.account(name);
      // Checked even for an unknown name (a dummy hash), so the time taken does not tell names apart.
      valid = await verifyPassword(password, account?.passwordHash ?? null);
    } catch (error) {
      // Not checked at all (too many checks at once, the store down): it does not count.
      this.throttle.withdrawn(name, '');
      throw error;
    }
    if (!account || account.disabled || !valid) return { ok: false, throttled: false };
    this.throttle.succeeded(name, '');
    const now = this.clock.now();
    const token = randomBytes(32).toString('base64url');
    const expiresMs = now + SESSION_TTL_MS;
    await this.store.addSession(tokenHash(token), account.name, now, expiresMs);
    return { ok: true, token, name: account.name, role: account.role, expiresAt: new Date(expiresMs).toISOString() };
  }

  authenticate(token: string): Promise<{ name: string; role: VmcRole } | null> {
    if (token.length > 128) return Promise.resolve(null);
    return this.store.session(tokenHash(token), this.clock.now());
  }

  logout(token: string): Promise<void> {
    return this.store.deleteSession(tokenHash(token));
  }
}
