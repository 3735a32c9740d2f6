/**
 * Sessions of people: a random token (cookie or bearer), expiring after `idleMs` without a request
 * and `maxMs` after login, whatever the activity. Kept in memory by its sha256 only: a restart
 * logs everyone out, which costs a login and leaks nothing. Bounded: the oldest goes first.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../../core/clock.js';
import type { PersonRole } from './roles.js';

export interface Session {
  account: string;
  role: PersonRole;
  /** Sent back in X-CSRF-Token with every state-changing request made with the cookie. */
  csrfToken: string;
  createdMono: number;
  lastSeenMono: number;
  /** Wall time of login, for the console ("signed in at"). */
  createdWallMs: number;
  /**
   * The account's `changedMs` at login: a password change, a disable or an enable made anywhere
   * (the command line included, which cannot reach these sessions) changes it, and the session
   * is refused at its next request.
   */
  accountStamp: number;
}

export interface SessionOptions {
  clock: Clock;
  /** Default 30 minutes. */
  idleMs?: number;
  /** Default 12 hours: one shift and a half. */
  maxMs?: number;
  /** Default 1000. */
  maxSessions?: number;
}

/** Sessions one account may hold at once (a person at a few booths); the oldest goes first. */
const MAX_PER_ACCOUNT = 5;

const key = (token: string): string => createHash('sha256').update(token).digest('base64url');

export class SessionStore {
  private readonly sessions = new Map<string, Session>();
  /** Told of every session that ends, so what outlives a request (a live stream) ends with it. */
  private readonly endedListeners = new Set<(session: Session) => void>();
  readonly idleMs: number;
  readonly maxMs: number;
  private readonly maxSessions: number;

  constructor(private readonly options: SessionOptions) {
    this.idleMs = options.idleMs ?? 30 * 60_000;
    this.maxMs = options.maxMs ?? 12 * 3_600_000;
    this.maxSessions = options.maxSessions ?? 1000;
  }

  /** A new session for the account as it is now (its name, role and `changedMs`). */
  create(of: { name: string; role: PersonRole; changedMs: number }): { token: string; session: Session } {
    const { name: account, role, changedMs: accountStamp } = of;
    this.makeRoom(account);
    const token = randomBytes(32).toString('base64url');
    const now = this.options.clock.monotonic();
    const session: Session = { account, role, csrfToken: randomBytes(24).toString('base64url'), createdMono: now, lastSeenMono: now, createdWallMs: this.options.clock.now(), accountStamp };
    this.sessions.set(key(token), session);
    return { token, session };
  }

  /** The live session of `token`, its idle timer restarted; null when unknown or expired. */
  touch(token: string): Session | null {
    if (token.length > 128) return null;
    const id = key(token);
    const session = this.sessions.get(id);
    if (!session) return null;
    const now = this.options.clock.monotonic();
    if (this.expired(session, now)) {
      this.forget(id, session);
      return null;
    }
    session.lastSeenMono = now;
    return session;
  }

  /**
   * The live session of `token` without restarting its idle timer: a live stream left open is no
   * activity of its person, so it must not keep an abandoned booth signed in.
   */
  peek(token: string): Session | null {
    if (token.length > 128) return null;
    const id = key(token);
    const session = this.sessions.get(id);
    if (!session) return null;
    if (this.expired(session, this.options.clock.monotonic())) {
      this.forget(id, session);
      return null;
    }
    return session;
  }

  /** Calls `listener` with each session that ends (logout, expiry, eviction, account change); returns the unsubscribe. */
  onEnded(listener: (session: Session) => void): () => void {
    this.endedListeners.add(listener);
    return () => this.endedListeners.delete(listener);
  }

  private expired(session: Session, now: number): boolean {
    return now - session.lastSeenMono > this.idleMs || now - session.createdMono > this.maxMs;
  }

  private forget(id: string, session: Session): void {
    if (!this.sessions.delete(id)) return;
    for (const listener of this.endedListeners) {
      try {
        listener(session);
      } catch {
        // A listener's failure must not keep a session alive or stop the others hearing of it.
      }
    }
  }

  /**
   * Room for one more session of `account`: expired sessions go first, then the account's own
   * oldest beyond MAX_PER_ACCOUNT, and only then (the store full of live sessions) the oldest of all,
   * so one account logging in again and again cannot end everyone else's sessions.
   */
  private makeRoom(account: string): void {
    const now = this.options.clock.monotonic();
    for (const [id, session] of this.sessions) {
      if (this.expired(session, now)) this.forget(id, session);
    }
    const own = [...this.sessions].filter(([, session]) => session.account === account);
    for (const [id, session] of own.slice(0, Math.max(0, own.length - MAX_PER_ACCOUNT + 1))) this.forget(id, session);
    if (this.sessions.size >= this.maxSessions) {
      const oldest = this.sessions.entries().next().value;
      if (oldest !== undefined) this.forget(oldest[0], oldest[1]);
    }
  }

  end(token: string): void {
    const id = key(token);
    const session = this.sessions.get(id);
    if (session) this.forget(id, session);
  }

  /** Ends every session of an account (disabled, or its password changed). */
  endAllOf(account: string): number {
    let ended = 0;
    for (const [id, session] of this.sessions) {
      if (session.account === account) {
        this.forget(id, session);
        ended += 1;
      }
    }
    return ended;
  }
}
