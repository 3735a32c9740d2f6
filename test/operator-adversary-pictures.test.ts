/**
 * An operator's session in hostile hands against the console's pictures (`GET /api/images/…`), on
 * the operators' listener over real sockets. Each answer holds its picture's bytes until the socket
 * has taken them; before the bound only the read from disk was counted, so clients that asked and
 * never read held a copy each (hundreds within the connection limits). Now the answers hold 16 MiB
 * in all (PICTURE_BYTES_IN_FLIGHT) and those of one account 4 MiB (PICTURE_BYTES_PER_ACCOUNT, or
 * one picture): with 6 MiB pictures one account's unread answer is held and its next refused
 * while another operator is served, two accounts' unread answers are held and a third's request is
 * answered 503 GW_ERR_IMAGE_BUSY, the bytes come back when the clients go, and pictures are
 * served again. A GET that carries a body it never finishes is answered and its connection
 * closed, the rest of its body never read (core/close-unread.ts).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Account } from '../gateway/auth/account-store.js';
import { listen } from '../gateway/http/servers.js';
import type { PostRuntime } from '../gateway/post-runtime.js';
import { PICTURE_BYTES_IN_FLIGHT, PICTURE_BYTES_PER_ACCOUNT } from '../gateway/workflow/lane-console.js';
import { partialRequest, unreadRequest, type UnreadRequest } from './helpers/hostile-http.js';
import { startOneLanePost, type OneLanePost } from './helpers/one-lane-post.js';
import { budgetReaches } from './helpers/budget-watch.js';

const MIB = 1024 * 1024;
/** Larger than what the kernel's socket buffers take of an answer nobody reads (a few MiB on loopback). */
const PICTURE_BYTES = 6 * MIB;

describe('console pictures asked for and never read', () => {
  let post: OneLanePost;
  let runtime: PostRuntime;
  let port: number;
  /** Bearer headers of three operators' sessions. */
  let operator: Record<string, string>;
  let colleague: Record<string, string>;
  let third: Record<string, string>;
  let url: string;
  const picture = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), randomBytes(PICTURE_BYTES - 4)]);
  const clients: UnreadRequest[] = [];

  beforeAll(async () => {
    post = await startOneLanePost();
    runtime = post.runtime as PostRuntime;
    const { gateway } = post;
    if (!gateway.operatorApp) throw new Error('no operator app');
    port = (await listen(gateway.operatorApp, '127.0.0.1', 0, false)).address.port;
    const session = (name: string): Record<string, string> => {
      gateway.accounts.addAccount(name, 'operator', 'scrypt$unused');
      return { Authorization: `Bearer ${gateway.sessions.create(gateway.accounts.account(name) as Account).token}` };
    };
    [operator, colleague, third] = [session('the-operator'), session('a-colleague'), session('a-third')];
    // Kept on disk only (no camera holds it): each answer reads a copy.
    const stored = await runtime.evidence.store.put(picture, { kind: 'plate-snapshot', contentType: 'image/jpeg', crossing: null, deviceId: 'cam-1', forward: false });
    url = `/api/images/${stored?.digest ?? ''}`;
  });

  afterAll(async () => {
    for (const client of clients) client.destroy();
    await post?.stop();
  });

  const unread = (authorization: Record<string, string>): UnreadRequest => {
    const client = unreadRequest(port, url, authorization);
    clients.push(client);
    return client;
  };
  const get = (authorization: Record<string, string>) => fetch(`http://127.0.0.1:${port}${url}`, { headers: authorization });

  it("holds an account's unread answers to its share and 16 MiB in all, refuses past them with 503, and serves again once they are gone", async () => {
    const budget = runtime.laneConsole.pictureBytes;
    expect([budget.limit, budget.perHolder]).toEqual([PICTURE_BYTES_IN_FLIGHT, PICTURE_BYTES_PER_ACCOUNT]);
    expect([PICTURE_BYTES_IN_FLIGHT, PICTURE_BYTES_PER_ACCOUNT]).toEqual([16 * MIB, 4 * MIB]);
    // One picture is over an account's share: its first is served, its second refused.
    const held = [unread(operator)];
    await budgetReaches(budget, () => budget.reservations === 1);
    const refusedToHer = await get(operator);
    expect(refusedToHer.status).toBe(503);
    expect(refusedToHer.headers.get('retry-after')).toBe('1');
    expect(await refusedToHer.json()).toMatchObject({ code: 'GW_ERR_IMAGE_BUSY' });
    expect(budget.heldBy('the-operator')).toBe(PICTURE_BYTES);

    // Another operator is served beside her (before the shares, her clients took the whole budget).
    const servedBeside = await get(colleague);
    expect(servedBeside.status).toBe(200);
    expect(Buffer.from(await servedBeside.arrayBuffer()).equals(picture)).toBe(true);
    await budgetReaches(budget, () => budget.held === PICTURE_BYTES);

    // Two accounts' unread answers: 12 MiB; a third account's picture would take it over 16.
    held.push(unread(colleague));
    await budgetReaches(budget, () => budget.reservations === 2);
    expect(budget.held).toBe(2 * PICTURE_BYTES);
    const refused = await get(third);
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({ code: 'GW_ERR_IMAGE_BUSY' });
    // Ten more that never read: each refused before a copy is read; nothing more is held.
    const refusedBefore = budget.refusals.budget + budget.refusals.share;
    held.push(...Array.from({ length: 10 }, (_, i) => unread(i % 2 === 0 ? operator : colleague)));
    expect((await Promise.all([get(operator), get(colleague), get(third)])).map((answer) => answer.status)).toEqual([503, 503, 503]);
    await budgetReaches(budget, () => budget.refusals.budget + budget.refusals.share === refusedBefore + 13);
    expect(budget.held).toBe(2 * PICTURE_BYTES);
    // Counted for /metrics by cause: an account's second over its share, the rest past the 16 MiB.
    const { share, budget: overBudget } = budget.refusals;
    expect(share).toBeGreaterThan(0);
    expect(overBudget).toBeGreaterThan(0);
    const metrics = await post.gateway.metrics.registry.getSingleMetricAsString('gateway_image_busy_total');
    expect(metrics).toContain(`gateway_image_busy_total{cause="share"} ${share}`);
    expect(metrics).toContain(`gateway_image_busy_total{cause="budget"} ${overBudget}`);

    for (const client of held) client.destroy();
    await budgetReaches(budget, () => budget.held === 0);
    const served = await get(operator);
    expect(served.status).toBe(200);
    expect(Buffer.from(await served.arrayBuffer()).equals(picture)).toBe(true);
    await budgetReaches(budget, () => budget.held === 0 && budget.heldBy('the-operator') === 0);
  });

  it('answers a GET whose body never ends and closes its connection, the rest of the body unread', async () => {
    const request = partialRequest(port, { method: 'GET', path: url, headers: operator, declaredBytes: 1024 * MIB, sentBytes: 1024 });
    const head = await request.head;
    expect(head.status).toBe(200);
    expect(head.headers.connection).toBe('close');
    // Before: the connection stayed open and the gateway read (and threw away) whatever came.
    await request.closed;
    const pictures = runtime.laneConsole.pictureBytes;
    await budgetReaches(pictures, () => pictures.held === 0);
  });
});
