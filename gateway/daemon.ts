/**
 * The gateway daemon: wires the outbox, the uplink, metrics and local HTTP from one context, and
 * gives producers (the lane workflow, drivers, the demo's traffic) one way in: `emit`, which
 * validates the event against the catalogue and resolves only once the event is durable.
 */
import { dirname, isAbsolute, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { PostConfig } from '../config/schema.js';
import type { Clock, TimerHandle } from '../core/clock.js';
import { GatewayError, isGatewayError, type ErrorCode } from '../core/errors.js';
import { makePrivateDir } from '../core/private-files.js';
import { DataDirLock } from './data-dir-lock.js';
import { removeStaleRestoreStaging } from './restore-staging.js';
import { AlarmThrottle } from './alarm-throttle.js';
import { eventDataSchemas, type EventData, type EventType } from '../contract/catalogue.js';
import { createEventFactory, POST_LANE, serialise, type EventDraft, type EventFactory } from '../contract/envelope.js';
import { AccountStore } from './auth/account-store.js';
import { AuditLog, type AuditDraft } from './auth/audit-log.js';
import { ScansAwaitingEvidence } from './evidence/scans-awaiting-evidence.js';
import { CrossingLog } from './trs/crossing-log.js';
import { LoginThrottle } from '../core/login-throttle.js';
import type { Actor } from './auth/roles.js';
import { SessionStore } from './auth/sessions.js';
import type { HealthReport } from './http/health-routes.js';
import { buildDeviceApp, buildOperatorApp, listen, type ListeningApp, type PushHandler, type PushRoute } from './http/servers.js';
import type { LaneApiDeps } from './workflow/lane-routes.js';
import { createMetrics, type GatewayMetrics } from './metrics.js';
import { isOutboxRefusal, SqliteOutbox, type CommittedEvent, type DropReport, type RefusalReport, type WithinCommit } from './outbox/sqlite-outbox.js';
import { GATEWAY_VERSION } from '../core/package-info.js';
import { MqttUplink, type ParkedPublish, type RefusedPublish, type UplinkSettings } from './uplink/mqtt-uplink.js';

export type ModelReloader = (request: { requestedBy: Actor; rollback: boolean }) => Promise<Record<string, unknown>>;

/** Largest push per driver: a plate notification with its JPEG; a 16-bit X-ray image with metadata. */
const PUSH_BODY_LIMITS: Record<string, number> = { 'anpr-http-push': 4 * 1024 * 1024, 'xray-http': 48 * 1024 * 1024 };
/** Drivers that take a push as it arrives (a scan's image goes to disk, not into memory). */
const STREAMED_PUSH_DRIVERS = new Set(['xray-http']);

function pushRoutes(config: PostConfig): PushRoute[] {
  return config.lanes.flatMap((lane) =>
    lane.devices.flatMap((device) => ('path' in device.connection && PUSH_BODY_LIMITS[device.driver] ? [{ path: device.connection.path, deviceId: device.id, bodyLimit: PUSH_BODY_LIMITS[device.driver] as number, streamed: STREAMED_PUSH_DRIVERS.has(device.driver) }] : [])),
  );
}

/** Where the outbox database of `config` lives: its path, relative to the data directory unless absolute. */
export function outboxPathOf(config: PostConfig, dataDir: string): string {
  return isAbsolute(config.outbox.path) ? config.outbox.path : join(dataDir, config.outbox.path);
}

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
  /** The gateway's own folder (forced to 0700); the outbox is in it when its path is relative. */
  dataDir: string;
  /** Whether to serve /healthz and /metrics (default true). */
  http?: boolean;
}

/** Drop alarms are coalesced: at most one per this interval, carrying cumulative counts. */
const DROP_ALARM_INTERVAL_MS = 60_000;
/** Oversized events are alarmed at most once per this interval, with a count of the others. */
const TOO_LARGE_ALARM_INTERVAL_MS = 60_000;

export class Gateway {
  readonly outbox: SqliteOutbox;
  readonly uplink: MqttUplink;
  readonly metrics: GatewayMetrics;
  readonly events: EventFactory;
  /** The gateway's own folder (GatewayContext.dataDir): what it keeps beside its database lives here. */
  readonly dataDir: string;
  private readonly context: GatewayContext;
  private readonly logger: Logger;
  private operatorServer: ListeningApp | null = null;
  /** The operators' fastify app (also when not listening: `operatorApp.inject()`). */
  operatorApp: FastifyInstance | null = null;
  private deviceServer: ListeningApp | null = null;
  /** People's accounts and machines' credentials, in the gateway's database. */
  readonly accounts: AccountStore;
  /** The hash-chained audit log, in the same database (entries commit with their events). */
  readonly audit: AuditLog;
  /** Completed crossings for the console's TRS day, kept after the outbox has delivered them. */
  readonly crossingLog: CrossingLog;
  /** Scans whose evidence is still to be taken, recorded with their `xray.scanned`. */
  readonly scansAwaiting: ScansAwaitingEvidence;
  /** Told of every event as it is made (see onEvent). */
  private readonly eventListeners = new Set<(event: EventDraft) => void>();
  readonly sessions: SessionStore;
  private readonly throttle: LoginThrottle;
  private lastCommitError: GatewayError | null = null;
  private lastDropAlarmMono = Number.NEGATIVE_INFINITY;
  private pendingDrops: DropReport | null = null;
  private dropAlarmTimer: TimerHandle | null = null;
  private connections = 0;
  private readonly pushHandlers = new Map<string, PushHandler>();
  private laneApi: LaneApiDeps | null = null;
  private modelReloader: ModelReloader | null = null;
  private readonly tooLargeAlarm: AlarmThrottle;
  private readonly lock: DataDirLock;
  /** Takes the outbox's fsync off the clocks that step time (Clock.settleWith) at stop. */
  private readonly unsettle: Array<() => void> = [];

  private constructor(context: GatewayContext) {
    this.context = context;
    this.dataDir = context.dataDir;
    this.logger = context.logger.child({ module: 'gateway' });
    try {
      // Events name plates and people; images and keys may sit beside them: owner only.
      makePrivateDir(context.dataDir, true);
    } catch (error) {
      // Not ours to chmod (owned by another user): the operator chose that; the files are 0600.
      this.logger.warn({ err: error, dataDir: context.dataDir }, 'data directory could not be set to mode 0700');
    }
    const outboxPath = outboxPathOf(context.config, context.dataDir);
    // Before the outbox is touched: a second gateway on the same data must never publish its seqs.
    makePrivateDir(dirname(outboxPath), false);
    this.lock = DataDirLock.acquire(outboxPath, () => context.clock.now());
    this.removeStaleRestoreStaging();
    try {
      this.outbox = SqliteOutbox.open({
        path: outboxPath,
        maxBytes: context.config.outbox.maxBytes,
        maxBatch: context.config.outbox.maxBatch,
        reserveBytes: context.config.outbox.reserveBytes,
        clock: context.clock,
        logger: context.logger.child({ module: 'outbox' }),
      });
    } catch (error) {
      this.lock.release();
      throw error;
    }
    // A clock that steps time (tests, lockstep runs) waits for commits to reach the disk before
    // its next timer, as real time would have.
    for (const clock of new Set([context.clock, context.eventClock])) {
      const unsettle = clock?.settleWith?.(() => this.outbox.whenDurable());
      if (unsettle) this.unsettle.push(unsettle);
    }
    this.metrics = createMetrics(this.outbox, () => this.uplink.parkedByCause());
    this.accounts = new AccountStore(this.outbox.database, () => context.clock.now());
    this.audit = new AuditLog(this.outbox.database, () => (context.eventClock ?? context.clock).now());
    this.crossingLog = new CrossingLog(this.outbox.database, { utcOffsetMin: context.config.workflow.utcOffsetMin });
    this.scansAwaiting = new ScansAwaitingEvidence(this.outbox.database, context.config.evidence.maxBytes > 0, context.logger.child({ module: 'evidence' }));
    this.sessions = new SessionStore({ clock: context.clock, idleMs: context.config.http.sessionIdleMin * 60_000, maxMs: context.config.http.sessionMaxHours * 3_600_000 });
    this.throttle = new LoginThrottle({ clock: context.clock });
    this.tooLargeAlarm = new AlarmThrottle(context.clock, TOO_LARGE_ALARM_INTERVAL_MS, ({ details, withheld }) => {
      this.raiseAlarm('GW_ERR_EVENT_TOO_LARGE', 'warning', `${String(details.type)} on ${String(details.laneId)} is ${String(details.bytes)} bytes, over the ${String(details.maxEventBytes)}-byte cap; not stored`, {
        ...details,
        withheld,
      });
    });
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

  /**
   * A restore killed mid-way left its staging folder (a copy of the data directory) beside it:
   * removed now unless a restore still running holds it (restore-staging.ts). The folder's
   * parent is often not the service's to write (a restore runs as root): then it is said, not fatal.
   */
  private removeStaleRestoreStaging(): void {
    const stale = removeStaleRestoreStaging(this.context.dataDir, () => this.context.clock.now());
    for (const path of stale.removed) this.logger.warn({ path }, 'removed the staging folder of a restore that did not finish');
    for (const { path, error } of stale.failed) this.logger.warn({ path, error }, 'a restore that did not finish left this staging folder beside the data directory; remove it (rm -r) or run restore again');
  }

  /** Opens the outbox, starts the uplink and local HTTP. */
  static async start(context: GatewayContext): Promise<Gateway> {
    const gateway = new Gateway(context);
    gateway.uplink.start();
    try {
      await gateway.startHttp(context.http !== false);
    } catch (error) {
      await gateway.stop();
      throw error;
    }
    return gateway;
  }

  /** Builds the HTTP apps; with `listening` false they answer `inject()` only (in-process tests). */
  private async startHttp(listening: boolean): Promise<void> {
    const { config } = this.context;
    const httpLogger = this.context.logger.child({ module: 'http' });
    const operators = await buildOperatorApp({
      logger: httpLogger,
      https: config.http.tls,
      accounts: this.accounts,
      sessions: this.sessions,
      throttle: this.throttle,
      audit: this.audit,
      metrics: this.metrics,
      health: () => this.health(),
      laneDeps: () => this.laneApi,
      reloadModels: () => this.modelReloader,
      recordAction: (draft) => this.recordAction(draft),
      clock: this.context.clock,
      crossingLog: this.crossingLog,
      postNow: () => (this.context.eventClock ?? this.context.clock).now(),
      utcOffsetMin: config.workflow.utcOffsetMin,
      refuseWhileLocked: (what) => this.outbox.refuseWhileLocked(what),
    });
    this.operatorApp = operators;
    if (!listening) return;
    this.operatorServer = await listen(operators, config.http.host, config.http.port, config.http.tls !== undefined);
    this.logger.info({ ...this.operatorServer.address, scheme: this.operatorServer.scheme }, 'operators listening (console /, /api, /healthz, /metrics)');
    const routes = pushRoutes(config);
    if (routes.length === 0) return;
    const devices = await buildDeviceApp({ logger: httpLogger.child({ listener: 'devices' }), https: config.devicePush.tls, accounts: this.accounts, routes, handler: (path) => this.pushHandlers.get(path), maxConcurrentPushes: config.devicePush.maxConcurrentPushes, clock: this.context.clock, refuseWhileLocked: (what) => this.outbox.refuseWhileLocked(what) });
    this.deviceServer = await listen(devices, config.devicePush.host, config.devicePush.port, config.devicePush.tls !== undefined);
    this.logger.info({ ...this.deviceServer.address, scheme: this.deviceServer.scheme, paths: routes.map((r) => r.path) }, 'devices listening');
  }

  /** The lane workflow's API and model reload, served under /api/ once set (503 before). */
  setLaneApi(deps: LaneApiDeps | null, reloadModels: ModelReloader | null = null): void {
    this.laneApi = deps;
    this.modelReloader = reloadModels;
  }

  /** Serves a device's push endpoint (POST `path`) on the device listener. */
  registerPushHandler(path: string, handler: PushHandler): void {
    this.pushHandlers.set(path, handler);
  }

  /**
   * An action of a person or the gateway itself that changes no crossing (a model reload, an
   * account change): one `operator.action` and its audit entry, committed together.
   */
  async recordAction(draft: AuditDraft & { reason: string; apply?: () => void }): Promise<void> {
    await this.emit(
      'operator.action',
      POST_LANE,
      { operatorId: draft.actor.id, role: draft.actor.role, action: draft.action, before: draft.before ?? null, after: draft.after ?? null, reason: draft.reason, crossingId: draft.crossingId ?? null },
      undefined,
      // `apply` (an account change) runs in the same transaction: the change, its audit entry and
      // its event are stored together or not at all.
      (event, db) => {
        draft.apply?.();
        return this.audit.within(draft)(event, db);
      },
    );
  }

  /** The operators' listener (lane API, console, health), once listening. */
  get httpAddress(): { host: string; port: number } | null {
    return this.operatorServer?.address ?? null;
  }

  /** The device listener, when a push device is configured. */
  get deviceAddress(): { host: string; port: number } | null {
    return this.deviceServer?.address ?? null;
  }

  /**
   * Builds, validates and durably commits an event. Resolves with its seq after the commit;
   * rejects (GW_ERR_EVENT_INVALID, GW_ERR_EVENT_TOO_LARGE, GW_ERR_OUTBOX_*) when the event is not
   * stored. An event over `uplink.maxEventBytes` is refused here, where it is made, so nothing
   * the broker could choke on enters the outbox.
   */
  async emit<T extends EventType>(type: T, laneId: string, data: EventData<T>, subject?: string, within?: WithinCommit): Promise<CommittedEvent> {
    const parsed = eventDataSchemas[type].safeParse(data);
    if (!parsed.success) {
      throw new GatewayError('GW_ERR_EVENT_INVALID', `${type}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    }
    if (type === 'device.status') this.recordDeviceHealth(data as EventData<'device.status'>);
    const draft = this.events.create(type, laneId, data, subject);
    const { json, bytes } = serialise(draft);
    const maxEventBytes = this.context.config.uplink.maxEventBytes;
    if (bytes > maxEventBytes) {
      const error = new GatewayError('GW_ERR_EVENT_TOO_LARGE', `${type} on ${laneId}: ${bytes} bytes, over uplink.maxEventBytes ${maxEventBytes}`, {
        details: { type, laneId, bytes, maxEventBytes },
      });
      this.metrics.commitFailures.inc({ code: error.code });
      // An alarm about an oversized alarm could be oversized in turn: that one is only logged.
      if (type === 'alarm.raised') this.logger.error({ err: error, alarm: (data as EventData<'alarm.raised'>).alarm }, 'alarm too large; not stored');
      else this.tooLargeAlarm.record({ type, laneId, bytes, maxEventBytes, id: draft.id, ...(subject === undefined ? {} : { subject }) });
      throw error;
    }
    this.tell(draft);
    try {
      const committed = await this.outbox.append(draft, this.writtenWith(type, within), json);
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

  /**
   * What the gateway itself writes in an event's transaction, before whatever the producer writes
   * with it (lane store, audit), which runs unchanged: a completed crossing is kept for the
   * console's TRS day, a scan until its evidence is taken.
   */
  private writtenWith(type: EventType, within: WithinCommit | undefined): WithinCommit | undefined {
    if (type === 'crossing.completed') return this.crossingLog.within(within);
    if (type === 'xray.scanned') return this.scansAwaiting.within(within);
    return within;
  }

  /**
   * Calls `listener` with every event as it is made, valid and within its size, before its commit
   * (the console shows an alarm also when the disk is full); returns the unsubscribe. The events
   * are the ones the VMC receives, so this is how the console's live view hears of a lane change.
   * A listener only reads the event: its JSON, which the outbox stores, was made before.
   */
  onEvent(listener: (event: EventDraft) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  private tell(draft: EventDraft): void {
    for (const listener of this.eventListeners) {
      try {
        listener(draft);
      } catch (error) {
        // One listener's failure neither stops the event nor keeps it from the others.
        this.logger.error({ err: error, type: draft.type }, 'event listener failed');
      }
    }
  }

  /** Raises `alarm.raised` on the post pseudo-lane; a failure to store it is logged, not thrown. */
  raiseAlarm(alarm: string, severity: 'info' | 'warning' | 'critical', message: string, details: Record<string, unknown> = {}, laneId: string = POST_LANE): void {
    this.logger.warn({ alarm, severity, details }, message);
    this.emit('alarm.raised', laneId, { alarm, severity, message, details }).catch((error: unknown) => {
      // The outbox logs its own refusals, coalesced: no stack trace per alarm while the disk is full.
      if (isOutboxRefusal(error)) this.logger.warn({ code: error.code, alarm }, 'alarm could not be stored');
      else this.logger.error({ err: error, alarm }, 'alarm could not be stored');
    });
  }

  /**
   * What the systemd watchdog judges the outbox by (gateway/systemd/watchdog-rule.ts): counters
   * held in memory, so asking reads nothing from a disk that may be stuck.
   */
  commitState(): { lastSeq: number; durableSeq: number; lastError: ErrorCode | null } {
    return { lastSeq: this.outbox.lastSeq, durableSeq: this.outbox.durableSeq, lastError: this.lastCommitError?.code ?? null };
  }

  health(): HealthReport {
    const stats = this.outbox.stats();
    const connected = this.uplink.state === 'connected';
    const wal = this.outbox.walState();
    const locked = this.outbox.lockWaiting();
    return {
      status: this.lastCommitError ? 'failing' : connected && !wal?.oversized && !locked ? 'ok' : 'degraded',
      postId: this.context.config.post.id,
      version: GATEWAY_VERSION,
      uplink: { state: this.uplink.state, inflight: this.uplink.inflightCount, refused: this.uplink.parkedCount, parked: this.uplink.parkedByCause(), unrouted: this.uplink.unroutedCount, holding: this.uplink.isHolding },
      outbox: {
        depth: stats.depth,
        bytes: stats.bytes,
        maxBytes: stats.maxBytes,
        oldestAgeSec: stats.oldestAgeMs / 1000,
        lastSeq: stats.lastSeq,
        dropped: stats.dropped,
        lastError: this.lastCommitError ? { code: this.lastCommitError.code, message: this.lastCommitError.message } : null,
        ...(wal ? { wal } : {}),
        // Commits waiting for another connection's write lock: since how long, how many events.
        locked: locked ? { forSec: Math.round(locked.forMs / 100) / 10, waiting: locked.waiting } : null,
      },
    };
  }

  /** Stops HTTP and the uplink (draining in-flight publishes briefly), then closes the outbox. */
  async stop(): Promise<void> {
    await this.deviceServer?.app.close();
    await this.operatorApp?.close();
    this.operatorApp = null;
    this.deviceServer = null;
    this.operatorServer = null;
    if (this.dropAlarmTimer) this.context.clock.clearTimeout(this.dropAlarmTimer);
    this.tooLargeAlarm.stop();
    await this.uplink.stop();
    this.outbox.close();
    for (const unsettle of this.unsettle) unsettle();
    this.lock.release();
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
    this.uplink.on('unrouted', (first) => {
      // Once per spell (its first event); the alarm is kept like the events until a subscriber is there.
      if (first.count !== 1) return;
      this.raiseAlarm('GW_ERR_UPLINK_UNROUTED', 'warning', `the broker routed ${first.type} seq ${first.seq} to no subscriber (is the VMC subscribed?); events kept and sent again until one receives them`, {
        ...first,
      });
    });
    this.uplink.on('holding', (report) => {
      // Raised once per spell; the alarm waits in the outbox behind the events held, like them.
      if (!report.holding) return;
      this.raiseAlarm('GW_ERR_UPLINK_HOLDING', 'warning', `${report.parked} parked and ${report.unrouted} unrouted events held back (at most ${report.maxHeldEvents}): newer events wait in the outbox until some are delivered`, {
        ...report,
      });
    });
    this.uplink.on('parked', (parked: ParkedPublish) => {
      // As with refusals: an alarm about a parked alarm could be parked in turn; logged only.
      if (parked.type === 'alarm.raised') {
        this.logger.error({ parked }, 'an alarm was parked by the uplink; it is kept and retried');
        return;
      }
      const why =
        parked.cause === 'packet-too-large'
          ? `its ${parked.packetBytes}-byte packet exceeds the broker's maximum packet size ${String(parked.maxPacketSize)}`
          : `the broker dropped the connection ${parked.drops} times in a row on it`;
      this.raiseAlarm(parked.cause === 'packet-too-large' ? 'GW_ERR_UPLINK_PACKET_TOO_LARGE' : 'GW_ERR_UPLINK_PUBLISH_POISON', 'warning', `${parked.type} seq ${parked.seq} parked: ${why}; the events behind it go on`, {
        ...parked,
      });
    });
    this.outbox.on('dropped', (report) => this.onDropped(report));
    // Once per spell: the outbox emits `wal` only when the WAL crosses its bound, either way.
    this.outbox.on('wal', (wal) => {
      if (!wal.oversized) return;
      this.raiseAlarm('GW_ERR_OUTBOX_WAL_GROWING', 'warning', `the database's WAL is ${wal.bytes} bytes, past ${wal.warnBytes}: a reader holding an old snapshot (a backup, an sqlite3 shell in a read transaction?) keeps checkpoints from resetting it`, { ...wal });
    });
    // Events refused while the disk was full are lost to the VMC: tell it once commits succeed again.
    this.outbox.on('recovered', (report: RefusalReport) => {
      const since = new Date(report.sinceMs).toISOString();
      const until = new Date(report.untilMs).toISOString();
      this.raiseAlarm(report.code, 'critical', `outbox refused ${report.events} event(s) from ${since} to ${until} (${report.code}); commits succeed again`, { ...report });
    });
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
