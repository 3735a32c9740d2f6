/**
 * The VMC's people: accounts with a role (`analyst` reads every post's figures; `admin` also
 * manages accounts), passwords hashed as the gateway hashes them (core/passwords.ts), and
 * sessions kept in the store (as a sha256 of the token) so any instance behind a load balancer
 * knows them. Failed logins are throttled per account name in this instance's memory.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { GatewayError } from '../core/errors.js';
import { hashPassword, passwordProblem, verifyPassword } from '../core/passwords.js';
import type { VmcRole, VmcStore } from './store/vmc-store.js';

export const VMC_ROLES = ['analyst', 'admin'] as const satisfies readonly VmcRole[];
export const ACCOUNT_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** A session lasts one working day (and a bit): analysts log in once per shift. */
export const SESSION_TTL_MS = 12 * 3600 * 1000;

const MAX_FAILURES = 5;
const LOCKOUT_MS = 5 * 60 * 1000;

export function isVmcRole(role: string): role is VmcRole {
  return (VMC_ROLES as readonly string[]).includes(role);
}

export const tokenHash = (token: string): string => createHash('sha256').update(token).digest('hex');

export type LoginResult = { ok: true; token: string; name: string; role: VmcRole; expiresAt: string } | { ok: false; throttled: boolean };

export class VmcAuth {
  private readonly failures = new Map<string, { count: number; untilMs: number }>();
  /** Logins of a name whose password is being checked now: they count as failures until they are not. */
  private readonly checking = new Map<string, number>();

  constructor(
    private readonly store: VmcStore,
    private readonly clock: Clock,
  ) {}

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
    const key = name.slice(0, 64);
    // Attempts whose check is still running count as failed: 18 wrong passwords sent at once all
    // passed a check that read the count before any of them had failed (a helper's attack).
    if (this.recentFailures(key, this.clock.now()) + (this.checking.get(key) ?? 0) >= MAX_FAILURES) return { ok: false, throttled: true };
    this.checking.set(key, (this.checking.get(key) ?? 0) + 1);
    let account;
    let valid;
    try {
      account = await this.store.account(name);
      // Checked even for an unknown name (a dummy hash), so the time taken does not tell names apart.
      valid = await verifyPassword(password, account?.passwordHash ?? null);
    } finally {
      const left = (this.checking.get(key) ?? 1) - 1;
      if (left > 0) this.checking.set(key, left);
      else this.checking.delete(key);
    }
    const now = this.clock.now();
    if (!account || account.disabled || !valid) {
      const count = this.recentFailures(key, now) + 1;
      this.failures.set(key, { count, untilMs: now + LOCKOUT_MS });
      // Bounded: a spray of made-up names cannot grow the map without end.
      if (this.failures.size > 10_000) this.failures.delete(this.failures.keys().next().value as string);
      return { ok: false, throttled: false };
    }
    this.failures.delete(key);
    const token = randomBytes(32).toString('base64url');
    const expiresMs = now + SESSION_TTL_MS;
    await this.store.addSession(tokenHash(token), account.name, now, expiresMs);
    return { ok: true, token, name: account.name, role: account.role, expiresAt: new Date(expiresMs).toISOString() };
  }

  /** Failed logins of `key` within the lockout, as of `now`. */
  private recentFailures(key: string, now: number): number {
    const failed = this.failures.get(key);
    return failed && now < failed.untilMs ? failed.count : 0;
  }

  authenticate(token: string): Promise<{ name: string; role: VmcRole } | null> {
    if (token.length > 128) return Promise.resolve(null);
    return this.store.session(tokenHash(token), this.clock.now());
  }

  logout(token: string): Promise<void> {
    return this.store.deleteSession(tokenHash(token));
  }
}
