/**
 * Puts a simulated indicator on a real transport: a TCP server (as a serial device server would
 * offer) or the device end of a socat pty pair (sim/pty-pair.ts).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { SerialPort } from 'serialport';
import { listenOn } from '../../core/listen.js';
import type { SimulatedIndicator } from './simulated-indicator.js';

export interface IndicatorTcpServer {
  port: number;
  /** Drops every client connection (a device server reboot, a cable pulled). */
  dropClients(): void;
  close(): Promise<void>;
}

export async function serveIndicatorTcp(indicator: SimulatedIndicator, port = 0, host = '127.0.0.1'): Promise<IndicatorTcpServer> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    const detach = indicator.attach((bytes) => socket.write(bytes));
    socket.on('data', (bytes) => indicator.receive(bytes, (reply) => socket.write(reply)));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      detach();
      sockets.delete(socket);
    });
  });
  const listening = await listenOn(server, port, host);
  return {
    port: listening,
    dropClients: () => {
      for (const socket of sockets) socket.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Attaches the indicator to the device end of a pty pair. */
export async function serveIndicatorPty(indicator: SimulatedIndicator, devicePath: string): Promise<{ close(): Promise<void> }> {
  const port = new SerialPort({ path: devicePath, baudRate: 9600, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((error) => (error ? reject(error) : resolve())));
  const detach = indicator.attach((bytes) => port.write(bytes));
  port.on('data', (bytes: Buffer) => indicator.receive(bytes, (reply) => port.write(reply)));
  port.on('error', () => undefined);
  return {
    close: () =>
      new Promise<void>((resolve) => {
        detach();
        if (port.isOpen) port.close(() => resolve());
        else resolve();
      }),
  };
}
