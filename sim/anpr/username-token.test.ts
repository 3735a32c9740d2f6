/** The camera's nonce memory: replays refused within the freshness window, memory bounded. */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { passwordDigest, PASSWORD_DIGEST_TYPE, BASE64_ENCODING_TYPE, UsernameTokenChecker, type UsernameToken } from './username-token.js';

const START = Date.UTC(2026, 10, 26, 6, 0, 0);

function token(createdMs: number, nonce = randomBytes(16)): UsernameToken {
  const created = new Date(createdMs).toISOString();
  return { username: 'admin', password: passwordDigest(nonce, created, 'pw'), passwordType: PASSWORD_DIGEST_TYPE, nonce: nonce.toString('base64'), nonceEncoding: BASE64_ENCODING_TYPE, created };
}

describe('UsernameTokenChecker', () => {
  it('refuses a nonce seen before, and a token without nonce or Created', () => {
    let now = START;
    const checker = new UsernameTokenChecker({ username: 'admin', password: 'pw', now: () => now });
    const first = token(now);
    expect(checker.check(first)).toEqual({ ok: true });
    now += 60_000;
    expect(checker.check(first)).toEqual({ ok: false, reason: 'the Nonce was used before (replay)' });
    expect(checker.check({ ...token(now), nonce: null })).toMatchObject({ ok: false });
    expect(checker.check({ ...token(now), created: null })).toMatchObject({ ok: false });
    expect(checker.check({ ...token(now), created: '2026-11-26T06:01:00' })).toEqual({ ok: false, reason: 'Created is no xsd:dateTime with a time zone' });
  });

  it('remembers at most maxNonces, forgetting stale ones first, then the oldest', () => {
    let now = START;
    const checker = new UsernameTokenChecker({ username: 'admin', password: 'pw', now: () => now, maxNonces: 3 });
    const old = token(now);
    expect(checker.check(old).ok).toBe(true);
    now += 4 * 60_000;
    const recent = [token(now), token(now)];
    for (const t of recent) expect(checker.check(t).ok).toBe(true);
    now += 2 * 60_000;
    // Full: the first nonce's Created is now stale (6 min), so it is the one forgotten; refused by its time anyway.
    expect(checker.check(token(now)).ok).toBe(true);
    expect(checker.rememberedNonces).toBe(3);
    expect(checker.check(old)).toMatchObject({ ok: false, reason: expect.stringMatching(/more than 300 s/) as unknown });
    expect(checker.check(recent[0] as UsernameToken)).toEqual({ ok: false, reason: 'the Nonce was used before (replay)' });
    // Nothing stale left to forget: the oldest goes, memory stays bounded.
    for (let i = 0; i < 10; i += 1) expect(checker.check(token(now)).ok).toBe(true);
    expect(checker.rememberedNonces).toBe(3);
  });
});
