/**
 * The workflow's output, mapped to catalogue events, validates against the published JSON
 * Schemas, and its crossings give a TRS report with the shares the rules produced.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { createEventFactory } from '../events/envelope.js';
import { EVENT_SCHEMA_DIR } from '../events/json-schemas.js';
import { crossingRecord, trsReport, type CrossingRecord } from '../trs/trs-report.js';
import { LaneWorkflow, type WorkflowEvent } from './lane-workflow.js';
import { rulesRisk } from './rules-risk.js';
import { toCatalogueEvents } from './workflow-events.js';

describe('workflow events', () => {
  it('validate against docs/schemas and feed the TRS report', async () => {
    const clock = new ManualClock();
    const factory = createEventFactory('p1', clock);
    const produced: WorkflowEvent[] = [];
    let seed = 3;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const workflow = new LaneWorkflow({
      laneId: 'lane-1',
      clock,
      clockQuality: () => ({ synchronised: false, offsetMs: null }),
      emit: (event) => produced.push(event),
      assessRisk: (crossing) => rulesRisk(crossing, { watchlist: ['WL001'], weightToleranceShare: 0.1, randomXrayShare: 0.2, random }),
      abandonAfterMs: 6 * 3_600_000,
    });
    for (let i = 0; i < 200; i += 1) {
      const plate = i % 50 === 0 ? 'WL001' : `GE${String(i).padStart(3, '0')}AB`;
      const crossing = workflow.arrive(plate);
      clock.advance(60_000 * (60 + (i % 80)));
      workflow.register(crossing.crossingId, { direction: i % 2 ? 'import' : 'export', declaredWeightKg: 20_000, documents: [`SAD-${i}`], aeo: i % 7 === 0 });
      clock.advance(5 * 60_000);
      await workflow.weigh(i % 9 === 0 ? 26_000 : 20_200);
      if (crossing.state === 'scanning') {
        clock.advance(20 * 60_000);
        workflow.scanCompleted(crossing.crossingId, 'clear', 'scanner-1');
      }
      if (crossing.state === 'inspecting') {
        clock.advance(45 * 60_000);
        workflow.inspectionCompleted(crossing.crossingId, 'cleared');
      }
      clock.advance(10 * 60_000);
      workflow.exit(plate);
    }
    const ajv = new Ajv2020({ strict: false });
    addFormats.default(ajv);
    const events = produced.flatMap((event) => toCatalogueEvents('p1', event)).map((e, i) => ({ ...factory.create(e.type, e.laneId, e.data, e.subject), seq: i + 1 }));
    for (const event of JSON.parse(JSON.stringify(events)) as { type: string }[]) {
      const validate = ajv.getSchema(event.type) ?? ajv.compile({ ...(JSON.parse(readFileSync(join(EVENT_SCHEMA_DIR, `${event.type}.json`), 'utf8')) as object), $id: event.type });
      expect(validate(event), `${event.type}: ${ajv.errorsText(validate.errors)}`).toBe(true);
    }
    const report = trsReport(events.map((e) => crossingRecord(JSON.parse(JSON.stringify(e)) as Record<string, unknown>)).filter((r): r is CrossingRecord => r !== null));
    expect(report.vehicles).toBe(200);
    expect(report.channels.red).toBeCloseTo(4 / 200, 3); // the four watchlisted arrivals
    expect(report.channels.orange).toBeGreaterThan(0.05);
    expect(report.xrayShare).toBeGreaterThan(report.channels.orange! + report.channels.red!);
    expect(report.registration.avgMin).toBeGreaterThan(60);
  });
});
