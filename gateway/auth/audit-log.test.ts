/**
 * The audit chain: intact after many entries; an edited, removed, reordered or truncated log is
 * found, each at the entry where it happened; an operator's step and its audit entry commit
 * together with the operator.action event (which carries the entry's seq and hash), or not at all.
 */
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { Gateway } from '../daemon.js';
import type { PostRuntime } from '../post-runtime.js';
import { countingTurns } from '../../test/helpers/loop-turns.js';
import { startOneLanePost } from '../../test/helpers/one-lane-post.js';
import { AUDIT_SEARCH_WINDOW, AuditLog, entryHash } from './audit-log.js';

const supervisor = { id: 'sup-1', role: 'supervisor' as const };

function logWith(entries: number): { db: Database.Database; audit: AuditLog } {
  const db = new Database(':memory:');
  let now = Date.UTC(2026, 10, 28, 8, 0, 0);
  const audit = new AuditLog(db, () => (now += 1000));
  for (let i = 1; i <= entries; i += 1) audit.record({ actor: supervisor, action: 'crossing.channel', crossingId: `c-${i}`, before: 'red', after: 'green', reason: `reason ${i}` });
  return { db, audit };
}

describe('the audit chain', () => {
  it('verifies an intact log', () => {
    const { audit } = logWith(50);
    expect(audit.verify()).toEqual({ ok: true, entries: 50, lastSeq: 50, problems: [] });
  });

  it('finds an edited entry', () => {
    const { db, audit } = logWith(10);
    db.prepare("UPDATE audit SET after = 'red' WHERE seq = 4").run();
    expect(audit.verify().problems).toEqual([{ seq: 4, problem: 'content does not match its hash (edited)' }]);
  });

  it('finds an entry whose actor, role, action, lane, crossing or time was edited', () => {
    for (const edit of ["actor = 'sup-2'", "role = 'admin'", "action = 'crossing.release'", "lane_id = 'lane-9'", "crossing_id = 'c-99'", 'time_ms = time_ms + 1']) {
      const { db, audit } = logWith(10);
      db.prepare(`UPDATE audit SET ${edit} WHERE seq = 4`).run();
      expect(audit.verify().problems, edit).toEqual([{ seq: 4, problem: 'content does not match its hash (edited)' }]);
    }
  });

  it('finds an edited entry whose hash was recomputed, at the entry after it', () => {
    const { db, audit } = logWith(10);
    db.prepare("UPDATE audit SET reason = 'nothing to see' WHERE seq = 4").run();
    const row = audit.search({ limit: 500 }).find((e) => e.seq === 4);
    if (!row) throw new Error('no entry 4');
    // A forger who rehashes the edited entry breaks the link to the next one instead.
    db.prepare('UPDATE audit SET hash = ? WHERE seq = 4').run(entryHash({ ...row, reason: 'nothing to see' }));
    expect(audit.verify().problems).toEqual([{ seq: 5, problem: 'does not follow the entry before it (removed or reordered entries)' }]);
  });

  it('finds a removed entry', () => {
    const { db, audit } = logWith(10);
    db.prepare('DELETE FROM audit WHERE seq = 6').run();
    expect(audit.verify().problems.map((p) => p.seq)).toEqual([7, 7]);
    expect(audit.verify().problems[0]?.problem).toBe('entries 6–6 are missing');
  });

  it('finds reordered entries', () => {
    const { db, audit } = logWith(10);
    // Swap the contents of entries 3 and 4, seq kept: the chain no longer links.
    db.exec('UPDATE audit SET seq = -3 WHERE seq = 3; UPDATE audit SET seq = 3 WHERE seq = 4; UPDATE audit SET seq = 4 WHERE seq = -3;');
    const verdict = audit.verify();
    expect(verdict.ok).toBe(false);
    expect(verdict.problems.map((p) => p.seq)).toContain(3);
  });

  it('finds entries removed from the end', () => {
    const { db, audit } = logWith(10);
    db.prepare('DELETE FROM audit WHERE seq > 8').run();
    expect(audit.verify().problems).toEqual([{ seq: 10, problem: 'the log ends at entry 8 but its head names entry 10 (entries removed from the end, or the head edited)' }]);
  });

  it('walks the chain once for the API however many ask while it walks, and again when asked after', async () => {
    const { audit } = logWith(3000);
    const together = [audit.verifyYielding(), audit.verifyYielding(), audit.verifyYielding()];
    expect(together[1]).toBe(together[0]);
    expect(together[2]).toBe(together[0]);
    expect(await together[0]).toMatchObject({ ok: true, entries: 3000 });
    audit.record({ actor: supervisor, action: 'crossing.channel', crossingId: 'c-after', before: 'red', after: 'green', reason: 'after the walk' });
    const after = audit.verifyYielding();
    expect(after).not.toBe(together[0]);
    expect(await after).toMatchObject({ ok: true, entries: 3001 });
  });

  it('searches by text, newest first, bounded', () => {
    const { audit } = logWith(30);
    expect(audit.search({ text: 'c-2' }).map((e) => e.crossingId)).toEqual(['c-29', 'c-28', 'c-27', 'c-26', 'c-25', 'c-24', 'c-23', 'c-22', 'c-21', 'c-20', 'c-2']);
    expect(audit.search({ text: '%' })).toEqual([]); // LIKE wildcards are text here
    expect(audit.search({ limit: 5 })).toHaveLength(5);
  });

  it("searches a long log a window at a time, yielding to the event loop between windows, with the whole log's answer", async () => {
    const entries = 2 * AUDIT_SEARCH_WINDOW + 500;
    const { db, audit } = logWith(entries);
    const all = db.prepare<[], { seq: number; crossing_id: string; reason: string }>('SELECT seq, crossing_id, reason FROM audit ORDER BY seq DESC').all();
    // What one statement over the whole log answers, for texts matching many, few, the oldest entry only, or none.
    const expected = (text: string, beforeSeq: number, limit: number): number[] =>
      all.filter((e) => e.seq < beforeSeq && [e.crossing_id, e.reason, 'sup-1', 'supervisor', 'crossing.channel'].some((field) => field.includes(text))).slice(0, limit).map((e) => e.seq);
    for (const [text, beforeSeq, limit] of [['c-1', Number.MAX_SAFE_INTEGER, 500], ['reason 2', Number.MAX_SAFE_INTEGER, 100], ['c-1', 7000, 30], ['', 12, 100], ['c-999999', Number.MAX_SAFE_INTEGER, 100]] as const) {
      expect(audit.search({ text, beforeSeq, limit }).map((e) => e.seq), `${text} before ${beforeSeq}`).toEqual(expected(text, beforeSeq, limit));
    }
    // A text matching nothing reads every window, each in a turn of the event loop of its own.
    const { result, turns } = await countingTurns(() => audit.searchYielding({ text: 'c-999999' }));
    expect(result).toEqual([]);
    expect(turns).toBeGreaterThanOrEqual(Math.floor(entries / AUDIT_SEARCH_WINDOW));
    expect((await audit.searchYielding({ text: 'c-1', beforeSeq: 7000, limit: 30 })).map((e) => e.seq)).toEqual(expected('c-1', 7000, 30));
  });
});

describe('audit entries commit with their events', () => {
  const stops: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  });

  async function post(): Promise<{ gateway: Gateway; runtime: PostRuntime }> {
    const started = await startOneLanePost();
    stops.push(() => started.stop());
    return { gateway: started.gateway, runtime: started.runtime as PostRuntime };
  }

  const operatorEvents = (gateway: Gateway) =>
    gateway.outbox
      .readFrom(0, 10_000)
      .map((row) => JSON.parse(row.payload) as { type: string; data: { operatorId: string; action: string; audit?: { seq: number; hash: string } } })
      .filter((event) => event.type === 'operator.action');

  it('puts the entry seq and hash into the operator.action event', async () => {
    const { gateway, runtime } = await post();
    const crossing = runtime.post.lane('lane-1').workflow.arrive(null);
    runtime.post.lane('lane-1').workflow.setPlate(crossing.crossingId, 'GE555XX', { id: 'op-7', role: 'operator' }, 'read from the documents');
    gateway.outbox.flush();
    await gateway.outbox.whenDurable();
    const [event] = operatorEvents(gateway);
    const [entry] = gateway.audit.search();
    expect(event?.data).toMatchObject({ operatorId: 'op-7', action: 'crossing.plate', audit: { seq: entry?.seq, hash: entry?.hash } });
    expect(entry).toMatchObject({ actor: 'op-7', role: 'operator', action: 'crossing.plate', before: null, after: 'GE555XX', crossingId: crossing.crossingId, laneId: 'lane-1' });
  });

  it('stores neither the entry nor the event when their commit fails', async () => {
    const { gateway, runtime } = await post();
    const crossing = runtime.post.lane('lane-1').workflow.arrive(null);
    // The disk refuses the next write of an event: the whole transaction rolls back.
    gateway.outbox.database.exec("CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.type = 'operator.action' BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END");
    runtime.post.lane('lane-1').workflow.setPlate(crossing.crossingId, 'GE555XX', { id: 'op-7', role: 'operator' }, 'read from the documents');
    gateway.outbox.flush();
    await gateway.outbox.whenDurable();
    expect(operatorEvents(gateway)).toEqual([]);
    expect(gateway.audit.verify()).toMatchObject({ ok: true, entries: 0 });
    gateway.outbox.database.exec('DROP TRIGGER refuse');
    runtime.post.lane('lane-1').workflow.setPlate(crossing.crossingId, 'GE556XX', { id: 'op-7', role: 'operator' }, 'corrected');
    gateway.outbox.flush();
    await gateway.outbox.whenDurable();
    expect(operatorEvents(gateway).map((e) => e.data.audit?.seq)).toEqual([1]);
    expect(gateway.audit.verify()).toMatchObject({ ok: true, entries: 1 });
  });
});
