/**
 * When a request is over for the listener: its response closed (answered, or its client gone), or
 * its socket did. A pipelined request's response waits behind the one before it and, its client
 * gone first, never gets the socket nor emits 'close': the socket's close is then the only sign (a
 * review found a push's budget and handling slot held for ever without it). The gateway's device
 * pushes give back what they hold with it; the VMC's TRS reports stop for a client gone.
 */
import type { Socket } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * What waits for each socket's close: one listener per socket, however many pipelined requests
 * wait on it (a listener each set off Node's MaxListenersExceededWarning at 11, a review found).
 */
const waitingOnSocket = new WeakMap<Socket, Set<() => void>>();

function onSocketClose(socket: Socket, closed: () => void): () => void {
  const waiting = waitingOnSocket.get(socket) ?? new Set<() => void>();
  if (!waitingOnSocket.has(socket)) {
    waitingOnSocket.set(socket, waiting);
    socket.once('close', () => {
      waitingOnSocket.delete(socket);
      for (const callback of waiting) callback();
    });
  }
  waiting.add(closed);
  return () => {
    waiting.delete(closed);
  };
}

/**
 * Calls `ended` once, when the request's response or socket closes; at once (and answers false)
 * when either is gone already. Answers true when it waits.
 */
export function onRequestEnded(request: FastifyRequest, reply: FastifyReply, ended: () => void): boolean {
  const response = reply.raw;
  const socket = request.raw.socket;
  if (response.destroyed || response.writableFinished || socket.destroyed) {
    ended();
    return false;
  }
  let stopWaitingOnSocket = (): void => undefined;
  const closed = (): void => {
    response.off('close', closed);
    stopWaitingOnSocket();
    ended();
  };
  response.once('close', closed);
  stopWaitingOnSocket = onSocketClose(socket, closed);
  return true;
}
