/**
 * One VMC instance: the store, the MQTT consumer feeding it, the gap watch, and the HTTP API.
 * Each part starts and stops on its own; stop() ends the consumer first (nothing new arrives),
 * then the gap watch and the API, then closes the store.
 */
import { hostname } from 'node:os';
import type { KeyObject } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { BytesInFlight } from '../core/bytes-in-flight.js';
import type { Clock } from '../core/clock.js';
import { GatewayError } from '../core/errors.js';
import { DEFAULT_CONNECTION_LIMITS, limitConnections } from '../core/connection-limits.js';
import { Consumer } from './consumer.js';
import { EventIntake } from './event-intake.js';
import { GapWatch } from './gap-watch.js';
import type { EvidenceBounds } from './evidence/evidence-chunks.js';
import { EVIDENCE_BYTES_IN_FLIGHT, EVIDENCE_BYTES_PER_CALLER } from './evidence/evidence-routes.js';
import { EvidenceSweep } from './evidence/evidence-sweep.js';
import { buildVmcApp } from './http/vmc-app.js';
import { VmcAuth } from './vmc-auth.js';
import { redactStore, VmcStore } from './store/vmc-store.js';

export interface VmcOptions {
  mqttUrl: string;
  /** `sqlite:PATH` (default `sqlite:vmc.db`) or `postgres://…`. */
  store: string;
  /** Share group (default `vmc`). */
  group: string;
  /** This instance's name: its MQTT client id is `vmc-{group}-{name}`, so it must be stable and unique in the group. */
  name?: string;
  /** `HOST:PORT` of the API; null for none. */
  http: { host: string; port: number } | null;
  topic?: string;
  /** MQTT connections of this instance, each a member of the share group (default 1). */
  connections?: number;
  maxMessageBytes?: number;
  gapGraceMs?: number;
  gapIntervalMs?: number;
  mqttUsername?: string;
  mqttPassword?: string;
  /** The VMC's command-signing key: the API may then send commands (POST /api/commands/…). */
  commandKey?: KeyObject;
  /** The posts' topic root template (default border/v1/{postId}), for the command topics. */
  postTopicRoot?: string;
  /** What incomplete evidence may hold (defaults: vmc/evidence/evidence-chunks.ts). */
  evidenceBounds?: Partial<EvidenceBounds>;
  clock: Clock;
  logger: Logger;
}

export interface RunningVmc {
  store: VmcStore;
  /** The first connection (all share its subscription). */
  consumer: Consumer;
  consumers: Consumer[];
  intake: EventIntake;
  gaps: GapWatch;
  evidenceSweep: EvidenceSweep;
  app: FastifyInstance;
  /** The API's address once listening (port 0 picks a free one). */
  address: string | null;
  stop(): Promise<void>;
}

export async function startVmc(options: VmcOptions): Promise<RunningVmc> {
  const { clock, logger } = options;
  const name = options.name ?? hostname();
  const store = await VmcStore.open(options.store, clock.now(), options.evidenceBounds ? { evidenceBounds: options.evidenceBounds } : {});
  logger.info({ store: redactStore(options.store), dialect: store.dialect }, 'store open');
  const intake = new EventIntake({ store, clock, logger: logger.child({ module: 'intake' }), consumerName: name, ...(options.maxMessageBytes ? { maxMessageBytes: options.maxMessageBytes } : {}), ...(options.topic ? { topicFilter: options.topic } : {}) });
  // Each connection is one member of the share group with a session of its own: mqtt.js hands
  // a connection's messages over one at a time (the next after the previous one's PUBACK), so
  // more connections are how one instance stores more at once. Keep the count stable across
  // restarts: a session left without its connection keeps its queued messages until it expires.
  const consumers = Array.from(
    { length: options.connections ?? 1 },
    (_, k) =>
      new Consumer({
        url: options.mqttUrl,
        group: options.group,
        clientId: `vmc-${options.group}-${name}${k === 0 ? '' : `-${k + 1}`}`,
        intake,
        clock,
        logger: logger.child({ module: 'consumer', connection: k + 1 }),
        ...(options.topic ? { topic: options.topic } : {}),
        ...(options.mqttUsername !== undefined ? { username: options.mqttUsername } : {}),
        ...(options.mqttPassword !== undefined ? { password: options.mqttPassword } : {}),
      }),
  );
  const consumer = consumers[0] as Consumer;
  const gaps = new GapWatch({
    store,
    clock,
    logger: logger.child({ module: 'gaps' }),
    ...(options.gapGraceMs !== undefined ? { graceMs: options.gapGraceMs } : {}),
    ...(options.gapIntervalMs !== undefined ? { intervalMs: options.gapIntervalMs } : {}),
  });
  const evidenceSweep = new EvidenceSweep({
    store,
    clock,
    logger: logger.child({ module: 'evidence' }),
    onDropped: (reason, pieces) =>
      intake.evidenceDropped(
        reason,
        pieces,
        '(sweep)',
        reason === 'expired'
          ? `${pieces} verified piece(s) kept ${store.evidenceBounds.maxVerifiedAgeMs} ms dropped`
          : `${pieces} incomplete piece(s) had no chunk for ${store.evidenceBounds.maxPendingAgeMs} ms`,
      ),
  });
  const auth = new VmcAuth(store, clock);
  const evidenceBytesInFlight = new BytesInFlight(EVIDENCE_BYTES_IN_FLIGHT, EVIDENCE_BYTES_PER_CALLER);
  const app = await buildVmcApp({
    store,
    auth,
    clock,
    logger: logger.child({ module: 'http' }),
    commandSender: options.commandKey
      ? {
          key: options.commandKey,
          broker: {
            url: options.mqttUrl,
            ...(options.mqttUsername !== undefined ? { username: options.mqttUsername } : {}),
            ...(options.mqttPassword !== undefined ? { password: options.mqttPassword } : {}),
            ...(options.postTopicRoot !== undefined ? { topicRoot: options.postTopicRoot } : {}),
          },
          clock,
        }
      : null,
    status: () => ({
      name,
      group: options.group,
      subscription: consumer.subscription,
      connections: consumers.map((c) => c.state),
      storeFailures: consumers.reduce((sum, c) => sum + c.storeFailures, 0),
      deadLettered: consumers.reduce((sum, c) => sum + c.deadLettered, 0),
      qos0Dropped: consumers.reduce((sum, c) => sum + c.qos0Dropped, 0),
      intake: intake.stats,
      // Evidence answers refused with GW_ERR_VMC_EVIDENCE_BUSY: over the 64 MiB of all, or over an account's 16.
      evidenceBusy: { ...evidenceBytesInFlight.refusals },
    }),
    evidenceBytesInFlight,
  });
  let address: string | null = null;
  if (options.http) {
    try {
      // The analysts' listener is bounded in sockets as the gateway's are (core/connection-limits.ts).
      limitConnections(app.server, DEFAULT_CONNECTION_LIMITS, logger);
      address = await app.listen({ host: options.http.host, port: options.http.port });
    } catch (error) {
      await store.close();
      throw new GatewayError('GW_ERR_HTTP_LISTEN', `the VMC API cannot listen on ${options.http.host}:${options.http.port}: ${(error as Error).message}`, { cause: error });
    }
    logger.info({ address }, 'API listening');
  }
  await Promise.all(consumers.map((c) => c.start()));
  gaps.start();
  evidenceSweep.start();
  return {
    store,
    consumer,
    consumers,
    intake,
    gaps,
    evidenceSweep,
    app,
    address,
    stop: async () => {
      await Promise.all(consumers.map((c) => c.stop()));
      await gaps.stop();
      await evidenceSweep.stop();
      await app.close();
      await store.close();
    },
  };
}
