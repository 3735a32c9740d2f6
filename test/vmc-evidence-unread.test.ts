/**
 * Clients of the VMC's API that ask for evidence and never read the answer, on real sockets. Each
 * answer is a copy of the piece read from the store; before the bound each such client held one
 * (a few hundred of them, each a 48 MiB scan, were the VMC's memory). Now the copies held at once
 * are bounded (64 MiB; here a budget of 20 MiB the test can watch, for 8 MiB pieces, so that it
 * runs in seconds): past it a request is answered 503 GW_ERR_VMC_EVIDENCE_BUSY before anything is
 * read; one account's unread answers hold its share at most (16 MiB; here one piece) while
 * another account is served beside them; a closed client gives its bytes back, and one that just stops reading is let go by the
 * connection timeout (60 s; here shortened through the same option). A request refused before
 * its body was read closes its connection (core/close-unread.ts).
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BytesInFlight, type ByteBudget } from '../core/bytes-in-flight.js';
import { EVIDENCE_BYTES_IN_FLIGHT, EVIDENCE_BYTES_PER_CALLER } from '../vmc/evidence/evidence-routes.js';
import { buildVmcApp, CONNECTION_TIMEOUT_MS } from '../vmc/http/vmc-app.js';
import { VmcStore } from '../vmc/store/vmc-store.js';
import { VmcAuth } from '../vmc/vmc-auth.js';
import { partialRequest, unreadRequest, type UnreadRequest } from './helpers/hostile-http.js';
import { ManualClock } from './helpers/manual-clock.js';
import { tempDir } from './helpers/test-config.js';
import { digestOf, EventMaker } from './helpers/vmc-events.js';
import { budgetReaches } from './helpers/budget-watch.js';

const MIB = 1024 * 1024;
/** Larger than what the kernel's socket buffers take of an answer nobody reads (a few MiB on loopback). */
const PIECE_BYTES = 8 * MIB;
const BUDGET_BYTES = 20 * MIB;

/** A budget that remembers the most it held (what a client cut off quickly held for a moment). */
class WatchedBudget extends BytesInFlight {
  peak = 0;

  override holder(name: string): ByteBudget {
    const share = super.holder(name);
    return {
      reserve: (bytes) => {
        const reservation = share.reserve(bytes);
        this.peak = Math.max(this.peak, this.held);
        return reservation;
      },
    };
  }
}

describe('VMC evidence answers nobody reads', () => {
  const clock = new ManualClock(Date.UTC(2026, 10, 28, 12));
  const piece = randomBytes(PIECE_BYTES);
  const url = `/api/evidence/${digestOf(piece)}`;
  let store: VmcStore;
  let auth: VmcAuth;
  let token: string;
  const apps: FastifyInstance[] = [];
  const clients: UnreadRequest[] = [];

  beforeAll(async () => {
    store = await VmcStore.open(`sqlite:${join(tempDir('vmc-evidence-unread-'), 'vmc.db')}`, clock.now());
    const post = new EventMaker('post-a', new ManualClock(Date.UTC(2026, 10, 28, 11)));
    await store.store([post.evidenceStored(piece, 'xray-image', 'image/x-portable-graymap', 'c-1'), ...post.evidenceChunks(piece, 'xray-image', 'image/x-portable-graymap')], 'vmc-1', clock.now());
    auth = new VmcAuth(store, clock);
    await auth.addAccount('ana', 'analyst', 'analyst-password-1');
    await auth.addAccount('bo', 'analyst', 'analyst-password-2');
  });

  afterAll(async () => {
    for (const client of clients) client.destroy();
    for (const app of apps) await app.close();
    await store.close();
  });

  /** A VMC API on a free port with `budget` for its evidence answers; its port. */
  const serve = async (budget: BytesInFlight, connectionTimeoutMs?: number): Promise<{ app: FastifyInstance; port: number }> => {
    const app = await buildVmcApp({ store, auth, status: () => ({}), uiDir: null, clock, evidenceBytesInFlight: budget, ...(connectionTimeoutMs !== undefined ? { connectionTimeoutMs } : {}) });
    apps.push(app);
    await app.listen({ host: '127.0.0.1', port: 0 });
    token ??= (await app.inject({ method: 'POST', url: '/api/login', payload: { name: 'ana', password: 'analyst-password-1' } })).json<{ token: string }>().token;
    const address = app.server.address();
    return { app, port: typeof address === 'object' && address ? address.port : 0 };
  };
  const authorization = () => ({ Authorization: `Bearer ${token}` });
  const unread = (port: number): UnreadRequest => {
    const client = unreadRequest(port, url, authorization());
    clients.push(client);
    return client;
  };

  it('holds at most its budget for them, refuses the next with 503 before reading, and serves again once they are gone', async () => {
    const budget = new BytesInFlight(BUDGET_BYTES);
    const { port } = await serve(budget);
    const [first, second] = [unread(port), unread(port)];
    await budgetReaches(budget, () => budget.reservations === 2);
    expect(budget.held).toBe(2 * PIECE_BYTES);

    const refused = await fetch(`http://127.0.0.1:${port}${url}`, { headers: authorization() });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(await refused.json()).toMatchObject({ code: 'GW_ERR_VMC_EVIDENCE_BUSY' });
    // More of them change nothing: each is refused before its copy is read.
    const more = Array.from({ length: 8 }, () => unread(port));
    const answers = await Promise.all(Array.from({ length: 4 }, () => fetch(`http://127.0.0.1:${port}${url}`, { headers: authorization() }).then((answer) => answer.status)));
    expect(answers).toEqual([503, 503, 503, 503]);
    expect(budget.held).toBe(2 * PIECE_BYTES);

    // Still unread: still held (not given back when the copy was handed to the socket).
    for (const client of [first, second, ...more]) client.destroy();
    await budgetReaches(budget, () => budget.held === 0);
    const served = await fetch(`http://127.0.0.1:${port}${url}`, { headers: authorization() });
    expect(served.status).toBe(200);
    expect(Buffer.from(await served.arrayBuffer()).equals(piece)).toBe(true);
    await budgetReaches(budget, () => budget.held === 0);
  });

  it("holds one account's unread answers to its share, and serves another account beside them", async () => {
    // The VMC's own budget: a quarter of it per account.
    expect([EVIDENCE_BYTES_IN_FLIGHT, EVIDENCE_BYTES_PER_CALLER]).toEqual([64 * MIB, 16 * MIB]);
    const budget = new BytesInFlight(BUDGET_BYTES, PIECE_BYTES);
    const { app, port } = await serve(budget);
    const first = unread(port);
    await budgetReaches(budget, () => budget.reservations === 1);

    // Her second would take her over her share, though the budget has room for it: refused.
    const refused = await fetch(`http://127.0.0.1:${port}${url}`, { headers: authorization() });
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({ code: 'GW_ERR_VMC_EVIDENCE_BUSY' });
    expect(budget.heldBy('ana')).toBe(PIECE_BYTES);

    // Another analyst is served beside her, in full.
    const boToken = (await app.inject({ method: 'POST', url: '/api/login', payload: { name: 'bo', password: 'analyst-password-2' } })).json<{ token: string }>().token;
    const served = await fetch(`http://127.0.0.1:${port}${url}`, { headers: { Authorization: `Bearer ${boToken}` } });
    expect(served.status).toBe(200);
    expect(Buffer.from(await served.arrayBuffer()).equals(piece)).toBe(true);

    first.destroy();
    await budgetReaches(budget, () => budget.held === 0 && budget.heldBy('ana') === 0);
  });

  it('lets go of one that stops reading after the connection timeout (60 s by default), without it closing', async () => {
    const budget = new WatchedBudget(BUDGET_BYTES);
    const { app: defaults } = await serve(new BytesInFlight(BUDGET_BYTES));
    expect(defaults.server.timeout).toBe(CONNECTION_TIMEOUT_MS);
    expect(CONNECTION_TIMEOUT_MS).toBe(60_000);

    const { port } = await serve(budget, 500);
    const client = unread(port);
    await budgetReaches(budget, () => budget.peak === PIECE_BYTES && budget.held === 0);
    expect(client.socket.destroyed).toBe(false);
  });

  it('closes the connection of a request refused before its body was read', async () => {
    const { port } = await serve(new BytesInFlight(BUDGET_BYTES));
    // No credentials: 401 at the headers; 16 KiB declared (the VMC's body limit), 1 KiB sent.
    const refused = partialRequest(port, { method: 'POST', path: '/api/evidence/requests', headers: { 'Content-Type': 'application/json' }, declaredBytes: 16 * 1024, sentBytes: 1024 });
    const head = await refused.head;
    expect(head.status).toBe(401);
    expect(head.headers.connection).toBe('close');
    await refused.closed;
  });
});
