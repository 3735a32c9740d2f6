/**
 * The central side end to end, all real processes: two gateways (two posts) → one Mosquitto →
 * two `vmc` instances in one share group, first on a shared SQLite file, then on PostgreSQL.
 * What they stored together is exactly what was published (nothing missing, nothing twice, both
 * instances took part); an instance killed with SIGKILL and restarted loses nothing; events
 * withheld show up as a gap that closes once they are replayed; /api/trs equals `trs report`
 * over a recording of the same events.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import type { TrsReport } from '../contract/trs-report.js';
import type { GapRow } from '../vmc/store/vmc-store.js';
import { VmcStore } from '../vmc/store/vmc-store.js';
import { Collector } from './helpers/collector.js';
import { GatewayProcess, REPO_ROOT } from './helpers/gateway-process.js';
import { Mosquitto } from './helpers/mosquitto.js';
import { createTestDatabase } from './helpers/postgres.js';
import { systemRig } from './helpers/rig.js';
import { tempDir } from './helpers/test-config.js';
import { EventMaker } from './helpers/vmc-events.js';
import { waitUntil } from './helpers/wait-until.js';

const ADMIN_PASSWORD = 'vmc-admin-password-1';
/** Events each gateway publishes before it is stopped. */
const EVENTS_PER_POST = 600;

/** The demo post's configuration under another post id. */
function postConfig(dir: string, postId: string): string {
  const file = join(dir, `${postId}.yaml`);
  writeFileSync(file, readFileSync(join(REPO_ROOT, 'config', 'examples', 'demo-post.yaml'), 'utf8').replace(/^( {2}id: )demo-post$/m, `$1${postId}`));
  return file;
}

function startGateway(brokerUrl: string, config: string): GatewayProcess {
  return new GatewayProcess(['demo', '--traffic', 'synthetic', '--mqtt', brokerUrl, '--config', config, '--speed', '4000', '--rate', '60', '--data', tempDir('vmc-sys-gw-'), '--http-port', '0', '--log-level', 'warn']);
}

function startVmc(brokerUrl: string, store: string, name: string): GatewayProcess {
  return new GatewayProcess(['vmc', '--mqtt', brokerUrl, '--store', store, '--http', '127.0.0.1:0', '--group', 'central', '--name', name, '--gap-grace', '0.5', '--log-level', 'info']);
}

async function apiOf(vmc: GatewayProcess): Promise<string> {
  const line = await vmc.waitForStdout((l) => l.startsWith('border-gateway vmc:'), 30_000, 'the vmc banner');
  return /API (http:\/\/\S+)/.exec(line)![1]!;
}

describe.each([
  { kind: 'sqlite', make: () => Promise.resolve({ spec: `sqlite:${join(tempDir('vmc-sys-'), 'vmc.db')}`, drop: () => Promise.resolve() }) },
  {
    kind: 'postgres',
    make: async () => {
      const db = await createTestDatabase('vmc_sys');
      return { spec: db.url, drop: () => db.drop() };
    },
  },
])('two posts → Mosquitto → two vmc instances on $kind', ({ make }) => {
  const rig = systemRig<Mosquitto>();

  it('stores every event exactly once across both, survives a SIGKILL, reports and closes a gap, and agrees with trs report', async () => {
    const { spec, drop } = await make();
    let store: VmcStore | null = null;
    try {
      const broker = (rig.broker = await Mosquitto.start());
      // Everything published, as a plain (unshared) subscriber sees it: the truth to compare with.
      const collector = (rig.collector = await Collector.connect(broker.url, 'border/#'));
      const dir = tempDir('vmc-sys-');

      const addAdmin = new GatewayProcess(['vmc', 'user', 'add', 'chief', '--role', 'admin', '--store', spec], {}, { stdin: `${ADMIN_PASSWORD}\n` });
      expect((await addAdmin.exited).code).toBe(0);

      const vmc1 = startVmc(broker.url, spec, 'vmc-1');
      const vmc2 = startVmc(broker.url, spec, 'vmc-2');
      rig.processes.push(vmc1, vmc2);
      await apiOf(vmc1);
      const api = await apiOf(vmc2);
      await Promise.all([vmc1, vmc2].map((vmc) => vmc.waitForLog((line) => line.msg === 'subscribed', 30_000, 'subscribed')));

      const gateways = ['post-north', 'post-south'].map((post) => startGateway(broker.url, postConfig(dir, post)));
      rig.processes.push(...gateways);
      const publishedOf = (post: string) => collector.received.filter((m) => String(m.event.source).startsWith(`/border/${post}/`)).length;

      // vmc-1 is killed mid-stream, with messages in flight, and restarted under the same name.
      await collector.waitFor(() => publishedOf('post-north') + publishedOf('post-south') >= EVENTS_PER_POST / 2, 60_000, 'a first part of the traffic');
      expect((await vmc1.kill('SIGKILL')).signal).toBe('SIGKILL');
      const vmc1Again = startVmc(broker.url, spec, 'vmc-1');
      rig.processes.push(vmc1Again);
      await vmc1Again.waitForLog((line) => line.msg === 'subscribed', 30_000, 'resubscribed');

      await collector.waitFor(() => publishedOf('post-north') >= EVENTS_PER_POST && publishedOf('post-south') >= EVENTS_PER_POST, 90_000, `${EVENTS_PER_POST} events of each post`);
      for (const gateway of gateways) expect((await gateway.kill('SIGTERM')).code).toBe(0);

      // A third "post" whose seq 4–6 are withheld, then replayed: a gap opens and closes.
      const maker = new EventMaker('post-gap');
      const gapEvents = Array.from({ length: 10 }, (_, i) => maker.crossing(`g${i}`, 15 + i * 7));
      const publisher = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
      const publish = (events: typeof gapEvents) =>
        Promise.all(events.map((e) => publisher.publishAsync(`border/v1/post-gap/lane-1/${e.type}`, JSON.stringify(e), { qos: 1 })));
      await publish(gapEvents.filter((e) => e.seq < 4 || e.seq > 6));

      store = await VmcStore.open(spec, Date.now());
      const openStore = store;
      const published = () => collector.uniqueIds();
      // A bound on waiting, not on speed: PostgreSQL fsyncs each insert, and on a loaded 2-core
      // machine the two consumers may still be thousands of events behind the posts here.
      await waitUntil('the VMCs to store every published event', async () => (await openStore.eventCounts()).total >= published().size, { timeoutMs: 240_000 });

      const login = await fetch(`${api}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'chief', password: ADMIN_PASSWORD }) });
      expect(login.status).toBe(200);
      const { token } = (await login.json()) as { token: string };
      const get = async <T>(path: string): Promise<T> => {
        const reply = await fetch(`${api}${path}`, { headers: { authorization: `Bearer ${token}` } });
        expect(reply.status, path).toBe(200);
        return (await reply.json()) as T;
      };

      // A later seq still in an instance's backlog at a scan may widen the gap (or open a short
      // one of its own) for a moment; the gap shrinks to what is still missing as events arrive.
      const withheld = (gaps: GapRow[]) => gaps.find((g) => g.firstSeq === 4 && g.lastSeq === 6);
      await waitUntil('the withheld seqs to show up as a gap', async () => withheld(await get<GapRow[]>('/api/gaps?post=post-gap&state=open'))?.missing === 3, { timeoutMs: 30_000 });
      expect(withheld(await get<GapRow[]>('/api/gaps?post=post-gap&state=open'))).toMatchObject({ postId: 'post-gap', firstSeq: 4, missing: 3, closedAt: null });
      await publish(gapEvents.filter((e) => e.seq >= 4 && e.seq <= 6));
      await waitUntil('the replayed seqs to close every gap', async () => (await get<GapRow[]>('/api/gaps?post=post-gap&state=open')).length === 0, { timeoutMs: 30_000 });
      expect(withheld(await get<GapRow[]>('/api/gaps?post=post-gap'))).toMatchObject({ missing: 0, closedAt: expect.any(String) as unknown });
      await publisher.endAsync();

      // Exactly the published set: every id once (the store's key), none missing, none extra.
      await waitUntil('the replayed events to be stored', async () => (await openStore.eventCounts()).total >= collector.uniqueIds().size);
      const stored = await openStore.eventKeys();
      expect(new Set(stored.map((e) => e.id))).toEqual(collector.uniqueIds());
      expect(stored.length).toBe(collector.uniqueIds().size);
      const counts = await openStore.eventCounts();
      expect(Object.keys(counts.byConsumer).sort()).toEqual(['vmc-1', 'vmc-2']);
      expect(Math.min(...Object.values(counts.byConsumer))).toBeGreaterThan(0);
      // The two gateways sent every seq from 1 without a hole, and the VMCs saw no gap in them.
      for (const post of ['post-north', 'post-south']) {
        const seqs = stored.filter((e) => e.postId === post).map((e) => e.seq);
        expect(seqs.length, post).toBeGreaterThanOrEqual(EVENTS_PER_POST);
        expect(new Set(seqs).size).toBe(seqs.length);
        expect(Math.max(...seqs)).toBe(seqs.length);
      }
      expect((await get<GapRow[]>('/api/gaps?post=post-north,post-south&state=open'))).toEqual([]);

      // /api/trs against `trs report` over a recording of the same events (mosquitto_sub -v lines).
      const recording = join(dir, 'recording.jsonl');
      writeFileSync(recording, collector.received.map((m) => `${m.topic} ${JSON.stringify(m.event)}`).join('\n') + '\n');
      for (const [query, args] of [
        ['', []],
        ['?interval=30', ['--interval', '30']],
      ] as const) {
        const report = new GatewayProcess(['trs', 'report', '--input', recording, '--format', 'json', ...args]);
        expect((await report.exited).code).toBe(0);
        const fromCli = JSON.parse(report.stdout.join('\n')) as TrsReport;
        expect(fromCli.vehicles).toBeGreaterThan(50);
        expect(await get<TrsReport>(`/api/trs${query}`)).toEqual(fromCli);
      }

      const posts = await get<{ postId: string; status: { state: string } | null; lanes: unknown[] }[]>('/api/posts');
      expect(posts.map((p) => p.postId)).toEqual(['post-gap', 'post-north', 'post-south']);
      expect(posts.find((p) => p.postId === 'post-north')).toMatchObject({ status: { state: 'offline' }, lanes: [{ laneId: 'lane-1' }, { laneId: 'lane-2' }] });
      const status = await get<{ intake: { rejected: Record<string, number> } }>('/api/status');
      expect(Object.values(status.intake.rejected).every((n) => n === 0)).toBe(true);
    } finally {
      await store?.close();
      await Promise.all(rig.processes.splice(0).map((p) => p.kill('SIGKILL')));
      await drop();
    }
  }, 480_000);
});
