/**
 * WS-UsernameToken with PasswordDigest (OASIS WSS UsernameToken Profile 1.0, section 3.1):
 * digest = Base64(SHA-1(nonce + created + password)), the nonce sent Base64-encoded. ONVIF
 * devices require it on every SOAP request (ONVIF Core Specification, 5.12.2).
 */
import { createHash, randomBytes } from 'node:crypto';

export const WSSE_NS = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd';
export const WSU_NS = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd';
const DIGEST_TYPE = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest';
const BASE64_TYPE = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary';

export function passwordDigest(nonce: Buffer, created: string, password: string): string {
  return createHash('sha1').update(Buffer.concat([nonce, Buffer.from(created, 'utf8'), Buffer.from(password, 'utf8')])).digest('base64');
}

/** The `<Security>` header for one request; `createdIso` comes from the (injected) clock. */
export function usernameTokenHeader(username: string, password: string, createdIso: string, nonce: Buffer = randomBytes(16)): string {
  return (
    `<Security s:mustUnderstand="1" xmlns="${WSSE_NS}"><UsernameToken>` +
    `<Username>${escapeXml(username)}</Username>` +
    `<Password Type="${DIGEST_TYPE}">${passwordDigest(nonce, createdIso, password)}</Password>` +
    `<Nonce EncodingType="${BASE64_TYPE}">${nonce.toString('base64')}</Nonce>` +
    `<Created xmlns="${WSU_NS}">${createdIso}</Created>` +
    `</UsernameToken></Security>`
  );
}

/** Checks a received token (the simulated camera's side). */
export function verifyUsernameToken(token: { username: string; digest: string; nonce: string; created: string }, expectedUser: string, password: string): boolean {
  if (token.username !== expectedUser) return false;
  return passwordDigest(Buffer.from(token.nonce, 'base64'), token.created, password) === token.digest;
}

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
