/**
 * HTTP authentication for a camera's snapshot URI, answered to the camera's challenge (never
 * sent unasked): Digest (RFC 7616, MD5 or SHA-256, qop `auth` or none) when the camera offers it,
 * else Basic (RFC 7617). ONVIF cameras protect snapshots with one or the other (ONVIF Core
 * Specification, 5.12.1: HTTP digest).
 */
import { createHash, randomBytes } from 'node:crypto';

export interface DigestChallenge {
  realm: string;
  nonce: string;
  opaque: string | null;
  algorithm: 'MD5' | 'SHA-256';
  /** `auth` when the server offers it (the only quality of protection used here). */
  qop: 'auth' | null;
}

export interface DigestRequest {
  username: string;
  password: string;
  method: string;
  /** The request target as sent (path and query). */
  uri: string;
  cnonce?: string;
  nonceCount?: number;
}

/** The Digest challenge of a `WWW-Authenticate` value, or null when there is none this client can answer. */
export function parseDigestChallenge(header: string | undefined): DigestChallenge | null {
  const start = header ? /(?:^|,\s*)Digest\s+/i.exec(header) : null;
  if (!header || !start) return null;
  const params: Record<string, string> = {};
  const pattern = /([A-Za-z-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g;
  pattern.lastIndex = start.index + start[0].length;
  for (let match = pattern.exec(header); match; match = pattern.exec(header)) {
    const key = (match[1] ?? '').toLowerCase();
    if (!(key in params)) params[key] = match[2] !== undefined ? match[2].replace(/\\(.)/g, '$1') : (match[3] ?? '');
  }
  const algorithm = (params.algorithm ?? 'MD5').toUpperCase();
  if (params.realm === undefined || !params.nonce || (algorithm !== 'MD5' && algorithm !== 'SHA-256')) return null;
  const qops = (params.qop ?? '').split(',').map((q) => q.trim().toLowerCase());
  if (params.qop !== undefined && !qops.includes('auth')) return null;
  return { realm: params.realm, nonce: params.nonce, opaque: params.opaque ?? null, algorithm, qop: params.qop !== undefined ? 'auth' : null };
}

/** The `Authorization` value answering `challenge`. */
export function digestAuthorization(challenge: DigestChallenge, request: DigestRequest): string {
  const hash = (text: string): string => createHash(challenge.algorithm === 'MD5' ? 'md5' : 'sha256').update(text, 'utf8').digest('hex');
  const cnonce = request.cnonce ?? randomBytes(16).toString('hex');
  const nc = (request.nonceCount ?? 1).toString(16).padStart(8, '0');
  const ha1 = hash(`${request.username}:${challenge.realm}:${request.password}`);
  const ha2 = hash(`${request.method}:${request.uri}`);
  const response = challenge.qop ? hash(`${ha1}:${challenge.nonce}:${nc}:${cnonce}:auth:${ha2}`) : hash(`${ha1}:${challenge.nonce}:${ha2}`);
  const fields = [
    `username="${quoted(request.username)}"`,
    `realm="${quoted(challenge.realm)}"`,
    `uri="${quoted(request.uri)}"`,
    `algorithm=${challenge.algorithm}`,
    `nonce="${quoted(challenge.nonce)}"`,
    ...(challenge.qop ? [`nc=${nc}`, `cnonce="${cnonce}"`, 'qop=auth'] : []),
    `response="${response}"`,
    ...(challenge.opaque !== null ? [`opaque="${quoted(challenge.opaque)}"`] : []),
  ];
  return `Digest ${fields.join(', ')}`;
}

export function basicAuthorization(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

function quoted(text: string): string {
  return text.replace(/["\\]/g, '\\$&');
}
