/**
 * The camera's side of WS-Security UsernameToken, written for the simulator from the
 * specifications (it shares nothing with the driver's token code, so a digest bug in either shows).
 *
 * OASIS Web Services Security UsernameToken Profile 1.1, 3.1 "Usernames and Passwords":
 * PasswordDigest = Base64(SHA-1(nonce + created + password)), the nonce carried Base64-encoded;
 * a recipient should reject a token without both a nonce and a creation time, reject a `Created`
 * outside its freshness limit ("a value of five minutes can be used"), and remember the nonces it
 * has seen for that long so a captured token cannot be replayed. ONVIF Core Specification 25.12,
 * 5.9.1 "Authentication over HTTP and HTTPS": a device that authenticates by UsernameToken only
 * answers every failure with HTTP 400 and the SOAP fault env:Sender ter:NotAuthorized.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { childOf, childText, NS, type XmlElement } from './soap-xml.js';

export const PASSWORD_DIGEST_TYPE = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest';
export const BASE64_ENCODING_TYPE = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary';

/** How far `Created` may be from the camera's clock, either way (the profile's five minutes). */
export const FRESHNESS_MS = 5 * 60_000;
/** Nonces remembered at most; beyond, the oldest are forgotten first (a flood cannot grow memory). */
export const MAX_REMEMBERED_NONCES = 4096;

export interface UsernameToken {
  username: string;
  password: string;
  passwordType: string;
  /** As sent: Base64 text. */
  nonce: string | null;
  nonceEncoding: string;
  created: string | null;
}

/** Base64(SHA-1(nonce + created + password)), UsernameToken Profile 1.1, 3.1. */
export function passwordDigest(nonce: Buffer, created: string, password: string): string {
  return createHash('sha1').update(nonce).update(created, 'utf8').update(password, 'utf8').digest('base64');
}

/** The UsernameToken of a SOAP Header (`wsse:Security/wsse:UsernameToken`), or null when there is none. */
export function readUsernameToken(header: XmlElement | undefined): UsernameToken | null {
  const token = childOf(childOf(header, NS.wsse, 'Security'), NS.wsse, 'UsernameToken');
  if (!token) return null;
  const password = childOf(token, NS.wsse, 'Password');
  const nonce = childOf(token, NS.wsse, 'Nonce');
  return {
    username: childText(token, NS.wsse, 'Username') ?? '',
    password: password?.text.trim() ?? '',
    // The profile's default Type is PasswordText.
    passwordType: password?.attributes.get('Type') ?? 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText',
    nonce: nonce ? nonce.text.trim() : null,
    nonceEncoding: nonce?.attributes.get('EncodingType') ?? BASE64_ENCODING_TYPE,
    created: childText(token, NS.wsu, 'Created'),
  };
}

/** xsd:dateTime with a time zone (WSS Utility: `Created` should be UTC); fractions allowed. */
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export type TokenVerdict = { ok: true } | { ok: false; reason: string };

export interface TokenCheckerOptions {
  username: string;
  password: string;
  /** The camera's wall clock (its own, possibly off, time). */
  now: () => number;
  freshnessMs?: number;
  maxNonces?: number;
}

/** Checks tokens as a strict camera does: digest, freshness, replay. */
export class UsernameTokenChecker {
  /** Nonce (Base64 of its bytes) → the Created time it came with, in insertion order. */
  private readonly seen = new Map<string, number>();

  constructor(private readonly options: TokenCheckerOptions) {}

  get rememberedNonces(): number {
    return this.seen.size;
  }

  check(token: UsernameToken | null): TokenVerdict {
    if (!token) return { ok: false, reason: 'no UsernameToken' };
    if (token.passwordType !== PASSWORD_DIGEST_TYPE) return { ok: false, reason: 'only PasswordDigest is accepted' };
    if (token.nonce === null || token.created === null) return { ok: false, reason: 'a digest token needs a Nonce and a Created time' };
    if (token.nonceEncoding !== BASE64_ENCODING_TYPE || !BASE64.test(token.nonce) || token.nonce === '') return { ok: false, reason: 'the Nonce is not Base64' };
    if (!DATE_TIME.test(token.created)) return { ok: false, reason: 'Created is no xsd:dateTime with a time zone' };
    const nonce = Buffer.from(token.nonce, 'base64');
    const expected = Buffer.from(passwordDigest(nonce, token.created, this.options.password));
    const given = Buffer.from(token.password);
    const userOk = token.username === this.options.username;
    if (!userOk || given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'wrong username or password digest' };
    const now = this.options.now();
    const created = Date.parse(token.created);
    const window = this.options.freshnessMs ?? FRESHNESS_MS;
    if (!Number.isFinite(created) || Math.abs(now - created) > window) {
      return { ok: false, reason: `Created ${token.created} is more than ${window / 1000} s from the camera's time ${new Date(now).toISOString()}` };
    }
    const key = nonce.toString('base64');
    if (this.seen.has(key)) return { ok: false, reason: 'the Nonce was used before (replay)' };
    this.remember(key, created, now, window);
    return { ok: true };
  }

  private remember(key: string, created: number, now: number, window: number): void {
    const max = this.options.maxNonces ?? MAX_REMEMBERED_NONCES;
    if (this.seen.size >= max) {
      // A nonce whose Created is stale is refused by its time already: forget those first.
      for (const [nonce, at] of this.seen) if (Math.abs(now - at) > window) this.seen.delete(nonce);
      for (const nonce of this.seen.keys()) {
        if (this.seen.size < max) break;
        this.seen.delete(nonce);
      }
    }
    this.seen.set(key, created);
  }
}
