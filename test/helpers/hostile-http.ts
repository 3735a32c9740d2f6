/**
 * HTTP callers that misbehave on purpose, written on raw sockets (no HTTP client would send these):
 * a request that declares a body and never finishes it, and a request whose answer is never read.
 * Shared by the tests of the listeners' bounds (test/operator-adversary-pictures.test.ts,
 * test/vmc-evidence-unread.test.ts, core/close-unread.test.ts and the device listener's tests).
 */
import { connect, type Socket } from 'node:net';

export interface AnswerHead {
  status: number;
  /** Header names in lower case. */
  headers: Record<string, string>;
}

export interface PartialRequest {
  socket: Socket;
  /** The answer's status and headers, once they have arrived. */
  head: Promise<AnswerHead>;
  /** Resolves once the server has closed the connection (its end, or a reset). */
  closed: Promise<void>;
  /** Sends more of the body (what a caller that is not stopped by the answer does). */
  send(bytes: Buffer): void;
}

export interface UnreadRequest {
  socket: Socket;
  /** Closes this end at once: the server, which still has bytes for it, sees a reset. */
  destroy(): void;
}

/** A request line and headers (Host added), ending with the blank line. */
export function requestHead(method: string, path: string, headers: Record<string, string> = {}): string {
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)];
  return `${lines.join('\r\n')}\r\n\r\n`;
}

function parseHead(text: string): AnswerHead {
  const [statusLine = '', ...lines] = text.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(statusLine.split(' ')[1]), headers };
}

/**
 * `method path` declaring a body of `declaredBytes` (Content-Length) of which only the first
 * `sentBytes` are sent; the rest never comes unless the test sends it. The answer is read as it
 * arrives.
 */
export function partialRequest(port: number, options: { method: string; path: string; headers?: Record<string, string>; declaredBytes: number; sentBytes: number }): PartialRequest {
  const socket = connect(port, '127.0.0.1');
  let received = '';
  let resolveHead: (head: AnswerHead) => void = () => undefined;
  const head = new Promise<AnswerHead>((resolve) => (resolveHead = resolve));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.setEncoding('latin1');
  socket.on('data', (more: string) => {
    received += more;
    const end = received.indexOf('\r\n\r\n');
    if (end >= 0) resolveHead(parseHead(received.slice(0, end)));
  });
  // The server hangs up on it, maybe while it is still sending: that is what is tested.
  socket.on('error', () => undefined);
  socket.write(requestHead(options.method, options.path, { ...options.headers, 'Content-Length': String(options.declaredBytes) }));
  socket.write(Buffer.alloc(options.sentBytes, 0x61));
  return { socket, head, closed, send: (bytes) => void (socket.destroyed ? undefined : socket.write(bytes)) };
}

/**
 * A whole `GET path` whose answer is never read: the socket stops reading at once, so the answer
 * fills the kernel's buffers on both ends and the rest waits in the server's memory until the
 * connection is closed (by `destroy`, or by the server's connection timeout).
 */
export function unreadRequest(port: number, path: string, headers: Record<string, string> = {}): UnreadRequest {
  const socket = connect(port, '127.0.0.1');
  socket.pause();
  socket.on('error', () => undefined);
  socket.write(requestHead('GET', path, headers));
  return { socket, destroy: () => void socket.destroy() };
}
