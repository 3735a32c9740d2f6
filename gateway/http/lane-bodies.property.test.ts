/**
 * Property: whatever body reaches a lane API route (arbitrary JSON values, and valid bodies with
 * one field made hostile), the answer is a refusal with a stable code or a success whose crossing
 * holds only bounded, normalised values: never a 5xx, never a thrown error, never a stored plate
 * outside [A-Z0-9]{1,16} or a weight outside (0, 200,000].
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Account } from '../auth/account-store.js';
import type { Gateway } from '../daemon.js';
import type { PostRuntime } from '../post-runtime.js';
import { startOneLanePost, type OneLanePost } from '../../test/helpers/one-lane-post.js';

let post: OneLanePost;
let gateway: Gateway;
let headers: Record<string, string>;

beforeAll(async () => {
  post = await startOneLanePost({ extraYaml: 'workflow: { abandonAfterMin: 1 }' });
  gateway = post.gateway;
  headers = { authorization: `Bearer desk.${gateway.accounts.addClient('desk', 'registration')}`, 'content-type': 'application/json' };
}, 30_000);

afterAll(() => post.stop());

const hostileString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.constantFrom('', ' ', '\u0000', '\u200B', 'A\u0000B', '京A12345', 'АВ-123-СD', '<script>', "'; DROP TABLE audit; --", '%s%n', '__proto__', 'x'.repeat(70_000)),
);
const hostileValue = fc.oneof(hostileString, fc.double(), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 30 }), fc.object({ maxDepth: 2 }));
const validRegistration = fc.record({
  plate: fc.constantFrom('GE123AB', 'ge-123-ab', 'AB 123 CD'),
  direction: fc.constantFrom('import', 'export', 'transit-entry'),
  declaredWeightKg: fc.oneof(fc.constant(null), fc.integer({ min: 1, max: 200_000 })),
  documents: fc.array(fc.constantFrom('SAD-1', 'CMR-2'), { maxLength: 3 }),
});
const hostileRegistration = fc.tuple(validRegistration, fc.constantFrom('plate', 'direction', 'declaredWeightKg', 'documents', 'vehicleType', 'crossingId', 'aeo', 'operatorId', '__proto__', 'constructor'), hostileValue).map(([body, key, value]) => ({ ...body, [key]: value }));

describe('lane API bodies', () => {
  it('never fail, and accept only bounded values (10,000 bodies)', async () => {
    const app = gateway.operatorApp;
    if (!app) throw new Error('no operator app');
    await fc.assert(
      fc.asyncProperty(fc.oneof(hostileRegistration, fc.jsonValue({ maxDepth: 4 }), fc.string({ maxLength: 200 })), async (body) => {
        const response = await app.inject({ method: 'POST', url: '/api/lanes/lane-1/registrations', headers, payload: typeof body === 'string' ? body : JSON.stringify(body) });
        expect([201, 400, 403, 409, 413]).toContain(response.statusCode);
        const json = response.json<{ code?: string; plate?: string; declaredWeightKg?: number | null }>();
        if (response.statusCode !== 201) {
          expect(json.code).toMatch(/^GW_ERR_[A-Z_]+$/);
          return;
        }
        expect(json.plate).toMatch(/^[A-Z0-9]{1,16}$/);
        // What the crossing holds of the declaration, not only what the answer shows.
        const stored = (post.runtime as PostRuntime).post.lane('lane-1').workflow.get((json as { crossingId: string }).crossingId);
        expect(stored.declaration?.documents.length ?? 0).toBeLessThanOrEqual(20);
        for (const document of stored.declaration?.documents ?? []) expect(document.length).toBeLessThanOrEqual(64);
        expect((stored.vehicleType ?? '').length).toBeLessThanOrEqual(32);
        if (json.declaredWeightKg !== null && json.declaredWeightKg !== undefined) {
          expect(json.declaredWeightKg).toBeGreaterThan(0);
          expect(json.declaredWeightKg).toBeLessThanOrEqual(200_000);
        }
      }),
      { numRuns: 10_000 },
    );
  }, 120_000);

  it('holds each field to its bound: one past it refused (400) before the route runs, at it past the schema', async () => {
    const app = gateway.operatorApp;
    if (!app) throw new Error('no operator app');
    gateway.accounts.addAccount('bounds-supervisor', 'supervisor', 'scrypt$unused');
    const supervisor = { authorization: `Bearer ${gateway.sessions.create(gateway.accounts.account('bounds-supervisor') as Account).token}`, 'content-type': 'application/json' };
    const send = async (url: string, body: Record<string, unknown>, as: Record<string, string> = supervisor): Promise<number> => (await app.inject({ method: 'POST', url, headers: as, payload: JSON.stringify(body) })).statusCode;
    const registration = { plate: 'GE123AB', direction: 'import', declaredWeightKg: 12_000 };
    const registrations = '/api/lanes/lane-1/registrations';
    expect(await send(registrations, { ...registration, documents: Array.from({ length: 20 }, (_, i) => `D${i}`.padEnd(64, 'x')) }, headers)).toBe(201);
    expect(await send(registrations, { ...registration, documents: Array.from({ length: 21 }, (_, i) => `D${i}`) }, headers)).toBe(400);
    expect(await send(registrations, { ...registration, documents: ['x'.repeat(65)] }, headers)).toBe(400);
    expect(await send(registrations, { ...registration, vehicleType: 'a'.repeat(32) }, headers)).toBe(201);
    expect(await send(registrations, { ...registration, vehicleType: 'a'.repeat(33) }, headers)).toBe(400);
    expect(await send(registrations, { ...registration, crossingId: 'c'.repeat(65) }, headers)).toBe(400);
    expect(await send(registrations, { ...registration, plate: 'A'.repeat(33) }, headers)).toBe(400);
    expect(await send(registrations, { ...registration, previousVisits30d: 10_001 }, headers)).toBe(400);
    // A reason on every step that takes one: a crossing that does not exist answers past the schema.
    const steps: Array<[string, Record<string, unknown>]> = [
      ['plate', { plate: 'GE123AB' }],
      ['weight', { weightKg: 12_000 }],
      ['inspection', { outcome: 'cleared' }],
      ['channel', { channel: 'green' }],
      ['release', {}],
    ];
    for (const [name, fields] of steps) {
      const url = `/api/lanes/lane-1/crossings/none/${name}`;
      expect(await send(url, { ...fields, reason: 'r'.repeat(500) }), `${name} at 500`).not.toBe(400);
      expect(await send(url, { ...fields, reason: 'r'.repeat(501) }), `${name} at 501`).toBe(400);
    }
  });
});
