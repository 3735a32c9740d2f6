/**
 * Password hashing with scrypt (node:crypto), run on libuv's thread pool so a login never blocks
 * the event loop. At most two hashes run at once: each takes 32 MiB outside the JS heap, and a
 * burst of logins must not take the memory of a 1 GB industrial PC (the rest wait their turn).
 */
import { randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** log2 N, r, p: 32 MiB and ~100 ms per hash on one core of the target PC. */
const COST = { log2N: 15, r: 8, p: 1 } as const;
const KEY_BYTES = 32;
const MAX_PARALLEL = 2;

export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 256;

function scrypt(password: string, salt: Buffer, log2N: number, r: number, p: number): Promise<Buffer> {
  const options: ScryptOptions = { N: 2 ** log2N, r, p, maxmem: 128 * 2 ** log2N * r * 2 };
  return new Promise((resolve, reject) => scryptCallback(password, salt, KEY_BYTES, options, (error, key) => (error ? reject(error) : resolve(key))));
}

/** Hashes waiting their turn, at most: a burst of logins beyond this is refused, not queued for minutes. */
const MAX_WAITING = 16;

let running = 0;
const queue: Array<() => void> = [];

/** Thrown when MAX_WAITING hashes already wait: the login is answered 503 at once. */
export class PasswordCheckBusy extends Error {}

async function limited<T>(work: () => Promise<T>): Promise<T> {
  if (running >= MAX_PARALLEL) {
    if (queue.length >= MAX_WAITING) throw new PasswordCheckBusy('too many password checks at once');
    await new Promise<void>((resolve) => queue.push(resolve));
  }
  running += 1;
  try {
    return await work();
  } finally {
    running -= 1;
    queue.shift()?.();
  }
}

/** A problem with a new password, or null when it is acceptable. */
export function passwordProblem(password: string): string | null {
  if (password.length < PASSWORD_MIN_LENGTH) return `a password needs at least ${PASSWORD_MIN_LENGTH} characters`;
  if (password.length > PASSWORD_MAX_LENGTH) return `a password has at most ${PASSWORD_MAX_LENGTH} characters`;
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(password)) return 'a password may not contain control characters';
  return null;
}

/** `scrypt$log2N$r$p$salt$key` (base64url), self-describing so the cost can rise later. */
export function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  return limited(async () => {
    const key = await scrypt(password, salt, COST.log2N, COST.r, COST.p);
    return ['scrypt', COST.log2N, COST.r, COST.p, salt.toString('base64url'), key.toString('base64url')].join('$');
  });
}

/**
 * Checks a password against a stored hash in constant time. With `stored` null (no such account)
 * a dummy hash is checked anyway, so a login takes as long for a wrong name as for a wrong password.
 */
export async function verifyPassword(password: string, stored: string | null): Promise<boolean> {
  if (password.length > PASSWORD_MAX_LENGTH) return false;
  const parts = (stored ?? DUMMY_HASH).split('$');
  const [scheme, log2N, r, p, salt, key] = parts;
  if (parts.length !== 6 || scheme !== 'scrypt' || !salt || !key) return false;
  const expected = Buffer.from(key, 'base64url');
  const actual = await limited(() => scrypt(password, Buffer.from(salt, 'base64url'), Number(log2N), Number(r), Number(p)));
  return stored !== null && actual.length === expected.length && timingSafeEqual(actual, expected);
}

const DUMMY_HASH = ['scrypt', COST.log2N, COST.r, COST.p, 'AAAAAAAAAAAAAAAAAAAAAA', 'A'.repeat(43)].join('$');
