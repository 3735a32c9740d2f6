/**
 * One HTTP request to a device, bounded where it is made: the reply body may not exceed
 * `maxBytes` (a Content-Length above it is refused before the body is read; a body without one is
 * counted as it streams, and the socket is destroyed the moment it passes the cap, so at most
 * `maxBytes` are ever held), the whole exchange (connect, headers, body) must finish within
 * `timeoutMs` on the injected clock, however steadily the device trickles, and the headers are
 * bounded by Node's parser (`maxHeaderBytes`). Redirects are never followed: a device does not get
 * to send our request, and its credentials, elsewhere.
 */
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Clock } from '../../core/clock.js';
import { GatewayError } from '../../core/errors.js';
import { TimeoutError, withTimeout } from '../../core/with-timeout.js';

export interface HttpExchangeRequest {
  /** Where to send: only an address the caller has accepted (for cameras, drivers/anpr/device-address.ts). */
  url: URL;
  method: 'GET' | 'POST';
  headers?: Record<string, string>;
  /** The request body; its Content-Length is set from it. */
  body?: string | Buffer;
  /** Largest reply body accepted, in bytes. */
  maxBytes: number;
  /** Deadline of the whole exchange, in ms of `clock`. */
  timeoutMs: number;
  clock: Clock;
  /** Names the exchange in errors, e.g. `cam-1 GetCapabilities`. */
  what: string;
  /** Largest reply header block; default 16 KiB (Node's own default, made explicit). */
  maxHeaderBytes?: number;
}

export interface HttpReply {
  status: number;
  statusText: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export const DEFAULT_MAX_HEADER_BYTES = 16 * 1024;

export async function httpExchange(request: HttpExchangeRequest): Promise<HttpReply> {
  const { url, what, maxBytes } = request;
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`${what}: ${url.protocol} is not http or https`);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const body = request.body === undefined ? undefined : Buffer.isBuffer(request.body) ? request.body : Buffer.from(request.body, 'utf8');
  const outgoing = send(url, {
    method: request.method,
    headers: { ...request.headers, ...(body ? { 'content-length': String(body.length) } : {}) },
    maxHeaderSize: request.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES,
  });
  const exchange = new Promise<HttpReply>((resolve, reject) => {
    outgoing.on('error', reject);
    outgoing.once('response', (response: IncomingMessage) => {
      const declared = Number(response.headers['content-length']);
      if (Number.isFinite(declared) && declared > maxBytes) {
        outgoing.destroy();
        reject(tooLarge(what, maxBytes, `the reply announces ${declared} bytes (Content-Length), over the limit of ${maxBytes}`));
        return;
      }
      const chunks: Buffer[] = [];
      let received = 0;
      response.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > maxBytes) {
          chunks.length = 0;
          outgoing.destroy();
          reject(tooLarge(what, maxBytes, `the reply passed the limit of ${maxBytes} bytes and was cut off`));
          return;
        }
        chunks.push(chunk);
      });
      response.on('error', (error) => reject(new Error(`${what}: the reply was cut short (${error.message})`, { cause: error })));
      response.once('end', () => {
        // A reply whose connection closed short of its Content-Length is not a reply.
        if (!response.complete) reject(new Error(`${what}: the reply was cut short`));
        else resolve({ status: response.statusCode ?? 0, statusText: response.statusMessage ?? '', headers: response.headers, body: Buffer.concat(chunks) });
      });
      response.once('close', () => {
        if (!response.complete) reject(new Error(`${what}: the reply was cut short (connection closed)`));
      });
    });
  });
  outgoing.end(body);
  try {
    return await withTimeout(exchange, request.timeoutMs, request.clock, what);
  } catch (error) {
    outgoing.destroy();
    if (error instanceof TimeoutError) {
      throw new GatewayError('GW_ERR_DEVICE_REPLY_TIMEOUT', `${what}: the reply was not complete within ${request.timeoutMs} ms`, { cause: error });
    }
    throw error;
  }
}

function tooLarge(what: string, maxBytes: number, message: string): GatewayError {
  return new GatewayError('GW_ERR_DEVICE_REPLY_TOO_LARGE', `${what}: ${message}`, { details: { maxBytes } });
}
