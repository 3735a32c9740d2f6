/**
 * The gateway daemon: wires the outbox, the uplink, metrics and local HTTP from one context, and
 * gives producers (the lane workflow, drivers, the demo's traffic) one way in: `emit`, which
 * validates the event against the catalogue and resolves only once the event is durable.
 */
import { isAbsolute, join } from 'node:path';
import type { Logger } from 'pino';
import type { PostConfig } from '../config/schema.js';
import type { Clock, TimerHandle } from '../core/clock.js';
import { GatewayError, isGatewayError } from '../core/errors.js';
import { eventDataSchemas, type EventData, type EventType } from './events/catalogue.js';
import { createEventFactory, POST_LANE, type EventFactory } from './events/envelope.js';
import { startHealthServer, type ApiHandler, type HealthReport, type HealthServer, type PushHandler } from './http/health-server.js';
import { createMetrics, type GatewayMetrics } from './metrics.js';
import { SqliteOutbox, type CommittedEvent, type DropReport } from './outbox/sqlite-outbox.js';
import { GATEWAY_VERSION } from '../core/package-info.js';
import { MqttUplink, type RefusedPublish, type UplinkSettings } from './uplink/mqtt-uplink.js';

/** The one context passed to components: no module-level singletons. */
export interface GatewayContext {
  config: PostConfig;
  /** Uplink settings, secrets resolved (see resolveUplinkSettings). */
  uplink: UplinkSettings;
  logger: Logger;
  /** Clock of the gateway's own timers (uplink, outbox ages). */
  clock: Clock;
  /** Clock that stamps events; the demo runs it faster than real time. Default: `clock`. */
  eventClock?: Clock;
  /** Folder of the outbox when its configured path is relative. */
  dataDir: string;
  /** Whether to serve /healthz and /metrics (default true). */
  http?: boolean;
}

/** Drop alarms are coalesced: at most one per this interval, carrying cumulative counts. */
const DROP_ALARM_INTERVAL_MS = 60_000;

export class Gateway {
  readonly outbox: SqliteOutbox;
  readonly uplink: MqttUplink;
  readonly metrics: GatewayMetrics;
  readonly events: EventFactory;
  private readonly context: GatewayContext;
  private readonly logger: Logger;
  private httpServer: HealthServer | null = null;
  private lastCommitError: GatewayError | null = null;
  private lastDropAlarmMono = Number.NEGATIVE_INFINITY;
  private pendingDrops: DropReport | null = null;
  private dropAlarmTimer: TimerHandle | null = null;
  private connections = 0;
  private readonly pushHandlers = new Map<string, PushHandler>();
  private apiHandler: ApiHandler | null = null;

  private constructor(context: GatewayContext) {
    this.context = context;
    this.logger = context.logger.child({ module: 'gateway' });
    const outboxPath = isAbsolute(context.config.outbox.path) ? context.config.outbox.path : join(context.dataDir, context.config.outbox.path);
    this.outbox = SqliteOutbox.open({
      path: outboxPath,
      maxBytes: context.config.outbox.maxBytes,
      maxBatch: context.config.outbox.maxBatch,
      clock: context.clock,
      logger: context.logger.child({ module: 'outbox' }),
    });
    this.metrics = createMetrics(this.outbox);
    this.events = createEventFactory(context.config.post.id, context.eventClock ?? context.clock);
    this.uplink = new MqttUplink({
      settings: context.uplink,
      postId: context.config.post.id,
      gatewayVersion: GATEWAY_VERSION,
      outbox: this.outbox,
      clock: context.clock,
      logger: context.logger.child({ module: 'uplink' }),
    });
    this.wire();
    this.logger.info({ outbox: outboxPath, depth: this.outbox.depth, lastSeq: this.outbox.lastSeq }, 'outbox open');
  }

  /** Opens the outbox, starts the uplink and local HTTP. */
  static async start(context: GatewayContext): Promise<Gateway> {
    const gateway = new Gateway(context);
    gateway.uplink.start();
    if (context.http !== false) {
      try {
        gateway.httpServer = await startHealthServer({
          host: context.config.http.host,
          port: context.config.http.port,
          metrics: gateway.metrics,
          health: () => gateway.health(),
          pushHandlers: gateway.pushHandlers,
          api: () => gateway.apiHandler,
        });
        gateway.logger.info({ ...gateway.httpServer.address }, 'http listening (/healthz, /metrics)');
      } catch (error) {
        await gateway.stop();
        throw error;
      }
    }
    return gateway;
  }

  /** Serves a device's push endpoint (POST `path`) on the local HTTP server. */
  /** The lane workflow's API, served under /api/ once set. */
  setApiHandler(handler: ApiHandler | null): void {
    this.apiHandler = handler;
  }

  registerPushHandler(path: string, handler: PushHandler): void {
    this.pushHandlers.set(path, handler);
  }

  get httpAddress(): { host: string; port: number } | null {
    return this.httpServer?.address ?? null;
  }

  /**
   * Builds, validates and durably commits an event. Resolves with its seq after the commit;
   * rejects (GW_ERR_EVENT_INVALID, GW_ERR_OUTBOX_*) when the event is not stored.
   */
  async emit<T extends EventType>(type: T, laneId: string, data: EventData<T>, subject?: string): Promise<CommittedEvent> {
    const parsed = eventDataSchemas[type].safeParse(data);
    if (!parsed.success) {
      throw new GatewayError('GW_ERR_EVENT_INVALID', `${type}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    }
    if (type === 'device.status') this.recordDeviceHealth(data as EventData<'device.status'>);
    const draft = this.events.create(type, laneId, data, subject);
    try {
      const committed = await this.outbox.append(draft);
      this.metrics.committed.inc();
      this.lastCommitError = null;
      return committed;
    } catch (error) {
      const code = isGatewayError(error) ? error.code : 'GW_ERR_OUTBOX_WRITE';
      this.metrics.commitFailures.inc({ code });
      if (isGatewayError(error) && error.code !== 'GW_ERR_OUTBOX_FULL') this.lastCommitError = error;
      throw error;
    }
  }

  /** Raises `alarm.raised` on the post pseudo-lane; a failure to store it is logged, not thrown. */
  raiseAlarm(alarm: string, severity: 'info' | 'warning' | 'critical', message: string, details: Record<string, unknown> = {}): void {
    this.logger.warn({ alarm, severity, details }, message);
    this.emit('alarm.raised', POST_LANE, { alarm, severity, message, details }).catch((error: unknown) => {
      this.logger.error({ err: error, alarm }, 'alarm could not be stored');
    });
  }

  health(): HealthReport {
    const stats = this.outbox.stats();
    const connected = this.uplink.state === 'connected';
    return {
      status: this.lastCommitError ? 'failing' : connected ? 'ok' : 'degraded',
      postId: this.context.config.post.id,
      version: GATEWAY_VERSION,
      uplink: { state: this.uplink.state, inflight: this.uplink.inflightCount, refused: this.uplink.parkedCount },
      outbox: {
        depth: stats.depth,
        bytes: stats.bytes,
        maxBytes: stats.maxBytes,
        oldestAgeSec: stats.oldestAgeMs / 1000,
        lastSeq: stats.lastSeq,
        dropped: stats.dropped,
        lastError: this.lastCommitError ? { code: this.lastCommitError.code, message: this.lastCommitError.message } : null,
      },
    };
  }

  /** Stops HTTP and the uplink (draining in-flight publishes briefly), then closes the outbox. */
  async stop(): Promise<void> {
    await this.httpServer?.close();
    this.httpServer = null;
    if (this.dropAlarmTimer) this.context.clock.clearTimeout(this.dropAlarmTimer);
    await this.uplink.stop();
    this.outbox.close();
    this.logger.info('gateway stopped');
  }

  /** One gauge series per device and state, 1 for the current state (Prometheus enum style). */
  private recordDeviceHealth(status: EventData<'device.status'>): void {
    for (const state of ['up', 'degraded', 'down'] as const) {
      this.metrics.deviceHealth.set({ device: status.deviceId, state }, status.state === state ? 1 : 0);
    }
  }

  private wire(): void {
    this.uplink.on('state', (state) => {
      this.metrics.connected.set(state === 'connected' ? 1 : 0);
      if (state === 'connected') {
        this.connections += 1;
        if (this.connections > 1) this.metrics.reconnects.inc();
      }
    });
    this.uplink.on('delivered', (row, latencyMs) => {
      this.metrics.published.inc({ type: row.type });
      this.metrics.publishLatency.observe(latencyMs / 1000);
    });
    this.uplink.on('timeout', (seq) => {
      this.metrics.publishTimeouts.inc();
      this.raiseAlarm('GW_ERR_UPLINK_PUBLISH_TIMEOUT', 'warning', 'broker did not acknowledge a publish in time; reconnected', {
        seq,
        timeoutMs: this.context.uplink.publishTimeoutMs,
      });
    });
    this.uplink.on('refused', (refusal: RefusedPublish) => {
      this.metrics.refused.inc({ reason_code: String(refusal.reasonCode) });
      // An alarm about a refused alarm would be refused again in a loop: log those only.
      if (refusal.type === 'alarm.raised') {
        this.logger.error({ refusal }, 'broker refused an alarm; it is kept and retried');
        return;
      }
      this.raiseAlarm('GW_ERR_UPLINK_PUBLISH_REFUSED', 'warning', `broker refused ${refusal.type} (reason code 0x${refusal.reasonCode.toString(16)}); event kept and retried`, {
        ...refusal,
      });
    });
    this.outbox.on('dropped', (report) => this.onDropped(report));
  }

  private onDropped(report: DropReport): void {
    const now = this.context.clock.monotonic();
    const merged = this.pendingDrops ?? { dropped: { telemetry: 0, operational: 0, critical: 0 }, total: report.total };
    for (const cls of ['telemetry', 'operational', 'critical'] as const) merged.dropped[cls] += report.dropped[cls];
    merged.total = report.total;
    this.pendingDrops = merged;
    const wait = this.lastDropAlarmMono + DROP_ALARM_INTERVAL_MS - now;
    if (wait > 0) {
      // Withheld drops are reported when the interval ends, even if no further drop comes.
      this.dropAlarmTimer ??= this.context.clock.setTimeout(() => {
        this.dropAlarmTimer = null;
        if (this.pendingDrops) this.onDropped({ dropped: { telemetry: 0, operational: 0, critical: 0 }, total: this.pendingDrops.total });
      }, wait);
      return;
    }
    this.lastDropAlarmMono = now;
    this.pendingDrops = null;
    this.raiseAlarm('GW_ERR_OUTBOX_FULL', merged.dropped.critical > 0 ? 'critical' : 'warning', 'outbox byte bound reached; oldest low-priority events dropped', {
      dropped: merged.dropped,
      total: merged.total,
      maxBytes: this.context.config.outbox.maxBytes,
    });
  }
}
