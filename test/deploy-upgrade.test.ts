/**
 * An upgrade over a data directory written by 0.1.0, the last release without schema versions
 * (test/fixtures/gateway-db-0.1.0.sql: that release's own code wrote it, with no broker, so its
 * events were still waiting). The current gateway recognises the database as schema version 1 and
 * loses nothing: every waiting event is delivered with its seq and id, per lane in order, and new
 * seqs continue after them; the open crossings are restored; accounts, clients and the audit
 * chain are intact. A database written by a newer gateway is refused and left as it was.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { verifyAudit } from '../gateway/auth/audit-log.js';
import { AccountStore } from '../gateway/auth/account-store.js';
import { GATEWAY_SCHEMA_VERSION, schemaVersionOf } from '../gateway/storage/migrations.js';
import { Collector, firstArrivalSeqsByLane } from './helpers/collector.js';
import { GatewayProcess, REPO_ROOT } from './helpers/gateway-process.js';
import { Mosquitto } from './helpers/mosquitto.js';
import { release010Database } from './helpers/release-database.js';
import { systemRig } from './helpers/rig.js';
import { tempDir } from './helpers/test-config.js';

const DEMO_CONFIG = join(REPO_ROOT, 'config', 'examples', 'demo-post.yaml');

interface StoredEvent {
  seq: number;
  id: string;
  payload: string;
}

/** What 0.1.0 left in the database, read with plain SQL before the current code touches it. */
function readRelease010(db: Database.Database) {
  return {
    events: db.prepare<[], StoredEvent>('SELECT seq, id, payload FROM events ORDER BY seq').all(),
    openCrossings: db.prepare<[], { crossing_id: string }>('SELECT crossing_id FROM open_crossings').all().map((row) => row.crossing_id),
    audit: db.prepare<[], { seq: number; hash: string }>('SELECT seq, hash FROM audit ORDER BY seq').all(),
    counts: Object.fromEntries(
      ['accounts', 'api_clients', 'completed_crossings', 'visits', 'model_versions'].map((table) => [table, (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n]),
    ),
  };
}

/** An event as published, without the flag the uplink adds to what it replays. */
function withoutReplayed(event: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(event).filter(([key]) => key !== 'replayed'));
}

describe('upgrade over a 0.1.0 data directory', () => {
  const rig = systemRig<Mosquitto>();

  it('delivers every waiting event with its seq, restores the open crossings, keeps accounts and the audit chain', async () => {
    const dataDir = tempDir('gw-upgrade-');
    const dbPath = join(dataDir, 'outbox.db');
    const written = release010Database(dbPath);
    const before = readRelease010(written);
    written.close();
    expect(before.events.map((e) => e.seq)).toEqual(Array.from({ length: 63 }, (_, i) => i + 1));
    expect(before.openCrossings).toHaveLength(16);

    const broker = (rig.broker = await Mosquitto.start());
    const collector = (rig.collector = await Collector.connect(broker.url));
    // The same post 0.1.0's demo ran, now with a broker: the waiting events go out first.
    const gateway = new GatewayProcess(['demo', '--config', DEMO_CONFIG, '--mqtt', broker.url, '--data', dataDir, '--free-ports', '--http-port', '0', '--log-level', 'info']);
    rig.processes.push(gateway);
    const restored = await gateway.waitForLog((line) => line.msg === 'open crossings restored after a restart', 60_000, 'the restore of open crossings');
    expect(restored.crossings).toBe(before.openCrossings.length);
    const lastOldSeq = before.events.length;
    await collector.waitFor((received) => received.some((m) => m.seq > lastOldSeq), 60_000, `the old events and a new one after seq ${lastOldSeq}`);
    await collector.waitFor((received) => before.events.every((e) => received.some((m) => m.seq === e.seq)), 60_000, 'every old seq');
    // The demo handles SIGTERM from just after its banner; a signal before that kills it outright.
    // Its first summary line (5 s after the banner) comes when the handler is surely in place.
    await gateway.waitForStdout((line) => line.startsWith('trucks '), 60_000, "the demo's first summary line");
    const stopped = await gateway.kill('SIGTERM');
    expect(stopped.code).toBe(0);

    // Each old event arrived under its seq, with its id and its content unchanged.
    for (const stored of before.events) {
      const arrived = collector.received.find((m) => m.seq === stored.seq);
      expect(arrived?.id).toBe(stored.id);
      expect(withoutReplayed(arrived?.event ?? {})).toEqual(withoutReplayed(JSON.parse(stored.payload) as Record<string, unknown>));
    }
    for (const [lane, seqs] of firstArrivalSeqsByLane(collector.received)) expect(seqs, lane).toEqual([...seqs].sort((a, b) => a - b));
    // New events numbered after the old ones: the seq was carried over, not restarted.
    const newSeqs = collector.received.filter((m) => !before.events.some((e) => e.id === m.id)).map((m) => m.seq);
    expect(newSeqs.length).toBeGreaterThan(0);
    expect(Math.min(...newSeqs)).toBe(lastOldSeq + 1);

    const upgraded = new Database(dbPath);
    expect(upgraded.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(schemaVersionOf(upgraded)).toBe(GATEWAY_SCHEMA_VERSION);
    const accounts = new AccountStore(upgraded);
    expect(accounts.account('ana')).toMatchObject({ role: 'admin', disabled: false, mustChangePassword: false });
    expect(accounts.account('bora')).toMatchObject({ role: 'operator', disabled: true });
    expect(accounts.clients().find((client) => client.name === 'registration')).toMatchObject({ role: 'registration', allowFrom: ['10.0.2.15'], disabled: false });
    const after = readRelease010(upgraded);
    expect(after.counts.api_clients).toBe(before.counts.api_clients);
    expect(after.counts.model_versions).toBe(before.counts.model_versions);
    expect(after.counts.completed_crossings).toBeGreaterThanOrEqual(before.counts.completed_crossings as number);
    // The chain of 0.1.0's ten entries is intact and the current code's entries extend it.
    expect(after.audit.slice(0, before.audit.length)).toEqual(before.audit);
    expect(verifyAudit(upgraded)).toMatchObject({ ok: true, problems: [] });
    upgraded.close();
  });

  it('refuses a database written by a newer gateway (GW_ERR_OUTBOX_SCHEMA_NEWER), every command, and leaves its rows and version as they were', async () => {
    const dataDir = tempDir('gw-upgrade-');
    const dbPath = join(dataDir, 'outbox.db');
    const newer = release010Database(dbPath);
    newer.pragma(`user_version = ${GATEWAY_SCHEMA_VERSION + 1}`);
    const before = readRelease010(newer);
    newer.close();

    const list = new GatewayProcess(['user', 'list', '--config', DEMO_CONFIG, '--data', dataDir]);
    expect((await list.exited).code).toBe(1);
    expect(list.stderrText.join('\n')).toContain(`GW_ERR_OUTBOX_SCHEMA_NEWER: ${dbPath} is at schema version ${GATEWAY_SCHEMA_VERSION + 1}`);

    // The commands that read it without migrating it: backup (whose archive this gateway's restore
    // would refuse) and trs report, whose reading of a newer gateway's rows nobody can vouch for.
    const archive = join(tempDir('gw-upgrade-backup-'), 'post.tar.gz');
    const backup = new GatewayProcess(['backup', '--config', DEMO_CONFIG, '--data', dataDir, '--out', archive]);
    expect((await backup.exited).code).toBe(1);
    expect(backup.stderrText.join('\n')).toContain(`GW_ERR_OUTBOX_SCHEMA_NEWER: ${dbPath} is at schema version ${GATEWAY_SCHEMA_VERSION + 1}`);
    expect(existsSync(archive)).toBe(false);
    const report = new GatewayProcess(['trs', 'report', '--outbox', dbPath, '--format', 'json']);
    expect((await report.exited).code).toBe(1);
    expect(report.stderrText.join('\n')).toContain(`GW_ERR_OUTBOX_SCHEMA_NEWER: ${dbPath} is at schema version ${GATEWAY_SCHEMA_VERSION + 1}`);
    expect(report.stdout).toEqual([]);

    // No broker needed: the gateway stops at its database, before the uplink or any device.
    const run = new GatewayProcess(['demo', '--config', DEMO_CONFIG, '--mqtt', 'mqtt://127.0.0.1:9', '--data', dataDir, '--free-ports', '--http-port', '0']);
    rig.processes.push(run);
    expect((await run.exited).code).toBe(1);
    expect(`${run.stderrText.join('\n')}${JSON.stringify(run.logs)}`).toContain('GW_ERR_OUTBOX_SCHEMA_NEWER');

    const untouched = new Database(dbPath, { readonly: true });
    expect(schemaVersionOf(untouched)).toBe(GATEWAY_SCHEMA_VERSION + 1);
    expect(readRelease010(untouched)).toEqual(before);
    untouched.close();
  });
});
