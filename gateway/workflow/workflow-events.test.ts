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
import { createEventFactory } from '../../contract/envelope.js';
import { EVENT_SCHEMA_DIR } from '../../contract/json-schemas.js';
import { PACKAGE_ROOT } from '../../core/package-info.js';
import { crossingRecord, trsReport, type CrossingRecord } from '../../contract/trs-report.js';
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
    const events = produced.flatMap((event) => toCatalogueEvents('p1', 'lane-1', event)).map((e, i) => ({ ...factory.create(e.type, e.laneId, e.data, e.subject), seq: i + 1 }));
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

  it('documents in docs/events.md every lane alarm code the workflow raises', () => {
    const doc = readFileSync(join(PACKAGE_ROOT, 'docs', 'events.md'), 'utf8');
    const raised = ['lane-workflow.ts', 'post-workflow.ts'].flatMap((file) => [...readFileSync(join(PACKAGE_ROOT, 'gateway', 'workflow', file), 'utf8').matchAll(/'(WF_[A-Z_]+)'/g)].map((m) => m[1]!));
    expect(raised).toContain('WF_BARRIER_CLOSED_AFTER_RETRY');
    expect(raised.filter((code) => !doc.includes(`\`${code}\``))).toEqual([]);
  });

  it('puts alarms and operator actions on the lane they concern, with the crossing as subject, and says what detected an arrival', () => {
    const clock = new ManualClock();
    const produced: WorkflowEvent[] = [];
    const workflow = new LaneWorkflow({
      laneId: 'lane-3',
      clock,
      clockQuality: () => ({ synchronised: true, offsetMs: 0 }),
      emit: (event) => produced.push(event),
      assessRisk: () => ({ channel: 'green', score: 0, modelVersion: 'rules', reasons: [], xrayRequested: false }),
      abandonAfterMs: 3_600_000,
    });
    const seen = workflow.arrive(null, 'truck', null); // the entry camera, plate unread
    const entered = workflow.arrive('GE-404-DD', 'van', null, 'operator');
    workflow.setPlate(seen.crossingId, 'GE-505-EE', { id: 'op-1', role: 'operator' }, 'read off the cab');
    const events = produced.flatMap((event) => toCatalogueEvents('p1', 'lane-3', event));
    expect(events.filter((e) => e.type === 'vehicle.arrived').map((e) => [e.subject, e.laneId, (e.data as { detectedBy: string }).detectedBy])).toEqual([
      [seen.crossingId, 'lane-3', 'anpr'],
      [entered.crossingId, 'lane-3', 'operator'],
    ]);
    expect(events.filter((e) => e.type === 'alarm.raised' || e.type === 'operator.action').map((e) => [e.type, e.laneId, e.subject])).toEqual([
      ['alarm.raised', 'lane-3', seen.crossingId],
      ['operator.action', 'lane-3', seen.crossingId],
    ]);
    // A lane alarm says how serious it is (warning unless said otherwise); one without a crossing has no subject.
    const [info] = toCatalogueEvents('p1', 'lane-3', { kind: 'alarm', alarm: 'WF_BARRIER_CLOSED_AFTER_RETRY', message: 'closed', crossingId: null, details: { barrierId: 'bar-3' }, severity: 'info' });
    expect(info).toEqual({ type: 'alarm.raised', laneId: 'lane-3', data: { alarm: 'WF_BARRIER_CLOSED_AFTER_RETRY', severity: 'info', message: 'closed', details: { barrierId: 'bar-3', crossingId: null } } });
    expect(events.find((e) => e.type === 'alarm.raised')?.data).toMatchObject({ alarm: 'WF_PLATE_UNREAD', severity: 'warning' });
  });
});
