/**
 * A gateway started on a damaged database (a page of the lanes' open crossings overwritten, as a
 * bad block or a power cut on storage that lies about its syncs leaves it): it exits with
 * GW_ERR_OUTBOX_DAMAGED and no stack trace, before the uplink or any device, and writes nothing
 * to the file the integrator must restore or salvage.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GatewayProcess, REPO_ROOT } from './helpers/gateway-process.js';
import { release010Database } from './helpers/release-database.js';
import { systemRig } from './helpers/rig.js';
import { tempDir } from './helpers/test-config.js';

const DEMO_CONFIG = join(REPO_ROOT, 'config', 'examples', 'demo-post.yaml');

describe('start on a damaged database', () => {
  const rig = systemRig<{ stop(): Promise<void> }>();

  it('exits with GW_ERR_OUTBOX_DAMAGED, no stack trace, and leaves the file as it was', async () => {
    const dataDir = tempDir('gw-damaged-');
    const dbPath = join(dataDir, 'outbox.db');
    const db = release010Database(dbPath);
    db.pragma('journal_mode = DELETE'); // one file, nothing left in a -wal
    const { rootpage } = db.prepare<[], { rootpage: number }>("SELECT rootpage FROM sqlite_master WHERE name = 'open_crossings'").get() as { rootpage: number };
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    db.close();
    const bytes = readFileSync(dbPath);
    bytes.fill(0xff, (rootpage - 1) * pageSize, rootpage * pageSize);
    writeFileSync(dbPath, bytes);

    // No broker needed: the gateway stops at its database.
    const run = new GatewayProcess(['demo', '--config', DEMO_CONFIG, '--mqtt', 'mqtt://127.0.0.1:9', '--data', dataDir, '--free-ports', '--http-port', '0']);
    rig.processes.push(run);
    expect((await run.exited).code).toBe(1);
    const stderr = run.stderrText.join('\n');
    expect(stderr).toContain(`GW_ERR_OUTBOX_DAMAGED: ${dbPath} is damaged (quick_check:`);
    expect(stderr).not.toMatch(/^\s+at /m);
    expect(readFileSync(dbPath).equals(bytes)).toBe(true);
  }, 60_000);
});
