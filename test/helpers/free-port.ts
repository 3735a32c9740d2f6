/**
 * Free ports for the tests, from below the kernel's ephemeral range and from a block of their own
 * for each vitest worker.
 *
 * A port the OS hands out for listen(0) is free the moment it is asked for, but a test often
 * writes it into a configuration and listens on it seconds later (after `user add`, after a
 * broker starts). In between, any outgoing connection on the machine may take it as its source
 * port, and another worker's listen(0) may be handed it too: CI once failed so, a simulated
 * camera finding its port held. Ports below the ephemeral range are never given to connect() or
 * listen(0), and a block per worker keeps parallel test files apart; each candidate is still
 * bound once to skip what other services (or another test run on the machine) hold.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const LOWEST = 20_000;
/** Workers the blocks are cut for; more than vitest starts on any machine we run on. */
const BLOCKS = 16;

function ephemeralStart(): number {
  try {
    const [start] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    const value = Number(start);
    return Number.isInteger(value) && value > LOWEST + BLOCKS * 64 ? value : 32_768;
  } catch {
    return 32_768;
  }
}

const blockSize = Math.floor((ephemeralStart() - LOWEST) / BLOCKS);
const worker = Math.max(0, Number(process.env.VITEST_POOL_ID ?? 1) - 1) % BLOCKS;
const blockStart = LOWEST + worker * blockSize;
// Start at a different place each run, so two runs on one machine rarely walk the same ports.
let next = process.pid % blockSize;

function bindsOnLoopback(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A port of this worker's block that nothing holds right now; never the same one twice in a row. */
export async function freePort(): Promise<number> {
  for (let tried = 0; tried < blockSize; tried += 1) {
    const port = blockStart + next;
    next = (next + 1) % blockSize;
    if (await bindsOnLoopback(port)) return port;
  }
  throw new Error(`no free port in ${blockStart}-${blockStart + blockSize - 1}`);
}
