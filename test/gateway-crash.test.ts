/**
 * The gateway is killed with SIGKILL in the middle of a burst and restarted on the same data
 * directory: nothing it had committed is lost, `seq` never repeats, the database is intact.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { Collector } from './helpers/collector.js';
import { GatewayProcess } from './helpers/gateway-process.js';
import { Mosquitto } from './helpers/mosquitto.js';
import { systemRig } from './helpers/rig.js';
import { tempDir } from './helpers/test-config.js';

describe('gateway killed during a burst', () => {
  const rig = systemRig<Mosquitto>();

  it('loses nothing committed and never reuses a seq', async () => {
    const broker = (rig.broker = await Mosquitto.start());
    const collector = (rig.collector = await Collector.connect(broker.url));
    const dataDir = tempDir();
    const args = ['demo', '--traffic', 'synthetic', '--mqtt', broker.url, '--speed', '4000', '--rate', '60', '--data', dataDir, '--http-port', '0', '--log-level', 'debug'];

    const first = new GatewayProcess(args);
    rig.processes.push(first);
    let committedBeforeKill = 0;
    first.on('log', (line) => {
      if (line.msg === 'committed') committedBeforeKill = Math.max(committedBeforeKill, Number(line.lastSeq));
    });
    await first.waitForLog((line) => line.msg === 'committed' && Number(line.lastSeq) >= 400, 60_000, 'a burst of 400 commits');
    const killed = await first.kill('SIGKILL');
    expect(killed.signal).toBe('SIGKILL');
    // The broker publishes the gateway's last will: the retained status turns offline.
    await collector.waitForStatus((status) => status.includes('"offline"') && status.includes('connection lost'));

    const db = new Database(join(dataDir, 'outbox.db'));
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    const lastSeqOnDisk = (db.prepare('SELECT value FROM meta WHERE key = ?').get('last_seq') as { value: number }).value;
    const leftInOutbox = (db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n;
    db.close();
    expect(lastSeqOnDisk).toBeGreaterThanOrEqual(committedBeforeKill);

    const second = new GatewayProcess(args);
    rig.processes.push(second);
    await collector.waitFor(
      (received) => {
        const seqs = new Set(received.map((m) => m.seq));
        for (let seq = 1; seq <= lastSeqOnDisk; seq += 1) if (!seqs.has(seq)) return false;
        return true;
      },
      60_000,
      `every seq up to ${lastSeqOnDisk}`,
    );
    await second.waitForLog((line) => line.msg === 'committed' && Number(line.lastSeq) > lastSeqOnDisk + 100, 60_000, 'new commits after restart');
    const stopped = await second.kill('SIGTERM');
    expect(stopped.code).toBe(0);

    const finalDb = new Database(join(dataDir, 'outbox.db'));
    expect(finalDb.pragma('integrity_check', { simple: true })).toBe('ok');
    const finalLastSeq = (finalDb.prepare('SELECT value FROM meta WHERE key = ?').get('last_seq') as { value: number }).value;
    const remaining = finalDb.prepare('SELECT seq, id FROM events').all() as { seq: number; id: string }[];
    finalDb.close();

    // Every seq ever given out is accounted for: delivered, or still in the outbox. One id per seq.
    const idBySeq = new Map<number, string>();
    for (const { seq, id } of [...collector.received, ...remaining]) {
      const known = idBySeq.get(seq);
      expect(known === undefined || known === id, `seq ${seq} reused for ${known} and ${id}`).toBe(true);
      idBySeq.set(seq, id);
    }
    const missing = Array.from({ length: finalLastSeq }, (_, i) => i + 1).filter((seq) => !idBySeq.has(seq));
    expect(missing).toEqual([]);
    expect(new Set(idBySeq.values()).size).toBe(idBySeq.size);
    const unique = collector.uniqueIds().size;
    console.log(
      `crash: committed before kill >= ${committedBeforeKill} (on disk ${lastSeqOnDisk}, ${leftInOutbox} unsent at kill); ` +
        `final last seq ${finalLastSeq}: received ${collector.received.length} (${unique} unique), ${remaining.length} left in outbox`,
    );
  });
});
