/**
 * A secret read without showing it: from a prompt without echo on a terminal, or the first line of
 * standard input otherwise (`printf '%s\n' "$PW" | border-gateway user add ...`); never from the
 * command line, where `ps` and the shell history would show it.
 */
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { GatewayError } from '../../core/errors.js';

/** A secret from the terminal without echo, or the first line of standard input. */
export function readSecretFromStdin(prompt: string): Promise<string> {
  const terminal = process.stdin.isTTY === true;
  let muted = false;
  const output = new Writable({
    write: (chunk: Buffer, _encoding, done) => {
      if (!muted) process.stderr.write(chunk);
      done();
    },
  });
  const rl = createInterface({ input: process.stdin, output: terminal ? output : undefined, terminal });
  return new Promise((resolvePassword, reject) => {
    let answered = false;
    if (terminal) process.stderr.write(prompt);
    muted = true;
    rl.once('line', (line) => {
      answered = true;
      if (terminal) process.stderr.write('\n');
      rl.close();
      resolvePassword(line);
    });
    rl.once('close', () => {
      if (!answered) reject(new GatewayError('GW_ERR_AUTH_ACCOUNT', 'no password given on standard input'));
    });
  });
}
