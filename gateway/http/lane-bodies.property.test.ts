/**
 * Property: whatever body reaches a lane API route (arbitrary JSON values, and valid bodies with
 * one field made hostile), the answer is a refusal with a stable code or a success whose crossing
 * holds only bounded, normalised values: never a 5xx, never a thrown error, never a stored plate
 * outside [A-Z0-9]{1,16} or a weight outside (0, 200,000].
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../daemon.js';
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
        if (json.declaredWeightKg !== null && json.declaredWeightKg !== undefined) {
          expect(json.declaredWeightKg).toBeGreaterThan(0);
          expect(json.declaredWeightKg).toBeLessThanOrEqual(200_000);
        }
      }),
      { numRuns: 10_000 },
    );
  }, 120_000);
});
