/**
 * `border-gateway user | client | audit`: people's accounts, machines' credentials and the audit
 * log, in the database of the post's data directory (the gateway may be running: it reads accounts
 * on every request, so a change acts at once). Passwords are read from a prompt without echo, or
 * from standard input when it is not a terminal (`printf '%s\n' "$PW" | border-gateway user add …`);
 * never from the command line, where `ps` and the shell history would show them. Every change is
 * an audit entry by `cli:<unix user>`.
 */
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import pino from 'pino';
import { loadConfigFile } from '../config/load-config.js';
import { systemClock } from '../core/clock.js';
import { EXIT_CODES, GatewayError } from '../core/errors.js';
import { AccountStore } from './auth/account-store.js';
import { AuditLog } from './auth/audit-log.js';
import { hashPassword, passwordProblem } from '../core/passwords.js';
import type { Actor } from './auth/roles.js';
import { parseForm, selectForm, unknownForm } from '../core/command-line.js';
import { AUDIT, CLIENT, USER } from './commands/command-specs.js';
import { outboxPathOf } from './daemon.js';
import { SqliteOutbox } from './outbox/sqlite-outbox.js';

export interface CommandIo {
  out: (line: string) => void;
  /** Reads a secret: from a no-echo prompt on a terminal, else a line of stdin. */
  readSecret: (prompt: string) => Promise<string>;
}

/** The database of the gateway that `--config`/`--data` name, opened as the gateway opens it. */
function openStore(configFile: string, dataDir: string | undefined): SqliteOutbox {
  const config = loadConfigFile(configFile);
  const data = resolve(dataDir ?? 'data');
  const path = outboxPathOf(config, data);
  return SqliteOutbox.open({ path, maxBytes: config.outbox.maxBytes, maxBatch: config.outbox.maxBatch, clock: systemClock, logger: pino({ level: 'silent' }) });
}

/**
 * Who ran the command, for the audit trail: the login name, or `uid-N` for a uid without one
 * (`runuser -u` into an install root whose user exists only there, a container's bare uid), where
 * os.userInfo() throws.
 */
function cliActor(): Actor {
  let name: string;
  try {
    name = userInfo().username;
  } catch {
    name = `uid-${process.getuid?.() ?? 'unknown'}`;
  }
  return { id: `cli:${name}`, role: 'system' };
}

async function newPassword(io: CommandIo, name: string): Promise<string> {
  const password = await io.readSecret(`password for ${name}: `);
  const problem = passwordProblem(password);
  if (problem) throw new GatewayError('GW_ERR_AUTH_ACCOUNT', problem);
  return password;
}

const SPECS = { user: USER, client: CLIENT, audit: AUDIT } as const;

export async function accountCommand(area: 'user' | 'client' | 'audit', args: string[], io: CommandIo): Promise<number> {
  // Each subcommand's options, operands and required options are its form's (commands/command-specs.ts).
  const selected = selectForm(SPECS[area], args);
  if (!selected) throw unknownForm(SPECS[area], args);
  const sub = selected.form.path.split(' ')[1];
  const parsed = parseForm(selected.form, selected.rest);
  const text = (option: string): string | undefined => {
    const value = parsed.values[option];
    return typeof value === 'string' ? value : undefined;
  };
  const allowed = parsed.values.allow;
  // --config (and --role of an `add`) are required in their forms: parseForm refused a line without them.
  const values = { config: text('config') as string, data: text('data'), role: text('role'), device: text('device'), search: text('search'), limit: text('limit'), allow: Array.isArray(allowed) ? allowed.filter((a): a is string => typeof a === 'string') : undefined };
  const name = parsed.positionals[0];
  const store = openStore(values.config, values.data);
  try {
    const accounts = new AccountStore(store.database);
    const audit = new AuditLog(store.database);
    // The change and its audit entry in one transaction, taken at once (IMMEDIATE) so a gateway
    // writing the same database meanwhile waits instead of racing for the chain's head.
    const changed = <T>(change: () => T, action: string, after: string): T =>
      store.database
        .transaction(() => {
          const result = change();
          audit.record({ actor: cliActor(), action, after, reason: 'command line' });
          return result;
        })
        .immediate();
    const target = name as string;
    switch (`${area} ${sub}`) {
      case 'user add': {
        const hash = await hashPassword(await newPassword(io, target));
        const role = values.role as string;
        changed(() => accounts.addAccount(target, role, hash), 'user.add', `${target} (${role})`);
        io.out(`user ${target} added (${values.role})`);
        return EXIT_CODES.ok;
      }
      case 'user passwd': {
        if (!accounts.account(target)) throw new GatewayError('GW_ERR_AUTH_ACCOUNT', `no account "${target}"`);
        const hash = await hashPassword(await newPassword(io, target));
        changed(() => accounts.setPassword(target, hash), 'user.password', target);
        io.out(`password of ${target} changed; its sessions end at their next request`);
        return EXIT_CODES.ok;
      }
      case 'user disable':
      case 'user enable':
        changed(() => accounts.setAccountDisabled(target, sub === 'disable'), `user.${sub}`, target);
        io.out(`user ${target} ${sub}d${sub === 'disable' ? '; its sessions end at their next request' : ''}`);
        return EXIT_CODES.ok;
      case 'user list':
        for (const account of accounts.accounts()) io.out(`${account.name.padEnd(24)} ${account.role.padEnd(11)} ${account.disabled ? 'disabled' : 'enabled '} changed ${new Date(account.changedMs).toISOString()}`);
        return EXIT_CODES.ok;
      case 'client add': {
        const role = values.role as string;
        const secret = changed(() => accounts.addClient(target, role, { deviceId: values.device ?? null, allowFrom: values.allow ?? [] }), 'client.add', `${target} (${role}${values.device ? `, device ${values.device}` : ''})`);
        io.out(`client ${target} added (${values.role}); its secret, shown this once:`);
        io.out(`  bearer token:  ${target}.${secret}`);
        io.out(`  HTTP Basic:    user ${target}  password ${secret}`);
        return EXIT_CODES.ok;
      }
      case 'client rotate': {
        const secret = changed(() => accounts.rotateClient(target), 'client.rotate', target);
        io.out(`client ${target}: new secret (the old one no longer works):`);
        io.out(`  bearer token:  ${target}.${secret}`);
        io.out(`  HTTP Basic:    user ${target}  password ${secret}`);
        return EXIT_CODES.ok;
      }
      case 'client disable':
      case 'client enable':
        changed(() => accounts.setClientDisabled(target, sub === 'disable'), `client.${sub}`, target);
        io.out(`client ${target} ${sub}d`);
        return EXIT_CODES.ok;
      case 'client list':
        for (const client of accounts.clients()) {
          io.out(`${client.name.padEnd(24)} ${client.role.padEnd(12)} ${(client.deviceId ?? '-').padEnd(20)} ${client.disabled ? 'disabled' : 'enabled '} from ${client.allowFrom.join(',') || 'anywhere'}`);
        }
        return EXIT_CODES.ok;
      case 'audit list': {
        const limit = Number(values.limit ?? 50);
        for (const entry of audit.search({ ...(values.search === undefined ? {} : { text: values.search }), limit }).reverse()) {
          io.out(printable(`${String(entry.seq).padStart(6)} ${new Date(entry.timeMs).toISOString()} ${entry.actor} (${entry.role}) ${entry.action}${entry.crossingId ? ` ${entry.crossingId}` : ''}${entry.before !== null || entry.after !== null ? ` ${entry.before ?? '-'} → ${entry.after ?? '-'}` : ''}${entry.reason ? ` "${entry.reason}"` : ''}`));
        }
        return EXIT_CODES.ok;
      }
      case 'audit verify': {
        const verdict = audit.verify();
        if (verdict.ok) {
          io.out(`audit log ok: ${verdict.entries} entries, chain intact to entry ${verdict.lastSeq}`);
          return EXIT_CODES.ok;
        }
        for (const problem of verdict.problems) io.out(`entry ${problem.seq}: ${problem.problem}`);
        throw new GatewayError('GW_ERR_AUDIT_BROKEN', `audit log broken: ${verdict.problems.length} problem(s) in ${verdict.entries} entries`);
      }
      default:
        throw unknownForm(SPECS[area], args);
    }
  } finally {
    store.close();
  }
}

/** Control characters shown as escapes: an entry cannot move the cursor or forge lines on a terminal. */
function printable(line: string): string {
  return line.replace(/\p{Cc}/gu, (c) => `\\u${(c.codePointAt(0) as number).toString(16).padStart(4, '0')}`);
}
