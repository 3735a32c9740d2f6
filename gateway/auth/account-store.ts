/**
 * Accounts of people (scrypt password hashes) and credentials of machines (random secrets, stored
 * as their sha256), in the gateway's database. Read on every login and request, so an account
 * added, disabled or changed from the command line takes effect at once in a running gateway.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import type Database from 'better-sqlite3';
import { GatewayError } from '../../core/errors.js';
import { migrateGatewayDatabase } from '../storage/migrations.js';
import { NAME_PATTERN, isMachineRole, isPersonRole, type MachineRole, type PersonRole } from './roles.js';

export interface Account {
  name: string;
  role: PersonRole;
  passwordHash: string;
  disabled: boolean;
  /**
   * Set when an admin chose the password (over the API): until its owner sets one of their own,
   * the account may do nothing but that, so an admin cannot act as someone else unnoticed.
   */
  mustChangePassword: boolean;
  createdMs: number;
  changedMs: number;
}

export interface ApiClient {
  name: string;
  role: MachineRole;
  deviceId: string | null;
  /** Addresses or CIDR ranges the client may call from; empty: any. */
  allowFrom: string[];
  disabled: boolean;
  createdMs: number;
}

interface AccountRow {
  name: string;
  role: string;
  password_hash: string;
  disabled: number;
  must_change: number;
  created_ms: number;
  changed_ms: number;
}

interface ClientRow {
  name: string;
  role: string;
  device_id: string | null;
  secret_sha256: string;
  allow_from: string;
  disabled: number;
  created_ms: number;
}

const sha256 = (text: string): Buffer => createHash('sha256').update(text).digest();

function checkName(name: string): void {
  if (!NAME_PATTERN.test(name)) throw new GatewayError('GW_ERR_AUTH_ACCOUNT', `"${name}" is not a valid name: 1-64 lowercase letters, digits, ".", "_" or "-", starting with a letter or digit`);
}

/** Parses an allowlist entry ("10.0.4.17", "10.0.4.0/24", "fd00::/64"), or throws naming it. */
function addToBlockList(list: BlockList, entry: string): void {
  const [address, prefix] = entry.split('/');
  const family = address ? isIP(address) : 0;
  if (family === 0) throw new GatewayError('GW_ERR_AUTH_ACCOUNT', `"${entry}" is not an IP address or CIDR range`);
  const type = family === 6 ? 'ipv6' : 'ipv4';
  if (prefix === undefined) {
    list.addAddress(address as string, type);
    return;
  }
  const bits = Number(prefix);
  if (!Number.isInteger(bits) || bits < 0 || bits > (family === 6 ? 128 : 32)) throw new GatewayError('GW_ERR_AUTH_ACCOUNT', `"${entry}" has an invalid prefix length`);
  list.addSubnet(address as string, bits, type);
}

/**
 * Allowlists parsed once per list, with the answers for the addresses last asked about (the
 * cached clients' lists are checked on every request, nearly always from the same address, and
 * BlockList.check builds a SocketAddress each time).
 */
const parsedAllowlists = new WeakMap<readonly string[], { list: BlockList; answers: Map<string, boolean> }>();
/** Addresses whose answer is kept per allowlist. */
const MAX_ANSWERS_PER_ALLOWLIST = 64;

/** Whether `address` (as the socket reports it; IPv4-mapped IPv6 included) is in `allowFrom`. */
export function addressAllowed(allowFrom: readonly string[], address: string | undefined): boolean {
  if (allowFrom.length === 0) return true;
  if (!address) return false;
  let parsed = parsedAllowlists.get(allowFrom);
  if (!parsed) {
    const list = new BlockList();
    for (const entry of allowFrom) addToBlockList(list, entry);
    parsed = { list, answers: new Map() };
    // Kept only for a list nobody can change afterwards (the cached clients' lists are frozen).
    if (Object.isFrozen(allowFrom)) parsedAllowlists.set(allowFrom, parsed);
  }
  const known = parsed.answers.get(address);
  if (known !== undefined) return known;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  const plain = mapped?.[1] ?? address;
  const allowed = parsed.list.check(plain, isIP(plain) === 6 ? 'ipv6' : 'ipv4');
  if (parsed.answers.size >= MAX_ANSWERS_PER_ALLOWLIST) parsed.answers.clear();
  parsed.answers.set(address, allowed);
  return allowed;
}

/**
 * Changes to the clients made through any store on a connection: SQLite's data_version counts
 * only other connections' commits (the command line's), not those of the connection itself.
 */
const clientWritesByConnection = new WeakMap<Database.Database, number>();
/** Clients kept between requests, at most (a post has a few dozen). */
const MAX_CACHED_CLIENTS = 1000;
const NO_SUCH_CLIENT_SHA256 = sha256('no such client');

/** A client's row as authentication needs it: the secret's hash, and the client if it may act. */
interface CachedClient {
  secretSha256: Buffer;
  /** Null when disabled or not a machine role. */
  client: Readonly<ApiClient> | null;
}

export class AccountStore {
  private readonly statements;
  /**
   * Clients read from the database, by name, valid while nothing has written the clients' table
   * since: each request then costs a hash of its secret, not a query, a JSON parse and an
   * allowlist parse (≈ 90 µs of a camera's push). A change from the command line or from this
   * gateway empties it before the next request is checked, so it still takes effect at once.
   */
  private readonly clientCache = new Map<string, CachedClient>();
  private clientCacheStamp = { dataVersion: -1, writes: -1 };

  constructor(
    private readonly db: Database.Database,
    private readonly now: () => number = Date.now,
  ) {
    // The tables are the schema's (storage/migrations.ts): brought up to date on whatever handle.
    migrateGatewayDatabase(db);
    this.statements = {
      account: db.prepare<[string], AccountRow>('SELECT * FROM accounts WHERE name = ?'),
      accounts: db.prepare<[], AccountRow>('SELECT * FROM accounts ORDER BY name'),
      insertAccount: db.prepare('INSERT INTO accounts (name, role, password_hash, disabled, must_change, created_ms, changed_ms) VALUES (?, ?, ?, 0, ?, ?, ?)'),
      // changed_ms only grows (also for two changes within one millisecond): sessions compare it.
      setPassword: db.prepare('UPDATE accounts SET password_hash = ?, must_change = ?, changed_ms = MAX(changed_ms + 1, ?) WHERE name = ?'),
      setAccountDisabled: db.prepare('UPDATE accounts SET disabled = ?, changed_ms = MAX(changed_ms + 1, ?) WHERE name = ?'),
      client: db.prepare<[string], ClientRow>('SELECT * FROM api_clients WHERE name = ?'),
      clients: db.prepare<[], ClientRow>('SELECT * FROM api_clients ORDER BY name'),
      insertClient: db.prepare('INSERT INTO api_clients (name, role, device_id, secret_sha256, allow_from, disabled, created_ms) VALUES (?, ?, ?, ?, ?, 0, ?)'),
      setClientSecret: db.prepare('UPDATE api_clients SET secret_sha256 = ? WHERE name = ?'),
      setClientDisabled: db.prepare('UPDATE api_clients SET disabled = ? WHERE name = ?'),
      dataVersion: db.prepare<[], number>('PRAGMA data_version').pluck(),
    };
  }

  /** `mustChangePassword`: the password was chosen by someone else (an admin over the API). */
  addAccount(name: string, role: string, passwordHash: string, mustChangePassword = false): Account {
    checkName(name);
    if (!isPersonRole(role)) throw new GatewayError('GW_ERR_AUTH_ACCOUNT', `"${role}" is not a role for people; one of operator, supervisor, admin`);
    if (this.account(name)) throw new GatewayError('GW_ERR_AUTH_ACCOUNT', `account "${name}" exists; use user passwd to change its password`);
    const now = this.now();
    this.statements.insertAccount.run(name, role, passwordHash, mustChangePassword ? 1 : 0, now, now);
    return this.account(name) as Account;
  }

  account(name: string): Account | null {
    const row = this.statements.account.get(name);
    return row && isPersonRole(row.role)
      ? { name: row.name, role: row.role, passwordHash: row.password_hash, disabled: row.disabled === 1, mustChangePassword: row.must_change === 1, createdMs: row.created_ms, changedMs: row.changed_ms }
      : null;
  }

  accounts(): Omit<Account, 'passwordHash'>[] {
    return this.statements.accounts.all().flatMap((row) =>
      isPersonRole(row.role) ? [{ name: row.name, role: row.role, disabled: row.disabled === 1, mustChangePassword: row.must_change === 1, createdMs: row.created_ms, changedMs: row.changed_ms }] : [],
    );
  }

  /** `mustChangePassword`: set by someone else than the account's owner (an admin over the API). */
  setPassword(name: string, passwordHash: string, mustChangePassword = false): void {
    if (this.statements.setPassword.run(passwordHash, mustChangePassword ? 1 : 0, this.now(), name).changes === 0) throw new GatewayError('GW_ERR_AUTH_ACCOUNT', `no account "${name}"`);
  }

  setAccountDisabled(name: string, disabled: boolean): void {
    if (this.statements.setAccountDisabled.run(disabled ? 1 : 0, this.now(), name).changes === 0) throw new GatewayError('GW_ERR_AUTH_ACCOUNT', `no account "${name}"`);
  }

  /** Creates a machine client and returns its secret, shown this once (only its hash is kept). */
  addClient(name: string, role: string, options: { deviceId?: string | null; allowFrom?: string[] } = {}): string {
    checkName(name);
    if (!isMachineRole(role)) throw new GatewayError('GW_ERR_AUTH_ACCOUNT', `"${role}" is not a role for machines; one of registration, device`);
    if (role === 'device' && !options.deviceId) throw new GatewayError('GW_ERR_AUTH_ACCOUNT', 'a device client needs --device ID: it may push only to that device\'s path');
    const allowFrom = options.allowFrom ?? [];
    allowFrom.forEach((entry) => addToBlockList(new BlockList(), entry));
    if (this.statements.client.get(name)) throw new GatewayError('GW_ERR_AUTH_ACCOUNT', `client "${name}" exists; use client rotate to give it a new secret`);
    const secret = randomBytes(32).toString('base64url');
    this.statements.insertClient.run(name, role, options.deviceId ?? null, sha256(secret).toString('hex'), JSON.stringify(allowFrom), this.now());
    this.clientsWritten();
    return secret;
  }

  /** A new secret for a client; the old one stops working at once (a disabled client stays disabled). */
  rotateClient(name: string): string {
    const secret = randomBytes(32).toString('base64url');
    const changes = this.statements.setClientSecret.run(sha256(secret).toString('hex'), name).changes;
    this.clientsWritten();
    if (changes === 0) throw new GatewayError('GW_ERR_AUTH_ACCOUNT', `no client "${name}"`);
    return secret;
  }

  setClientDisabled(name: string, disabled: boolean): void {
    const changes = this.statements.setClientDisabled.run(disabled ? 1 : 0, name).changes;
    this.clientsWritten();
    if (changes === 0) throw new GatewayError('GW_ERR_AUTH_ACCOUNT', `no client "${name}"`);
  }

  clients(): ApiClient[] {
    return this.statements.clients.all().flatMap((row) => {
      const client = toClient(row);
      return client ? [client] : [];
    });
  }

  /** The enabled client whose name and secret these are, or null (constant time in the secret). */
  authenticateClient(name: string, secret: string): Readonly<ApiClient> | null {
    if (name.length > 64 || secret.length > 128) return null;
    const known = this.knownClient(name);
    const matches = timingSafeEqual(sha256(secret), known?.secretSha256 ?? NO_SUCH_CLIENT_SHA256);
    if (!known || !matches) return null;
    return known.client;
  }

  /** The client named `name` from the cache, or from the database (and then cached); null if none. */
  private knownClient(name: string): CachedClient | null {
    const stamp = { dataVersion: this.statements.dataVersion.get() ?? 0, writes: clientWritesByConnection.get(this.db) ?? 0 };
    if (stamp.dataVersion !== this.clientCacheStamp.dataVersion || stamp.writes !== this.clientCacheStamp.writes) {
      this.clientCache.clear();
      this.clientCacheStamp = stamp;
    }
    const cached = this.clientCache.get(name);
    if (cached) return cached;
    const row = this.statements.client.get(name);
    if (!row) return null;
    const client = row.disabled === 1 ? null : toClient(row);
    const known: CachedClient = {
      secretSha256: Buffer.from(row.secret_sha256, 'hex'),
      client: client ? Object.freeze({ ...client, allowFrom: Object.freeze(client.allowFrom) as string[] }) : null,
    };
    if (this.clientCache.size >= MAX_CACHED_CLIENTS) this.clientCache.clear();
    this.clientCache.set(name, known);
    return known;
  }

  /** The clients' table changed through this connection: every store on it reads it again. */
  private clientsWritten(): void {
    clientWritesByConnection.set(this.db, (clientWritesByConnection.get(this.db) ?? 0) + 1);
  }
}

function toClient(row: ClientRow): ApiClient | null {
  if (!isMachineRole(row.role)) return null;
  return { name: row.name, role: row.role, deviceId: row.device_id, allowFrom: JSON.parse(row.allow_from) as string[], disabled: row.disabled === 1, createdMs: row.created_ms };
}
