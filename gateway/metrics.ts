/**
 * Prometheus metrics (prom-client), one registry per gateway instance (no module-level singleton,
 * so tests can run several gateways in one process). Outbox figures are read at scrape time.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SqliteOutbox } from './outbox/sqlite-outbox.js';

export interface GatewayMetrics {
  registry: Registry;
  committed: Counter;
  published: Counter<'type'>;
  publishLatency: Histogram;
  reconnects: Counter;
  connected: Gauge;
  refused: Counter<'reason_code'>;
  publishTimeouts: Counter;
  commitFailures: Counter<'code'>;
  deviceHealth: Gauge<'device' | 'state'>;
  deviceReadings: Counter<'device' | 'type'>;
}

/** `parked`: the uplink's parked events by cause, read at scrape time. */
export function createMetrics(outbox: SqliteOutbox, parked: () => Record<string, number> = () => ({})): GatewayMetrics {
  const registry = new Registry();
  const registers = [registry];
  new Gauge({
    name: 'gateway_outbox_depth',
    help: 'Events stored in the outbox, not yet acknowledged by the broker',
    registers,
    collect() {
      this.set(outbox.depth);
    },
  });
  new Gauge({
    name: 'gateway_outbox_bytes',
    help: 'Payload bytes stored in the outbox',
    registers,
    collect() {
      this.set(outbox.bytes);
    },
  });
  new Gauge({
    name: 'gateway_outbox_oldest_age_seconds',
    help: 'Age of the oldest event in the outbox (0 when empty)',
    registers,
    collect() {
      this.set(outbox.stats().oldestAgeMs / 1000);
    },
  });
  new Gauge({
    name: 'gateway_outbox_disk_headroom_bytes',
    help: 'Bytes the outbox may still commit before it refuses events for want of disk (it keeps a reserve for deletions and checkpoints); absent where not measured',
    registers,
    collect() {
      const headroom = outbox.diskHeadroom();
      if (headroom === null) this.reset();
      else this.set(headroom);
    },
  });
  new Gauge({
    name: 'gateway_outbox_wal_bytes',
    help: "Size of the database's WAL file; past 16 MiB a reader holding an old snapshot keeps checkpoints from resetting it (GW_ERR_OUTBOX_WAL_GROWING); absent for an in-memory outbox",
    registers,
    collect() {
      const wal = outbox.walState();
      if (wal === null) this.reset();
      else this.set(wal.bytes);
    },
  });
  new Gauge({
    name: 'gateway_outbox_dropped_total',
    help: 'Events dropped by the outbox byte bound, by retention class (since the database was created)',
    labelNames: ['class'],
    registers,
    collect() {
      for (const [cls, count] of Object.entries(outbox.droppedTotals)) this.set({ class: cls }, count);
    },
  });
  new Gauge({
    name: 'gateway_uplink_parked',
    help: 'Events parked by the uplink (kept in the outbox, retried every refusedRetryMs), by cause: refused, packet-too-large, poison',
    labelNames: ['cause'],
    registers,
    collect() {
      for (const [cause, count] of Object.entries(parked())) this.set({ cause }, count);
    },
  });
  return {
    registry,
    committed: new Counter({ name: 'gateway_events_committed_total', help: 'Events committed to the outbox', registers }),
    published: new Counter({
      name: 'gateway_events_published_total',
      help: 'Events acknowledged by the broker',
      labelNames: ['type'],
      registers,
    }),
    publishLatency: new Histogram({
      name: 'gateway_publish_latency_seconds',
      help: 'Time from outbox commit to the broker PUBACK',
      buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5, 30, 300, 3600],
      registers,
    }),
    reconnects: new Counter({ name: 'gateway_uplink_reconnects_total', help: 'Uplink connections made after the first', registers }),
    connected: new Gauge({ name: 'gateway_uplink_connected', help: '1 while connected to a broker', registers }),
    refused: new Counter({
      name: 'gateway_publish_refused_total',
      help: 'Publishes refused by the broker (MQTT 5 reason code)',
      labelNames: ['reason_code'],
      registers,
    }),
    publishTimeouts: new Counter({
      name: 'gateway_publish_timeouts_total',
      help: 'Publishes not acknowledged in time (forced reconnects)',
      registers,
    }),
    commitFailures: new Counter({
      name: 'gateway_outbox_commit_failures_total',
      help: 'Appends the outbox could not commit, by error code',
      labelNames: ['code'],
      registers,
    }),
    deviceReadings: new Counter({
      name: 'gateway_device_readings_total',
      help: 'Readings received from each device, by reading type',
      labelNames: ['device', 'type'],
      registers,
    }),
    deviceHealth: new Gauge({
      name: 'gateway_device_health',
      help: '1 for the current health state of each device',
      labelNames: ['device', 'state'],
      registers,
    }),
  };
}
