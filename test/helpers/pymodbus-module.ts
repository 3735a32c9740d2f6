/**
 * Debian's pymodbus serving a barrier I/O module (pymodbus-io-module.py) as a child process: a
 * Modbus TCP slave nobody on this project wrote, whose inputs the test sets as vehicles would,
 * and whose coil writes it reports line by line.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** Debian's interpreter: python3-pymodbus installs there (a pyenv `python3` does not see it). */
export const PYTHON = '/usr/bin/python3';
const MODULE_SCRIPT = fileURLToPath(new URL('pymodbus-io-module.py', import.meta.url));
/** A safety net for a hung peer, not a wait for time to pass. */
export const HUNG_MS = 20_000;

/** The pymodbus module as a child process: its coil writes, and commands acknowledged line by line. */
export class PymodbusModule {
  readonly coilWrites: string[] = [];
  private readonly lines: string[] = [];
  private readonly waiters: { match: (line: string) => boolean; resolve: (line: string) => void }[] = [];

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      this.lines.push(line);
      if (line.startsWith('coil ')) this.coilWrites.push(line);
      for (const waiter of [...this.waiters]) {
        if (!waiter.match(line)) continue;
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    });
  }

  static async start(): Promise<{ module: PymodbusModule; port: number }> {
    const child = spawn(PYTHON, [MODULE_SCRIPT, '1'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const stderr: string[] = [];
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
    const module = new PymodbusModule(child);
    const exited = new Promise<never>((_resolve, reject) => child.once('exit', (code) => reject(new Error(`pymodbus module exited (${code}): ${stderr.join('')}`))));
    const listening = await Promise.race([module.line((line) => line.startsWith('listening ')), exited]);
    return { module, port: Number(listening.split(' ')[1]) };
  }

  /** Sets a discrete input (`loop`, `photocell`, …); resolves once the module has applied it. */
  async set(input: string, on: boolean): Promise<void> {
    const ack = this.line((line) => line === `ok ${input} ${on ? 1 : 0}`);
    this.child.stdin.write(`set ${input} ${on ? 1 : 0}\n`);
    await ack;
  }

  /** The first `count` coil writes, once the module has seen them (a coil's release follows its pulse). */
  async writes(count: number): Promise<string[]> {
    let seen = 0;
    await this.line((line) => line.startsWith('coil ') && (seen += 1) >= count);
    return this.coilWrites.slice(0, count);
  }

  line(match: (line: string) => boolean): Promise<string> {
    const seen = this.lines.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`pymodbus module: no such line; last lines:\n${this.lines.slice(-10).join('\n')}`)), HUNG_MS);
      this.waiters.push({
        match,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
    });
  }

  /**
   * Freezes the module (SIGSTOP) or lets it go on (SIGCONT): frozen, it takes connections (the
   * kernel does) and answers nothing, so a request the gateway sends waits unanswered.
   */
  freeze(frozen: boolean): void {
    this.child.kill(frozen ? 'SIGSTOP' : 'SIGCONT');
  }

  async stop(): Promise<void> {
    this.child.kill('SIGCONT'); // a frozen module would never read the end of its stdin
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.stdin.end(); // end of stdin stops the module
    await exited;
  }
}

