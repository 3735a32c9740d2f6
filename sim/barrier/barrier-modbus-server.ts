/** Serves a simulated barrier as a Modbus TCP I/O module (modbus-serial's ServerTCP). */
import modbusSerial from 'modbus-serial';
import type { Clock } from '../../core/clock.js';
import type { SimulatedBarrier } from './simulated-barrier.js';

export interface BarrierModbusServer {
  port: number;
  /** Drops every client connection (a module reboot, a cable pulled). */
  dropClients(): void;
  close(): Promise<void>;
}

type Callback<T> = (error: Error | null, value: T) => void;

/** modbus-serial's server turns an error's `modbusErrorCode` into an exception response. */
function modbusException(code: number): Error {
  return Object.assign(new Error(`simulated exception ${code}`), { modbusErrorCode: code });
}

/** The Modbus service vector of a simulated barrier: exceptions and reply delays apply to all. */
function barrierVector(barrier: SimulatedBarrier, clock: Clock) {
  const answer = <T>(cb: Callback<T>, value: () => T): void => {
    const reply = (): void => {
      const code = barrier.takeException();
      if (code !== null) cb(modbusException(code), undefined as T);
      else cb(null, value());
    };
    if (barrier.replyDelayMs > 0) clock.setTimeout(reply, barrier.replyDelayMs);
    else reply();
  };
  return {
    getDiscreteInput: (address: number, _unit: number, cb: Callback<boolean>) => answer(cb, () => barrier.input(address)),
    getCoil: (address: number, _unit: number, cb: Callback<boolean>) => answer(cb, () => barrier.coil(address)),
    setCoil: (address: number, value: boolean, _unit: number, cb: Callback<void>) => answer(cb, () => barrier.setCoil(address, value)),
  };
}

export async function serveBarrierModbus(barrier: SimulatedBarrier, clock: Clock, port: number, unitId = 1, host = '127.0.0.1'): Promise<BarrierModbusServer> {
  const vector = barrierVector(barrier, clock);
  const server = new modbusSerial.ServerTCP(vector, { host, port, unitID: unitId });
  await new Promise<void>((resolve, reject) => {
    server.once('initialized', () => resolve());
    server.once('serverError', (error: unknown) => reject(error instanceof Error ? error : new Error(String(error))));
  });
  server.on('socketError', () => undefined);
  return {
    port,
    dropClients: () => {
      for (const socket of server.socks.keys()) socket.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of server.socks.keys()) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Serves a simulated barrier as a Modbus RTU slave on a serial line (one end of a socat pty pair). */
export async function serveBarrierModbusRtu(barrier: SimulatedBarrier, clock: Clock, path: string, unitId = 1, baudRate = 9600): Promise<{ close(): Promise<void> }> {
  const server = new modbusSerial.ServerSerial(barrierVector(barrier, clock), { path, baudRate, unitID: unitId, openCallback: () => undefined });
  await new Promise<void>((resolve, reject) => {
    server.once('initialized', () => resolve());
    server.once('error', (error: unknown) => reject(error instanceof Error ? error : new Error(String(error))));
  });
  return { close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
