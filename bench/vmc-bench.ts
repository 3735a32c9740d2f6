/**
 * How many events/s `border-gateway vmc` stores: 1, 2 and 4 instances in one share group, into
 * one SQLite file and into PostgreSQL, against a local Mosquitto this script starts. A burst of
 * valid events from four posts is published (QoS 1) as fast as the broker takes it; the figure
 * is events stored ÷ time from the first publish to the last event in the store. The figures of
 * docs/scaling.md come from here. Not a test: nothing passes or fails.
 *
 *   node --import tsx bench/vmc-bench.ts
 *   BENCH_VMC_EVENTS   events per run (default 6000)
 *   BENCH_VMC_STORES   "sqlite,postgres" (default both)
 *   BENCH_VMC_COUNTS   instance counts (default "1,2,4")
 *   BENCH_VMC_CONNECTIONS  MQTT connections per instance (default 1)
 *   BENCH_VMC_PG_QUERY     appended to the PostgreSQL URL, e.g. "options=-c%20synchronous_commit%3Doff"
 */
import { join } from 'node:path';
import mqtt from 'mqtt';
import { VmcStore } from '../vmc/store/vmc-store.js';
import { GatewayProcess } from '../test/helpers/gateway-process.js';
import { Mosquitto } from '../test/helpers/mosquitto.js';
import { createTestDatabase } from '../test/helpers/postgres.js';
import { tempDir } from '../test/helpers/test-config.js';
import { EventMaker } from '../test/helpers/vmc-events.js';

const EVENTS = Number(process.env.BENCH_VMC_EVENTS ?? 6000);
const STORES = (process.env.BENCH_VMC_STORES ?? 'sqlite,postgres').split(',');
const COUNTS = (process.env.BENCH_VMC_COUNTS ?? '1,2,4').split(',').map(Number);
const POSTS = ['bench-a', 'bench-b', 'bench-c', 'bench-d'];
const CONNECTIONS = process.env.BENCH_VMC_CONNECTIONS ?? '1';

function events(): { topic: string; payload: string }[] {
  const makers = POSTS.map((post) => new EventMaker(post));
  return Array.from({ length: EVENTS }, (_, i) => {
    const maker = makers[i % makers.length]!;
    const event = i % 3 === 0 ? maker.crossing(`c${i}`, 20 + (i % 180)) : i % 3 === 1 ? maker.released(`c${i}`) : maker.deviceStatus(`dev-${i % 7}`, i % 2 ? 'up' : 'degraded');
    const lane = event.source.split('/')[3];
    return { topic: `border/v1/${maker.postId}/${lane}/${event.type}`, payload: JSON.stringify(event) };
  });
}

async function run(kind: string, instances: number, broker: Mosquitto): Promise<number> {
  const db = kind === 'postgres' ? await createTestDatabase('vmc_bench') : null;
  const pgQuery = process.env.BENCH_VMC_PG_QUERY;
  const spec = db ? (pgQuery ? `${db.url}?${pgQuery}` : db.url) : `sqlite:${join(tempDir('vmc-bench-'), 'vmc.db')}`;
  const group = `bench${kind}${instances}`;
  const vmcs = Array.from({ length: instances }, (_, i) => new GatewayProcess(['vmc', '--mqtt', broker.url, '--store', spec, '--http', '127.0.0.1:0', '--group', group, '--name', `i${i}`, '--connections', CONNECTIONS, '--log-level', 'info']));
  try {
    await Promise.all(vmcs.map((vmc) => vmc.waitForStdout((line) => line.startsWith('border-gateway vmc:'), 60_000, 'the banner')));
    const store = await VmcStore.open(spec, Date.now());
    const burst = events();
    const publisher = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
    const started = performance.now();
    // A window of QoS 1 publishes in flight, as a gateway's uplink sends.
    for (let i = 0; i < burst.length; i += 200) {
      await Promise.all(burst.slice(i, i + 200).map((m) => publisher.publishAsync(m.topic, m.payload, { qos: 1 })));
    }
    const published = performance.now();
    let total = 0;
    while ((total = (await store.eventCounts()).total) < EVENTS) {
      if (performance.now() - started > 600_000) throw new Error(`only ${total} of ${EVENTS} stored after 10 minutes`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const elapsed = (performance.now() - started) / 1000;
    const perInstance = (await store.eventCounts()).byConsumer;
    console.log(`${kind.padEnd(8)} ${String(instances).padStart(2)} instance(s) × ${CONNECTIONS} connection(s): ${(EVENTS / elapsed).toFixed(0).padStart(6)} events/s stored  (publish took ${((published - started) / 1000).toFixed(1)} s; per instance ${JSON.stringify(perInstance)})`);
    await publisher.endAsync();
    await store.close();
    return EVENTS / elapsed;
  } finally {
    await Promise.all(vmcs.map((vmc) => vmc.kill('SIGTERM')));
    await db?.drop();
  }
}

const broker = await Mosquitto.start({ extraConfig: ['max_inflight_messages 1000', 'set_tcp_nodelay true'] });
try {
  console.log(`vmc benchmark: ${EVENTS} events from ${POSTS.length} posts per run, Mosquitto ${broker.url}`);
  for (const kind of STORES) for (const count of COUNTS) await run(kind, count, broker);
} finally {
  await broker.stop();
}
process.exit(0);
