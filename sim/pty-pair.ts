/**
 * A real serial line as the OS sees it: `socat` links two pseudo-terminals, one end for the
 * simulated device, the other for the gateway (which opens it as it would /dev/ttyS1).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface PtyPair {
  /** The device side (the simulator writes here). */
  devicePath: string;
  /** The gateway side (the driver opens this, as it would /dev/ttyS1). */
  gatewayPath: string;
  close(): Promise<void>;
}

/** Starts `socat` with two linked ptys; resolves once both exist. */
export async function openPtyPair(devicePath: string, gatewayPath: string): Promise<PtyPair> {
  const child: ChildProcess = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${devicePath}`, `pty,raw,echo=0,link=${gatewayPath}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    const lines = createInterface({ input: child.stderr! });
    lines.on('line', (line) => {
      if (line.includes('starting data transfer loop')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`socat exited with ${code}`)));
    child.once('error', reject);
  });
  child.stderr?.resume();
  return {
    devicePath,
    gatewayPath,
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
