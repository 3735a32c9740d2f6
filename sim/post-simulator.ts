/**
 * The simulated hardware of a whole post, from its configuration: for every device, a simulated
 * device on the endpoint the configuration names (ONVIF camera on its URL's port, Modbus TCP
 * barrier module, weighbridge indicator on TCP or on a socat pty), and the traffic generator.
 * sim/ depends on nothing of the gateway or the drivers, only on config/ and core/: it stands in for
 * the outside world, with protocol code of its own (sim/independence.test.ts keeps it so).
 */
import type { DeviceConfig, PostConfig } from '../config/schema.js';
import { resolveSecret } from '../config/secrets.js';
import type { Clock } from '../core/clock.js';
import { GatewayError } from '../core/errors.js';
import { isAddressTaken } from '../core/listen.js';
import { SimulatedCamera } from './anpr/simulated-camera.js';
import { serveBarrierModbus } from './barrier/barrier-modbus-server.js';
import { SimulatedBarrier } from './barrier/simulated-barrier.js';
import { GatewayDeskClient, type DeskCredentials, type LaneDesk } from './gateway-client.js';
import { TrafficGenerator, type SimulatedLane } from './traffic.js';
import { openPtyPair } from './pty-pair.js';
import { serveIndicatorPty, serveIndicatorTcp } from './weighbridge/indicator-endpoints.js';
import { SimulatedIndicator } from './weighbridge/simulated-indicator.js';
import { SimulatedScanner } from './xray/simulated-scanner.js';
import { mkdirSync } from 'node:fs';

export interface SimulatorEndpoint {
  deviceId: string;
  laneId: string;
  endpoint: string;
}

/** Faults an operator or a test can inject into a running simulated device. */
export type Fault =
  | { fault: 'disconnect' }
  | { fault: 'garbage' }
  | { fault: 'modbus-exception'; code?: number }
  | { fault: 'slow'; ms?: number }
  | { fault: 'jam'; on?: boolean }
  | { fault: 'misread' }
  | { fault: 'unreadable' }
  | { fault: 'tailgate' }
  /** The camera's clock runs `offsetMs` ahead (negative: behind); 0 sets it right. Default one hour. */
  | { fault: 'clock-skew'; offsetMs?: number };

export interface RunningSimulator {
  /** Injects a fault into a device; throws naming what the device cannot do. */
  inject(deviceId: string, fault: Fault): void;
  endpoints: SimulatorEndpoint[];
  /** Devices of the config this version cannot simulate, with the reason. */
  skipped: { deviceId: string; reason: string }[];
  lanes: SimulatedLane[];
  traffic: TrafficGenerator;
  stop(): Promise<void>;
}

export interface SimulatorOptions {
  /** Mean seconds (traffic clock) between trucks on a lane. */
  intervalSec: number;
  traffic?: boolean;
  /** Clock of arrivals and waiting; default the device clock. The demo runs it fast. */
  trafficClock?: Clock;
  /** The gateway's lane API; default the post's configured HTTP address, with `credentials`. */
  desk?: LaneDesk | null;
  /** How the simulated registration system and inspectors authenticate; without them nobody registers. */
  credentials?: DeskCredentials;
  random?: () => number;
  onError?: (error: Error) => void;
  /** Bytes of each camera snapshot (SimulatedCameraOptions.snapshotBytes); default the 1×1 JPEG. */
  snapshotBytes?: number;
}

/** The gateway's operators' listener as the post's configuration names it. */
function gatewayUrl(config: PostConfig): string {
  const host = config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host;
  return `${config.http.tls ? 'https' : 'http'}://${host}:${config.http.port}`;
}

/** `clock` is the devices' clock (what they must do in real time); see SimulatorOptions for traffic. */
export async function startPostSimulator(config: PostConfig, clock: Clock, options: SimulatorOptions): Promise<RunningSimulator> {
  const endpoints: SimulatorEndpoint[] = [];
  const skipped: { deviceId: string; reason: string }[] = [];
  const closers: (() => Promise<void> | void)[] = [];
  const lanes: SimulatedLane[] = [];
  let traffic: TrafficGenerator | null = null;
  const faults = new Map<string, (fault: Fault) => boolean>();
  try {
    for (const [laneIndex, lane] of config.lanes.entries()) {
      const simulated: SimulatedLane = { id: lane.id, directions: lane.directions };
      lanes.push(simulated);
      for (const [deviceIndex, device] of lane.devices.entries()) {
        const where = `lanes[${laneIndex}].devices[${deviceIndex}]`;
        const started = await startDevice(device, clock, where, simulated, closers, (handler) => faults.set(device.id, handler), (laneId) => traffic?.tailgateNext(laneId), options).catch((error: unknown) => {
          throw isAddressTaken(error) ? portTaken(`${device.id} (${where})`, error) : error;
        });
        if (typeof started === 'string') endpoints.push({ deviceId: device.id, laneId: lane.id, endpoint: started });
        else skipped.push({ deviceId: device.id, reason: started.skipped });
      }
    }
  } catch (error) {
    for (const close of closers.reverse()) await close();
    throw error;
  }
  traffic = new TrafficGenerator(lanes, {
    clock: options.trafficClock ?? clock,
    deviceClock: clock,
    intervalSec: options.intervalSec,
    desk: options.desk !== undefined ? options.desk : options.credentials ? new GatewayDeskClient(gatewayUrl(config), options.credentials) : null,
    watchlist: config.workflow.watchlist,
    ...(options.random ? { random: options.random } : {}),
    ...(options.onError ? { onError: options.onError } : {}),
  });
  if (options.traffic !== false) traffic.start();
  return {
    inject: (deviceId, fault) => {
      const handler = faults.get(deviceId);
      if (!handler) throw new Error(`no simulated device "${deviceId}"; devices: ${[...faults.keys()].join(', ')}`);
      if (!handler(fault)) throw new Error(`device "${deviceId}" has no fault "${fault.fault}"`);
    },
    endpoints,
    skipped,
    lanes,
    traffic,
    stop: async () => {
      traffic.stop();
      for (const close of closers.reverse()) await close();
    },
  };
}

async function startDevice(
  device: DeviceConfig,
  clock: Clock,
  where: string,
  lane: SimulatedLane,
  closers: (() => Promise<void> | void)[],
  onFault: (handler: (fault: Fault) => boolean) => void,
  tailgate: (laneId: string) => void,
  options: Pick<SimulatorOptions, 'snapshotBytes'>,
): Promise<string | { skipped: string }> {
  switch (device.driver) {
    case 'onvif': {
      const url = new URL(device.connection.url);
      const camera = new SimulatedCamera({ username: device.connection.username, password: resolveSecret(device.connection.password, `${where}.connection.password`), clock, serial: device.id, ...(options.snapshotBytes === undefined ? {} : { snapshotBytes: options.snapshotBytes }) });
      await camera.listen(Number(url.port || 80), url.hostname);
      closers.push(() => camera.close());
      if (device.role === 'exit') lane.exitCamera ??= camera;
      else lane.camera ??= camera;
      onFault((fault) => {
        if (fault.fault === 'disconnect') camera.expireSubscriptions();
        else if (fault.fault === 'slow') camera.replyDelayMs = fault.ms ?? 2000;
        else if (fault.fault === 'misread') camera.showPlate({ plate: 'GE-1O8-A8', likelihood: 0.61, country: 'GE' });
        else if (fault.fault === 'unreadable') camera.showPlate({ plate: '', likelihood: 0.05, country: 'GE' });
        else if (fault.fault === 'clock-skew') camera.clockOffsetMs = clockOffset(fault.offsetMs);
        else return false;
        return true;
      });
      return `ONVIF camera ${camera.deviceServiceUrl}`;
    }
    case 'modbus-tcp': {
      const barrier = new SimulatedBarrier(device.registers, clock);
      const server = await serveBarrierModbus(barrier, clock, device.connection.port, device.connection.unitId, device.connection.host);
      closers.push(() => server.close());
      lane.barrier ??= barrier;
      onFault((fault) => {
        if (fault.fault === 'disconnect') server.dropClients();
        else if (fault.fault === 'modbus-exception') barrier.nextException = fault.code ?? 0x04;
        else if (fault.fault === 'slow') barrier.replyDelayMs = fault.ms ?? 2000;
        else if (fault.fault === 'jam') barrier.jammed = fault.on ?? true;
        else if (fault.fault === 'tailgate') tailgate(lane.id);
        else return false;
        return true;
      });
      return `Modbus TCP barrier module ${device.connection.host}:${device.connection.port} unit ${device.connection.unitId}`;
    }
    case 'sma':
    case 'toledo': {
      const indicator = new SimulatedIndicator({ protocol: device.driver, checksum: device.driver === 'toledo' && device.checksum, clock, periodMs: 200 });
      indicator.noiseKg = Math.min(5, device.toleranceKg / 4);
      if (device.driver === 'toledo' || device.smaMode === 'continuous') indicator.startContinuous();
      closers.push(() => indicator.stop());
      lane.indicator ??= indicator;
      if ('host' in device.connection) {
        const server = await serveIndicatorTcp(indicator, device.connection.port, device.connection.host);
        closers.push(() => server.close());
        onFault((fault) => {
          if (fault.fault === 'disconnect') server.dropClients();
          else if (fault.fault === 'garbage') indicator.injectGarbage(Buffer.from('\x00\x13 noise on the line \xff\x02'));
          else return false;
          return true;
        });
        return `${device.driver.toUpperCase()} weighbridge indicator tcp://${device.connection.host}:${server.port}`;
      }
      // A serial line: socat links the gateway's configured path to a pty the simulator drives.
      const pty = await openPtyPair(`${device.connection.path}.sim`, device.connection.path);
      closers.push(() => pty.close());
      const served = await serveIndicatorPty(indicator, pty.devicePath);
      closers.push(() => served.close());
      return `${device.driver.toUpperCase()} weighbridge indicator on pty ${device.connection.path}`;
    }
    case 'xray-folder': {
      mkdirSync(device.connection.folder, { recursive: true });
      lane.scanner ??= new SimulatedScanner(device.connection.folder, device.id, () => clock.now());
      return `X-ray scanner writing ${device.connection.folder}`;
    }
    default:
      return { skipped: `driver ${device.driver} has no simulated device in this version` };
  }
}

/**
 * A simulated endpoint whose port another process holds (a second `sim` or `demo` of the same
 * post, or a real service): a coded error naming the device and the address, not a stack trace.
 */
export function portTaken(what: string, error: NodeJS.ErrnoException & { address?: string; port?: number }): GatewayError {
  const where = error.port === undefined ? 'its port' : `${error.address ?? '127.0.0.1'}:${error.port}`;
  const why = error.code === 'EACCES' ? 'this user may not listen on it (a port below 1024)' : 'another process holds it (another sim or demo of this post, or another service)';
  return new GatewayError('GW_ERR_SIM_LISTEN', `${what}: cannot listen on ${where}: ${why}; stop that process, or give the device another port in the configuration`, { cause: error });
}

/** A clock-skew fault's offset: whole ms within ±10 years, one hour when not given. */
function clockOffset(offsetMs: unknown): number {
  if (offsetMs === undefined) return 3_600_000;
  if (typeof offsetMs !== 'number' || !Number.isInteger(offsetMs) || Math.abs(offsetMs) > 10 * 365 * 86_400_000) throw new Error('clock-skew: offsetMs must be whole milliseconds within ±10 years');
  return offsetMs;
}
