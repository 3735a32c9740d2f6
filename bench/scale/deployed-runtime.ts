/**
 * How the post runs Node: the `Environment=` lines of deploy/border-gateway.service, NODE_OPTIONS
 * split into flags for the command line, and the node flags of its `ExecStart=` (V8's own, which
 * NODE_OPTIONS refuses). Read from the unit itself, so the benchmarks run with whatever flags the
 * unit sets today.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../core/package-info.js';

export const UNIT_FILE = join(PACKAGE_ROOT, 'deploy', 'border-gateway.service');

export interface DeployedRuntime {
  /** NODE_OPTIONS of the unit, then the flags ExecStart gives node before the script. */
  nodeFlags: string[];
  /** The unit's other variables (NODE_ENV, ORT_DISABLE_TELEMETRY, …). */
  env: Record<string, string>;
}

export function deployedRuntime(unitText = readFileSync(UNIT_FILE, 'utf8')): DeployedRuntime {
  const env: Record<string, string> = {};
  // One assignment per line, quoted as a whole when its value holds spaces ("NAME=a b").
  for (const [, assignment] of unitText.matchAll(/^Environment=(.*)$/gm)) {
    const text = (assignment as string).trim().replace(/^"(.*)"$/, '$1');
    const at = text.indexOf('=');
    if (at > 0) env[text.slice(0, at)] = text.slice(at + 1);
  }
  const nodeFlags = (env.NODE_OPTIONS ?? '').split(/\s+/).filter(Boolean);
  delete env.NODE_OPTIONS;
  const [, ...execArgs] = (/^ExecStart=(.*)$/m.exec(unitText)?.[1] ?? '').trim().split(/\s+/);
  for (const arg of execArgs) {
    if (!arg.startsWith('-')) break;
    nodeFlags.push(arg);
  }
  return { nodeFlags, env };
}
