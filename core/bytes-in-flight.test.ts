import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { BytesInFlight, releaseWhenSent } from './bytes-in-flight.js';

describe('BytesInFlight', () => {
  it('grants reservations up to its limit, refuses past it, and takes back what is released, once', () => {
    const budget = new BytesInFlight(100);
    const first = budget.reserve(60);
    const second = budget.reserve(40);
    expect([first?.bytes, second?.bytes, budget.held, budget.reservations]).toEqual([60, 40, 100, 2]);
    expect(budget.reserve(1)).toBeNull();
    first?.release();
    first?.release();
    expect([budget.held, budget.reservations]).toEqual([40, 1]);
    expect(budget.reserve(61)).toBeNull();
    expect(budget.reserve(60)?.bytes).toBe(60);
  });

  it('grants one reservation over the limit when nothing else is held, and nothing beside it', () => {
    const budget = new BytesInFlight(100);
    const large = budget.reserve(250);
    expect(large?.bytes).toBe(250);
    expect(budget.reserve(1)).toBeNull();
    large?.release();
    expect([budget.held, budget.reservations]).toEqual([0, 0]);
  });
});

describe('BytesInFlight shared out per holder', () => {
  it("keeps each holder within its share, one piece always when it holds none, and the limit over all", () => {
    const budget = new BytesInFlight(100, 30);
    const ana = budget.holder('ana');
    const bo = budget.holder('bo');
    const first = ana.reserve(20);
    expect(first?.bytes).toBe(20);
    expect(ana.reserve(11)).toBeNull();
    expect(ana.reserve(10)?.bytes).toBe(10);
    expect(budget.heldBy('ana')).toBe(30);
    // Over the share, as a first piece: granted while the limit allows it.
    const large = bo.reserve(60);
    expect(large?.bytes).toBe(60);
    expect([budget.held, budget.heldBy('bo')]).toEqual([90, 60]);
    // Within a third holder's share but over the limit: refused.
    expect(budget.holder('cy').reserve(11)).toBeNull();
    expect(budget.holder('cy').reserve(10)?.bytes).toBe(10);
    first?.release();
    first?.release();
    expect([budget.held, budget.heldBy('ana'), budget.reservations]).toEqual([80, 10, 3]);
    expect(ana.reserve(20)?.bytes).toBe(20);
    // Counted by cause: ana's 11 over her share, cy's 11 over the limit.
    expect(budget.refusals).toEqual({ budget: 1, share: 1 });
  });

  it('forgets a holder with nothing held, and counts reservations without one against the limit only', () => {
    const budget = new BytesInFlight(100, 10);
    const held = budget.holder('ana').reserve(50);
    held?.release();
    expect(budget.heldBy('ana')).toBe(0);
    expect((budget as unknown as { byHolder: Map<string, unknown> }).byHolder.size).toBe(0);
    expect(budget.reserve(60)?.bytes).toBe(60);
    expect(budget.reserve(40)?.bytes).toBe(40);
    expect(budget.holder('ana').reserve(1)).toBeNull();
  });
});

describe('releaseWhenSent', () => {
  it('releases when the answer is sent, and at once for an answer already closed', async () => {
    const budget = new BytesInFlight(100);
    const closedResponses: ServerResponse[] = [];
    const server = createServer((_request, response) => {
      const reservation = budget.reserve(10);
      if (!reservation) throw new Error('refused');
      releaseWhenSent(response, reservation);
      response.once('close', () => closedResponses.push(response));
      response.end('ten bytes!');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('ten bytes!');
      while (closedResponses.length === 0) await new Promise((resolve) => setImmediate(resolve));
      expect(budget.held).toBe(0);
      const late = budget.reserve(10);
      if (!late) throw new Error('refused');
      releaseWhenSent(closedResponses[0] as ServerResponse, late);
      expect(budget.held).toBe(0);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
