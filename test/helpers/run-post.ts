/**
 * A one-lane post run by the real `border-gateway run` for the restart system tests: its
 * configuration (the lane's devices as given, a real broker, listeners on free ports, the rules
 * instead of models, no random X-ray), a supervisor account written before the first start, and
 * the supervisor's session on the lane API of each process started.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { hashPassword } from '../../core/passwords.js';
import { AccountStore } from '../../gateway/auth/account-store.js';
import { GatewayProcess } from './gateway-process.js';
import type { Rig, Stoppable } from './rig.js';

export const SUPERVISOR = { name: 'sup-1', password: 'a long supervisor passphrase 9' };

export interface RunPost {
  config: string;
  dataDir: string;
}

/**
 * Writes the post's configuration into `dir` and its data directory with the supervisor's account.
 * `devices`: the lane's device list as YAML items, each line indented for the list under `devices:`.
 */
export async function writeRunPost(dir: string, options: { postId: string; brokerUrl: string; devices: string }): Promise<RunPost> {
  const config = join(dir, 'post.yaml');
  writeFileSync(
    config,
    `version: 1
post: { id: ${options.postId} }
lanes:
  - id: lane-1
    devices:
${options.devices}
uplink:
  brokers: [${JSON.stringify(options.brokerUrl)}]
  reconnect: { initialMs: 50, maxMs: 400 }
outbox: { path: outbox.db }
http: { port: 0 }
workflow: { randomXrayShare: 0 }
models: { risk: null, xrayScreening: null }
logLevel: info
`,
  );
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir, { mode: 0o700 });
  const db = new Database(join(dataDir, 'outbox.db'));
  try {
    new AccountStore(db).addAccount(SUPERVISOR.name, 'supervisor', await hashPassword(SUPERVISOR.password));
  } finally {
    db.close();
  }
  return { config, dataDir };
}

/** The supervisor's calls on a running post's lane API: the answer's JSON, or an error naming the status. */
export type SupervisorCall = (method: string, path: string, body?: unknown) => Promise<Record<string, unknown>>;

/** Starts `run` on the post (the process killed by the rig after the test); answers once it runs, with the supervisor logged in. */
export async function startRunPost<B extends Stoppable>(rig: Rig<B>, post: RunPost): Promise<{ gateway: GatewayProcess; operators: string; call: SupervisorCall }> {
  const gateway = new GatewayProcess(['run', '--config', post.config, '--data', post.dataDir]);
  rig.processes.push(gateway);
  const listening = await gateway.waitForLog((line) => String(line.msg).startsWith('operators listening'), 90_000, 'the operators listener');
  const operators = `http://127.0.0.1:${Number(listening.port)}`;
  await gateway.waitForLog((line) => line.msg === 'gateway running', 90_000, 'the gateway running');
  const login = await fetch(`${operators}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...SUPERVISOR, bearer: true }) });
  if (login.status !== 201) throw new Error(`login: ${login.status} ${await login.text()}`);
  const { token } = (await login.json()) as { token: string };
  const call: SupervisorCall = async (method, path, body) => {
    const response = await fetch(`${operators}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (response.status >= 300) throw new Error(`${path}: ${response.status} ${await response.text()}`);
    return (await response.json()) as Record<string, unknown>;
  };
  return { gateway, operators, call };
}
