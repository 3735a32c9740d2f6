/**
 * "While a second process loads the machine": a child process that keeps one core busy (a tight
 * loop hashing, so it also touches memory) for as long as the measurement runs. On the 2-core
 * machines here that leaves the gateway, Mosquitto and the bench sharing the other core.
 */
import { spawn, type ChildProcess } from 'node:child_process';

const BURNER = `
const { createHash } = require('node:crypto');
const block = Buffer.alloc(64 * 1024, 7);
for (;;) createHash('sha256').update(block).digest();
`;

export interface MachineLoad {
  stop(): Promise<void>;
}

export function loadMachine(): MachineLoad {
  const child: ChildProcess = spawn(process.execPath, ['-e', BURNER], { stdio: 'ignore' });
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

/** Runs `measure` with the machine loaded by a second process, and stops the load after. */
export async function underLoad<T>(measure: () => Promise<T>): Promise<T> {
  const load = loadMachine();
  try {
    return await measure();
  } finally {
    await load.stop();
  }
}
