/**
 * The camera side: `count` pushes with at most `inFlight` requests outstanding, over keep-alive
 * connections (one per request in flight, as a camera keeps its connection), each timed from the
 * first byte written to the last byte of the answer. A push that fails (refused connection, reset,
 * no answer in time) is recorded as such, not retried: a camera would retry, but here a failure is
 * what the run measures.
 */
import { Agent, request } from 'node:http';
import type { CameraPushes } from './camera-push.js';

/** Longest a push may wait for its answer before it counts as failed. */
const REQUEST_TIMEOUT_MS = 30_000;

export interface PushRecord {
  plate: string;
  /** HTTP status, or null when the push got no answer. */
  status: number | null;
  error: string | null;
  /** performance.now() when it was sent and when its answer ended. */
  sentMs: number;
  answeredMs: number;
}

export interface LoadOptions {
  url: URL;
  headers: Record<string, string>;
  pushes: CameraPushes;
  /** Prefix of this run's plates: no two runs share a plate. */
  platePrefix: string;
  count: number;
  inFlight: number;
  /** Called after each push has its answer (or failed), with how many have so far. */
  onSettled?: (settled: number) => void;
}

export async function runLoad(options: LoadOptions): Promise<PushRecord[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.inFlight });
  const records: PushRecord[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < options.count) {
      const n = next;
      next += 1;
      records.push(await pushOnce(agent, options, n));
      options.onSettled?.(records.length);
    }
  };
  try {
    await Promise.all(Array.from({ length: options.inFlight }, () => worker()));
  } finally {
    agent.destroy();
  }
  return records;
}

function pushOnce(agent: Agent, options: LoadOptions, n: number): Promise<PushRecord> {
  const push = options.pushes.push(options.platePrefix, n, Date.now());
  const sentMs = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const finish = (status: number | null, error: string | null): void => {
      if (settled) return;
      settled = true;
      resolve({ plate: push.plate, status, error, sentMs, answeredMs: performance.now() });
    };
    const req = request(
      options.url,
      {
        method: 'POST',
        agent,
        headers: { ...options.headers, 'content-type': push.contentType, 'content-length': push.contentLength },
        timeout: REQUEST_TIMEOUT_MS,
      },
      (res) => {
        res.on('data', () => undefined);
        res.on('end', () => finish(res.statusCode ?? null, null));
        res.on('error', (error) => finish(null, error.message));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', (error) => finish(null, error.message));
    for (const chunk of push.chunks.slice(0, -1)) req.write(chunk);
    req.end(push.chunks[push.chunks.length - 1]);
  });
}
