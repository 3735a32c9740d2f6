/**
 * Byte-stream connections for serial devices: a local serial port (serialport) or a serial device
 * server's raw TCP port. Both give the reconnect loop a Connection and the driver its bytes.
 */
import { connect as tcpConnect } from 'node:net';
import { SerialPortStream } from '@serialport/stream';
import { SerialPort } from 'serialport';
import type { Connection } from '../reconnect-loop.js';

/** A serialport binding (the OS one by default; @serialport/binding-mock in tests). */
export type SerialBinding = ConstructorParameters<typeof SerialPortStream>[0]['binding'];

export type ByteStreamTarget =
  | { path: string; baudRate: number; dataBits: 7 | 8; parity: 'none' | 'even' | 'odd'; stopBits: 1 | 2 }
  | { host: string; port: number };

export interface ByteStream extends Connection {
  write(bytes: Buffer): void;
}

/**
 * Opens the stream; `onData` gets every chunk. Rejects when it cannot open. `serialBinding`
 * replaces the OS serial binding (tests use @serialport/binding-mock).
 */
export function openByteStream(target: ByteStreamTarget, onData: (chunk: Buffer) => void, connectTimeoutMs = 5000, serialBinding?: SerialBinding): Promise<ByteStream> {
  return 'path' in target ? openSerial(target, onData, serialBinding) : openTcp(target, onData, connectTimeoutMs);
}

function openSerial(target: Extract<ByteStreamTarget, { path: string }>, onData: (chunk: Buffer) => void, binding?: SerialBinding): Promise<ByteStream> {
  return new Promise((resolve, reject) => {
    const options = { path: target.path, baudRate: target.baudRate, dataBits: target.dataBits, parity: target.parity, stopBits: target.stopBits, autoOpen: false } as const;
    const port = binding ? new SerialPortStream({ ...options, binding }) : new SerialPort(options);
    port.open((error) => {
      if (error) {
        reject(error);
        return;
      }
      let resolveClosed: (error: Error | null) => void = () => undefined;
      const closed = new Promise<Error | null>((done) => (resolveClosed = done));
      let lastError: Error | null = null;
      port.on('data', onData);
      port.on('error', (e) => (lastError = e));
      port.on('close', (e: Error | null) => resolveClosed(e ?? lastError));
      resolve({
        closed,
        close: () => {
          if (port.isOpen) port.close();
          else resolveClosed(null);
        },
        write: (bytes) => {
          port.write(bytes);
        },
      });
    });
  });
}

function openTcp(target: { host: string; port: number }, onData: (chunk: Buffer) => void, connectTimeoutMs: number): Promise<ByteStream> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: target.host, port: target.port });
    socket.setTimeout(connectTimeoutMs, () => socket.destroy(new Error(`connect timeout after ${connectTimeoutMs} ms`)));
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.setTimeout(0);
      socket.off('error', reject);
      let lastError: Error | null = null;
      socket.on('error', (e) => (lastError = e));
      const closed = new Promise<Error | null>((done) => socket.once('close', () => done(lastError ?? new Error('connection closed by the device'))));
      socket.on('data', onData);
      resolve({ closed, close: () => socket.destroy(), write: (bytes) => socket.write(bytes) });
    });
  });
}
