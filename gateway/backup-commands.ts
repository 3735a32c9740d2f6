/**
 * `border-gateway backup` and `restore`: the data directory to and from a .tar.gz.
 *
 * The database is copied with SQLite's online backup API, in one step: one read transaction sees
 * a single committed state (the WAL's commits included), so the copy is consistent while the
 * gateway goes on committing; the gateway is not blocked (in WAL mode a reader never blocks the
 * writer). Copying it in several steps instead would restart from the first page whenever the
 * gateway commits in between, which on a busy post could be forever. Never `cp` the live file:
 * recent commits are in the -wal and the copy can be torn.
 *
 * The archive holds `backup.json` (what it is: versions, the database's place, its last seq) and
 * `data/`: the database snapshot, in rollback-journal mode so it is one self-contained file, and
 * the directory's other files, except the database's -wal/-shm/-journal, the lock files (a fresh
 * lock is taken on start) and, unless asked for, received X-ray images (xray/, 4 MB each) and the
 * evidence store's pieces (evidence/, up to evidence.maxBytes).
 *
 * A restore checks everything before it changes anything: the archive unpacks to no more than the
 * disk has room for (measured as a stream before a byte is written, archive-size.ts), and (GNU
 * tar, into an empty folder beside the data directory, locked while in use and removed by the next
 * restore or gateway start if the restore is killed: restore-staging.ts) to plain files and folders only, backup.json is ours,
 * the database passes integrity_check and is not newer than this gateway. Then, holding the data
 * directory's locks (every database lock a gateway left in it, whatever its outbox.path, taken
 * before the archive is unpacked, and the archive's; so no gateway runs on it meanwhile), the old directory is renamed aside as
 * `DIR.before-restore-<UTC time>` and the restored one renamed into place: the swap is two renames
 * on one file system, and undone if the second fails. The restored tree gets the owner of the
 * directory it replaces, or --owner's; a new disk has no directory to take an owner from, so
 * there only --owner makes it the service's user's.
 *
 * Both refuse a database a newer gateway wrote (GW_ERR_OUTBOX_SCHEMA_NEWER, GW_ERR_BACKUP_INVALID):
 * this gateway cannot vouch for its rows.
 */
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statfsSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { loadConfigFile } from '../config/load-config.js';
import { parseForm } from '../core/command-line.js';
import { systemClock, type Clock } from '../core/clock.js';
import { EXIT_CODES, GatewayError, isGatewayError } from '../core/errors.js';
import { GATEWAY_VERSION } from '../core/package-info.js';
import { counted } from '../core/counted.js';
import { syncPath, syncTree } from '../core/durable-files.js';
import { touchPrivateFile, writePrivateFile } from '../core/private-files.js';
import { BACKUP_FORM, RESTORE_FORM } from './commands/backup-specs.js';
import { outboxPathOf } from './daemon.js';
import { measureTarGz } from './archive-size.js';
import { DataDirLock } from './data-dir-lock.js';
import { makeRestoreStaging, removeStaleRestoreStaging, type StaleStaging } from './restore-staging.js';
import { GATEWAY_SCHEMA_VERSION, refuseNewerSchema, schemaVersionOf } from './storage/migrations.js';

const run = promisify(execFile);

/** The configuration schema's default `outbox.path` (a test keeps the two equal). */
export const DEFAULT_DATABASE_PATH = 'data/outbox.db';
const MANIFEST_FILE = 'backup.json';
const FORMAT = 'border-gateway-backup';
const FORMAT_VERSION = 1;
/** The data directory's folder inside the archive. */
const DATA_FOLDER = 'data';
/** Where the xray-http driver keeps received images, inside the data directory. */
const XRAY_FOLDER = 'xray';
/** Where the evidence store keeps its pieces (gateway/evidence/post-evidence.ts), inside the data directory. */
const EVIDENCE_FOLDER = 'evidence';
/** Pages per backup step: all of them, so the copy is one read transaction (see file comment). */
const ALL_PAGES = 0x7fffffff;

/** backup.json: what an archive holds. */
export interface BackupManifest {
  format: typeof FORMAT;
  formatVersion: number;
  gatewayVersion: string;
  /** When the database was copied (the injected clock), RFC 3339. */
  createdAt: string;
  /** The database's path inside the data directory, '/'-separated. */
  database: string;
  schemaVersion: number;
  /** The highest seq committed when the copy was taken. */
  lastSeq: number;
  /** Events not yet acknowledged by the broker at that instant. */
  events: number;
  /** The other files, '/'-separated, relative to the data directory. */
  files: string[];
  /** Whether received X-ray images (xray/) are in the archive. */
  xray: boolean;
  /** Whether the evidence store's pieces (evidence/) are in the archive; absent from older backups. */
  evidence?: boolean;
}

export interface BackupOptions {
  dataDir: string;
  /** The database file (outbox.path resolved against the data directory). */
  databasePath: string;
  out: string;
  withXray: boolean;
  /** Also the evidence store's pieces (evidence/: snapshots, thumbnails, full scans; up to evidence.maxBytes). */
  withEvidence?: boolean;
  clock: Clock;
}

/** Who owns a file: a user id and a group id. */
export interface Owner {
  uid: number;
  gid: number;
}

export interface RestoreOptions {
  dataDir: string;
  from: string;
  /** The database path the configuration expects, if one was given; the backup's own otherwise. */
  databasePath?: string;
  /**
   * The post the configuration is for, when one was given: an archive whose events or crossings
   * name another post is refused (its backlog would go out under this post's topics).
   */
  postId?: string;
  /**
   * Who gets the restored directory and its files (only root can give them away). Default: the
   * owner of the directory it replaces; when there is none (a new disk), whoever runs the restore.
   */
  owner?: Owner;
  clock: Clock;
  /**
   * Bytes the archive may unpack to (its tar stream, measured before anything is unpacked; past
   * it GW_ERR_BACKUP_TOO_LARGE). Default: the free space of the data directory's file system less
   * UNPACK_MARGIN_BYTES.
   */
  maxUnpackedBytes?: number;
}

/** Disk left free by a restore at least: the gateway's outbox keeps its own 4 MiB reserve on it, and logs need room. */
export const UNPACK_MARGIN_BYTES = 64 * 1024 * 1024;

export interface RestoreResult {
  manifest: BackupManifest;
  /** Where the replaced directory was kept; null when there was none. */
  keptAs: string | null;
  /** Whether the old xray/ was moved into the restored directory. */
  xrayCarriedOver: boolean;
  /** Whether the old evidence/ was moved into the restored directory. */
  evidenceCarriedOver: boolean;
  /** Staging folders of killed restores removed before this one unpacked (restore-staging.ts). */
  staleStaging: StaleStaging;
}

const toPosix = (path: string): string => path.split(sep).join('/');

/** `path` relative to `dir` when it lies inside it; null when it does not. */
function inside(dir: string, path: string): string | null {
  const rel = relative(dir, path);
  return rel === '' || rel.startsWith('..') || isAbsolute(rel) ? null : rel;
}

function backupError(step: string, error: unknown): GatewayError {
  return isGatewayError(error) ? error : new GatewayError('GW_ERR_BACKUP_WRITE', `${step}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}

/** Runs GNU tar; its stderr becomes the error message. */
async function tar(args: string[]): Promise<void> {
  try {
    await run('tar', args, { maxBuffer: 1024 * 1024 });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new Error(`tar ${args[0] ?? ''} failed: ${stderr || (error as Error).message}`, { cause: error });
  }
}

/** Gives the database's -wal and -shm, if a connection of ours created them, back to its owner. */
function giveBackSideFiles(database: string, owner: Owner): void {
  for (const side of [`${database}-wal`, `${database}-shm`]) {
    const stat = existsSync(side) ? statSync(side) : null;
    if (stat && (stat.uid !== owner.uid || stat.gid !== owner.gid)) chownSync(side, owner.uid, owner.gid);
  }
}

/**
 * Copies the live database to `target` in one backup step. Opened read-write (never readonly: a
 * readonly connection creating -wal and -shm beside a stopped gateway's database cannot remove
 * them again), and anything SQLite created beside it given back to the database's owner, so a
 * backup run as root leaves no root-owned -wal for the gateway's user to trip over.
 */
async function copyDatabase(source: string, target: string): Promise<void> {
  const owner = statSync(source);
  const db = new Database(source, { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    // Before a page is copied: this gateway cannot vouch for a newer one's rows, and its restore
    // would refuse the archive (checkDatabase), found out only on the day it is needed.
    refuseNewerSchema(db);
    // The copy is 0600 from its first byte, like the database (backup() keeps an existing file's mode).
    touchPrivateFile(target);
    await db.backup(target, { progress: () => ALL_PAGES });
  } finally {
    db.close();
    giveBackSideFiles(source, owner);
  }
}

/** integrity_check's first few findings, or null when it says ok. */
function integrityProblems(db: Database.Database): string | null {
  const rows = db.pragma('integrity_check(3)') as { integrity_check: string }[];
  const findings = rows.map((row) => row.integrity_check);
  return findings.length === 1 && findings[0] === 'ok' ? null : findings.join('; ');
}

/** Checks the snapshot, makes it one self-contained file, and reads what backup.json says of it. */
function describeSnapshot(path: string): Pick<BackupManifest, 'schemaVersion' | 'lastSeq' | 'events'> {
  const db = new Database(path);
  try {
    const problems = integrityProblems(db);
    if (problems) throw new GatewayError('GW_ERR_BACKUP_WRITE', `the copy of the database fails integrity_check: ${problems}`);
    db.pragma('journal_mode = DELETE');
    // A database the gateway never opened fully (the command line made it) may lack the outbox's tables.
    const outboxTables = (db.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name IN ('events', 'meta')").get() as { n: number }).n === 2;
    const lastSeq = outboxTables ? ((db.prepare("SELECT value FROM meta WHERE key = 'last_seq'").get() as { value: number } | undefined)?.value ?? 0) : 0;
    const events = outboxTables ? (db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n : 0;
    return { schemaVersion: schemaVersionOf(db), lastSeq, events };
  } finally {
    db.close();
  }
}

/** The data directory's files to copy besides the database, relative to it. */
function otherFiles(dataDir: string, databaseRel: string, withXray: boolean, withEvidence: boolean): string[] {
  // The database's own side files and the lock's: a copy of either would be wrong, not merely stale.
  const skip = new Set(['', '-wal', '-shm', '-journal', '.lock', '.lock-journal', '.lock.holder'].map((suffix) => `${databaseRel}${suffix}`));
  const files: string[] = [];
  const walk = (rel: string): void => {
    for (const entry of readdirSync(join(dataDir, rel), { withFileTypes: true })) {
      const path = rel === '' ? entry.name : join(rel, entry.name);
      if (entry.isDirectory()) {
        if (rel === '' && entry.name === XRAY_FOLDER && !withXray) continue;
        if (rel === '' && entry.name === EVIDENCE_FOLDER && !withEvidence) continue;
        walk(path);
      } else if (entry.isFile() && !skip.has(path)) {
        files.push(path);
      }
      // Symbolic links, sockets and FIFOs are not data: left out.
    }
  };
  walk('');
  return files.sort();
}

/** Copies `rel` from `fromDir` to `toDir`, with its mode (and its folders' modes). */
function copyWithMode(fromDir: string, toDir: string, rel: string): void {
  const parents = dirname(rel);
  if (parents !== '.') {
    let path = '';
    for (const part of parents.split(sep)) {
      path = join(path, part);
      if (existsSync(join(toDir, path))) continue;
      mkdirSync(join(toDir, path));
      chmodSync(join(toDir, path), statSync(join(fromDir, path)).mode & 0o7777);
    }
  }
  copyFileSync(join(fromDir, rel), join(toDir, rel));
  chmodSync(join(toDir, rel), statSync(join(fromDir, rel)).mode & 0o7777);
}

/** Writes the archive of `options.dataDir` to `options.out`; returns its backup.json. */
export async function backupDataDir(options: BackupOptions): Promise<BackupManifest> {
  const dataDir = resolve(options.dataDir);
  const databasePath = resolve(options.databasePath);
  const out = resolve(options.out);
  const databaseRel = inside(dataDir, databasePath);
  if (databaseRel === null) {
    throw new GatewayError('GW_ERR_CLI_USAGE', `the database ${databasePath} is outside the data directory ${dataDir}: back it up with sqlite3 (.backup) and its folder separately`);
  }
  if (!existsSync(databasePath)) {
    throw new GatewayError('GW_ERR_BACKUP_WRITE', `no database at ${databasePath} (give --config when the configuration's outbox.path is not ${DEFAULT_DATABASE_PATH})`);
  }
  if (inside(dataDir, out) !== null) throw new GatewayError('GW_ERR_CLI_USAGE', `--out ${out} is inside the data directory it backs up`);
  // The archive is put together beside --out (same file system), never inside the data directory.
  const staging = mkdtempSync(join(dirname(out), '.border-gateway-backup-'));
  const partial = `${out}.partial`;
  try {
    const stagedData = join(staging, DATA_FOLDER);
    mkdirSync(stagedData, { mode: 0o700 });
    const stagedDatabase = join(stagedData, databaseRel);
    mkdirSync(dirname(stagedDatabase), { recursive: true, mode: 0o700 });
    const createdAt = new Date(options.clock.now()).toISOString();
    await copyDatabase(databasePath, stagedDatabase).catch((error: unknown) => {
      throw backupError(`copying the database ${databasePath}`, error);
    });
    const snapshot = describeSnapshot(stagedDatabase);
    const withEvidence = options.withEvidence === true;
    const files = otherFiles(dataDir, databaseRel, options.withXray, withEvidence);
    try {
      for (const file of files) copyWithMode(dataDir, stagedData, file);
    } catch (error) {
      throw backupError('copying the data directory', error);
    }
    const manifest: BackupManifest = {
      format: FORMAT,
      formatVersion: FORMAT_VERSION,
      gatewayVersion: GATEWAY_VERSION,
      createdAt,
      database: toPosix(databaseRel),
      ...snapshot,
      files: files.map(toPosix),
      xray: options.withXray && existsSync(join(dataDir, XRAY_FOLDER)),
      evidence: withEvidence && existsSync(join(dataDir, EVIDENCE_FOLDER)),
    };
    writePrivateFile(join(staging, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
    // 0600 before tar writes a byte into it: the archive holds password hashes and plates.
    touchPrivateFile(partial);
    await tar(['--create', '--gzip', `--file=${partial}`, `--directory=${staging}`, MANIFEST_FILE, DATA_FOLDER]).catch((error: unknown) => {
      throw backupError(`writing ${partial}`, error);
    });
    // On disk before its name: a power cut must not leave an empty archive called a backup.
    syncPath(partial);
    renameSync(partial, out);
    syncPath(dirname(out));
    return manifest;
  } finally {
    rmSync(staging, { recursive: true, force: true });
    rmSync(partial, { force: true });
  }
}

function invalid(from: string, problem: string, cause?: unknown): GatewayError {
  return new GatewayError('GW_ERR_BACKUP_INVALID', `${from}: ${problem}`, cause === undefined ? undefined : { cause });
}

/** Refuses anything in the unpacked archive that is not a plain file or folder. */
function checkPlainTree(root: string, from: string): void {
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const stat = lstatSync(path);
      if (stat.isDirectory()) walk(path);
      else if (!stat.isFile()) throw invalid(from, `${relative(root, path)} is not a plain file or folder`);
    }
  };
  walk(root);
}

function readManifest(staging: string, from: string): BackupManifest {
  let manifest: Partial<BackupManifest>;
  try {
    manifest = JSON.parse(readFileSync(join(staging, MANIFEST_FILE), 'utf8')) as Partial<BackupManifest>;
  } catch (error) {
    throw invalid(from, `no readable ${MANIFEST_FILE}: not an archive written by border-gateway backup`, error);
  }
  if (manifest.format !== FORMAT || typeof manifest.formatVersion !== 'number') throw invalid(from, `${MANIFEST_FILE} is not a border-gateway backup's`);
  if (manifest.formatVersion > FORMAT_VERSION) throw invalid(from, `backup format ${manifest.formatVersion} is newer than this gateway's (${FORMAT_VERSION})`);
  const database = manifest.database;
  if (typeof database !== 'string' || database === '' || isAbsolute(database) || database.split('/').includes('..')) throw invalid(from, `${MANIFEST_FILE} names no database inside the data directory`);
  return manifest as BackupManifest;
}

function checkDatabase(path: string, from: string): void {
  if (!existsSync(path) || !lstatSync(path).isFile()) throw invalid(from, 'its database is missing');
  let db: Database.Database;
  try {
    db = new Database(path, { fileMustExist: true });
  } catch (error) {
    throw invalid(from, `its database cannot be opened: ${String(error)}`, error);
  }
  try {
    const problems = integrityProblems(db);
    if (problems) throw invalid(from, `its database fails integrity_check: ${problems}`);
    const version = schemaVersionOf(db);
    if (version > GATEWAY_SCHEMA_VERSION) throw invalid(from, `its database is at schema version ${version}, written by a newer gateway; this one knows up to ${GATEWAY_SCHEMA_VERSION}`);
  } catch (error) {
    throw isGatewayError(error) ? error : invalid(from, `its database cannot be read: ${String(error)}`, error);
  } finally {
    db.close();
  }
}

/** Events and crossings looked at for the post a database belongs to: the newest, enough to tell. */
const POST_SAMPLE_ROWS = 1000;

/**
 * Refuses a database whose newest events (their `source`, /border/{postId}/{laneId}) or completed
 * crossings (`postId`) name a post other than `postId`: another post's backup.
 */
function checkPost(path: string, from: string, postId: string): void {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const tables = new Set(db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'").all().map((row) => row.name));
    const posts = new Set<string>();
    if (tables.has('events')) {
      const sources = db.prepare<[number], { source: unknown }>("SELECT DISTINCT json_extract(payload, '$.source') AS source FROM (SELECT payload FROM events ORDER BY seq DESC LIMIT ?)").all(POST_SAMPLE_ROWS);
      for (const { source } of sources) {
        const match = typeof source === 'string' ? /^\/border\/([^/]+)\//.exec(source) : null;
        if (match) posts.add(match[1] as string);
      }
    }
    if (tables.has('completed_crossings')) {
      const named = db.prepare<[number], { post: unknown }>("SELECT DISTINCT json_extract(record, '$.postId') AS post FROM (SELECT record FROM completed_crossings ORDER BY exited_ms DESC LIMIT ?)").all(POST_SAMPLE_ROWS);
      for (const { post } of named) if (typeof post === 'string') posts.add(post);
    }
    const others = [...posts].filter((post) => post !== postId).sort();
    if (others.length > 0) throw invalid(from, `its database is post ${others.map((post) => `"${post}"`).join(', ')}'s (its events and crossings name it); this configuration's post is "${postId}"`);
  } catch (error) {
    throw isGatewayError(error) ? error : invalid(from, `its database cannot be read: ${String(error)}`, error);
  } finally {
    db.close();
  }
}

/** `DIR.before-restore-20261128T184512Z`, or with -2, -3… when a restore in the same second left one. */
function keptName(dataDir: string, clock: Clock): string {
  const stamp = new Date(clock.now()).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const base = `${dataDir}.before-restore-${stamp}`;
  let name = base;
  for (let n = 2; existsSync(name); n += 1) name = `${base}-${n}`;
  return name;
}

/**
 * Gives the restored tree to `owner` and its top folder `mode`. Only root can give files away;
 * anyone else's restore leaves them its own (restoreDataDir refuses an --owner it cannot honour).
 */
function takeOwnership(dir: string, owner: Owner | null, mode: number): void {
  if (owner !== null && process.getuid?.() === 0) chownTree(dir, owner);
  chmodSync(dir, mode & 0o7777);
}

function chownTree(path: string, owner: Owner): void {
  chownSync(path, owner.uid, owner.gid);
  if (lstatSync(path).isDirectory()) for (const name of readdirSync(path)) chownTree(join(path, name), owner);
}

/**
 * The databases of `dataDir` a gateway has locked at some time: each `<database>.lock` with the
 * `.lock.holder` a gateway writes beside it (data-dir-lock.ts), found wherever outbox.path put
 * them in the directory (not under xray/ or evidence/, which hold no database).
 */
function lockedDatabasesIn(dataDir: string): string[] {
  const found: string[] = [];
  const walk = (dir: string, top: boolean): void => {
    const entries = readdirSync(dir, { withFileTypes: true });
    const names = new Set(entries.map((entry) => entry.name));
    for (const entry of entries) {
      if (entry.isDirectory()) {
        if (!(top && (entry.name === XRAY_FOLDER || entry.name === EVIDENCE_FOLDER))) walk(join(dir, entry.name), false);
      } else if (entry.isFile() && entry.name.endsWith('.lock') && names.has(`${entry.name}.holder`)) {
        found.push(join(dir, entry.name.slice(0, -'.lock'.length)));
      }
    }
  };
  walk(dataDir, true);
  return found.sort();
}

/**
 * Takes the lock of every database in `databases` (see lockedDatabasesIn), or throws
 * GW_ERR_DATA_DIR_LOCKED, holding none, for the first a gateway holds.
 */
function lockAll(databases: string[], clock: Clock): DataDirLock[] {
  const locks: DataDirLock[] = [];
  try {
    for (const database of databases) locks.push(DataDirLock.acquire(database, () => clock.now()));
    return locks;
  } catch (error) {
    for (const lock of locks) lock.release();
    throw error;
  }
}

/** Refuses, before anything is unpacked, an owner that only root could give the files to. */
function checkOwner(owner: Owner | undefined): void {
  if (owner === undefined || process.getuid?.() === 0) return;
  if (owner.uid !== process.getuid?.() || owner.gid !== process.getgid?.()) {
    throw new GatewayError('GW_ERR_CLI_USAGE', `only root can give the restored files to another user (uid ${owner.uid}, gid ${owner.gid})`);
  }
}

/** Replaces `options.dataDir` with the archive's; see the file comment for the order of things. */
export async function restoreDataDir(options: RestoreOptions): Promise<RestoreResult> {
  const dataDir = resolve(options.dataDir);
  const from = resolve(options.from);
  if (!existsSync(from)) throw new GatewayError('GW_ERR_CLI_USAGE', `--from ${from} does not exist`);
  checkOwner(options.owner);
  const parent = dirname(dataDir);
  if (!existsSync(parent)) throw new GatewayError('GW_ERR_CLI_USAGE', `the data directory's parent ${parent} does not exist`);
  // Held until the swap is done: a gateway starting meanwhile stops at the lock, not at half a
  // directory. Every database of the directory a gateway has locked, not only the archive's: a
  // gateway whose outbox.path differs from the backup's holds a lock the archive does not name.
  // Taken before the archive is unpacked, so nothing is unpacked onto a running gateway's disk.
  const locks = existsSync(dataDir) ? lockAll(lockedDatabasesIn(dataDir), options.clock) : [];
  // Beside the data directory, so the final step is a rename on one file system.
  let staging: string | null = null;
  let releaseStaging: (() => void) | null = null;
  try {
    // What killed restores left (a copy of the data directory each), unless a restore still runs in it.
    const staleStaging = removeStaleRestoreStaging(dataDir, () => options.clock.now());
    // Measured before a byte is unpacked: a gzip bomb must not fill the disk the gateway writes to.
    const maxUnpackedBytes = options.maxUnpackedBytes ?? freeBytes(parent) - UNPACK_MARGIN_BYTES;
    await measureTarGz(from, Math.max(0, maxUnpackedBytes), {
      tooLarge: (bytes) =>
        new GatewayError('GW_ERR_BACKUP_TOO_LARGE', `${from} unpacks to more than ${Math.max(0, maxUnpackedBytes)} bytes (${bytes} and counting)${options.maxUnpackedBytes === undefined ? `: the free space of ${parent}'s disk less ${UNPACK_MARGIN_BYTES} bytes` : ''}; nothing was unpacked`, {
          details: { bytesSoFar: bytes, maxUnpackedBytes },
        }),
      invalid: (problem, cause) => invalid(from, problem, cause),
    });
    ({ path: staging, release: releaseStaging } = makeRestoreStaging(dataDir, () => options.clock.now()));
    await tar(['--extract', '--gzip', `--file=${from}`, `--directory=${staging}`, '--no-same-owner']).catch((error: unknown) => {
      throw invalid(from, (error as Error).message, error);
    });
    checkPlainTree(staging, from);
    const manifest = readManifest(staging, from);
    const restoredData = join(staging, DATA_FOLDER);
    const expected = options.databasePath === undefined ? null : inside(dataDir, resolve(options.databasePath));
    if (options.databasePath !== undefined && (expected === null || toPosix(expected) !== manifest.database)) {
      throw invalid(from, `its database is ${manifest.database} in the data directory; this configuration's outbox.path puts it at ${options.databasePath}`);
    }
    checkDatabase(join(restoredData, manifest.database), from);
    if (options.postId !== undefined) checkPost(join(restoredData, manifest.database), from, options.postId);
    // Every restored byte on disk before the renames put it in place (core/durable-files.ts).
    syncTree(restoredData);

    if (!existsSync(dataDir)) {
      renameSync(restoredData, dataDir);
      syncPath(parent);
      // A new disk: no directory to take the owner from, so --owner's (the service's user; a
      // restore run as root without it leaves root's files, which the service's user cannot open).
      takeOwnership(dataDir, options.owner ?? null, 0o700);
      return { manifest, keptAs: null, xrayCarriedOver: false, evidenceCarriedOver: false, staleStaging };
    }
    // The archive's database too, where a gateway would take its lock once the restore is done.
    const lockedDatabase = join(dataDir, manifest.database);
    if (!locks.some((lock) => lock.path === `${lockedDatabase}.lock`)) {
      mkdirSync(dirname(lockedDatabase), { recursive: true });
      locks.push(DataDirLock.acquire(lockedDatabase, () => options.clock.now()));
    }
    const old = statSync(dataDir);
    const keptAs = keptName(dataDir, options.clock);
    renameSync(dataDir, keptAs);
    try {
      renameSync(restoredData, dataDir);
    } catch (error) {
      renameSync(keptAs, dataDir);
      throw backupError(`moving the restored directory into ${dataDir}`, error);
    }
    // Images are evidence kept by age (deploy/border-gateway.tmpfiles.conf), not part of the
    // database's state: they stay in the live directory unless the backup brought its own.
    // So is the evidence store's folder: the restored database's index names what it held then;
    // the gateway drops, at start, rows without their file and files without their row.
    const carryOver = (folder: string): boolean => {
      const carried = !existsSync(join(dataDir, folder)) && existsSync(join(keptAs, folder));
      if (carried) renameSync(join(keptAs, folder), join(dataDir, folder));
      return carried;
    };
    const xrayCarriedOver = carryOver(XRAY_FOLDER);
    const evidenceCarriedOver = carryOver(EVIDENCE_FOLDER);
    syncPath(dataDir);
    syncPath(parent);
    takeOwnership(dataDir, options.owner ?? old, old.mode);
    return { manifest, keptAs, xrayCarriedOver, evidenceCarriedOver, staleStaging };
  } finally {
    for (const lock of locks) lock.release();
    releaseStaging?.();
    if (staging !== null) rmSync(staging, { recursive: true, force: true });
  }
}

/** Free bytes of the file system holding `path`, for an unprivileged user (statfs bavail). */
function freeBytes(path: string): number {
  const stats = statfsSync(path);
  return stats.bavail * stats.bsize;
}

/**
 * The database path that --config names for `dataDir`, or the default one's. Under `root` (an
 * image's tree, as `install.sh --root` upgrades it) an absolute outbox.path is the image's path,
 * read under it; a relative one is resolved against `dataDir` as `run` resolves it.
 */
function databasePathOf(configFile: string | undefined, dataDir: string, root?: string): string {
  if (configFile === undefined) {
    if (root !== undefined) throw new GatewayError('GW_ERR_CLI_USAGE', '--root reads the outbox.path of --config: give --config too');
    return join(dataDir, DEFAULT_DATABASE_PATH);
  }
  const config = loadConfigFile(configFile);
  return root !== undefined && isAbsolute(config.outbox.path) ? join(resolve(root), config.outbox.path) : outboxPathOf(config, dataDir);
}

/** The uid and primary gid of the user `name`, as the system's user database has them (id(1)). */
async function ownerNamed(name: string): Promise<Owner> {
  try {
    const [uid, gid] = await Promise.all([run('id', ['-u', name]), run('id', ['-g', name])]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch (error) {
    throw new GatewayError('GW_ERR_CLI_USAGE', `--owner ${name}: no such user`, { cause: error });
  }
}

export async function backupCommand(args: string[], out: (line: string) => void, clock: Clock = systemClock): Promise<number> {
  const { values } = parseForm(BACKUP_FORM, args);
  const dataDir = resolve(values.data as string);
  const manifest = await backupDataDir({ dataDir, databasePath: databasePathOf(values.config, dataDir, values.root), out: values.out as string, withXray: values['with-xray'] === true, withEvidence: values['with-evidence'] === true, clock });
  const size = statSync(resolve(values.out as string)).size;
  out(`backup written: ${resolve(values.out as string)} (${size} bytes)`);
  out(`  database ${manifest.database}: schema version ${manifest.schemaVersion}, last seq ${manifest.lastSeq}, ${manifest.events} events not yet delivered, as committed at ${manifest.createdAt}`);
  out(`  ${counted(manifest.files.length, 'other file')}; X-ray images ${manifest.xray ? 'included' : 'left out (--with-xray includes them)'}; evidence ${manifest.evidence === true ? 'included' : 'left out (--with-evidence includes it)'}`);
  return EXIT_CODES.ok;
}

export async function restoreCommand(args: string[], out: (line: string) => void, clock: Clock = systemClock): Promise<number> {
  const { values } = parseForm(RESTORE_FORM, args);
  const dataDir = resolve(values.data as string);
  const owner = values.owner === undefined ? undefined : await ownerNamed(values.owner);
  // Read once: where it puts the database, and whose post it is.
  const config = values.config === undefined ? undefined : loadConfigFile(values.config);
  const result = await restoreDataDir({
    dataDir,
    from: values.from as string,
    ...(config !== undefined ? { databasePath: outboxPathOf(config, dataDir), postId: config.post.id } : {}),
    ...(owner !== undefined ? { owner } : {}),
    clock,
  });
  const { manifest } = result;
  out(`restored ${dataDir} from ${resolve(values.from as string)} (made ${manifest.createdAt} by ${manifest.gatewayVersion})`);
  out(`  database ${manifest.database}: schema version ${manifest.schemaVersion}, last seq ${manifest.lastSeq}, ${manifest.events} events not yet delivered`);
  out(result.keptAs === null ? '  there was no data directory before' : `  the replaced directory is kept as ${result.keptAs}`);
  if (values.owner !== undefined) out(`  owned by ${values.owner}`);
  // Said, not guessed at: on a new disk only --owner names the service's user.
  else if (result.keptAs === null && statSync(dataDir).uid === 0) out(`  owned by root, which the service's user cannot open: chown -R border-gateway:border-gateway ${dataDir} (or restore with --owner border-gateway)`);
  if (result.xrayCarriedOver) out(`  X-ray images (${XRAY_FOLDER}/) moved over from the replaced directory`);
  if (result.evidenceCarriedOver) out(`  evidence (${EVIDENCE_FOLDER}/) moved over from the replaced directory`);
  for (const path of result.staleStaging.removed) out(`  removed ${path}, left by a restore that did not finish`);
  for (const path of result.staleStaging.inUse) out(`  left ${path}: a restore still running holds it`);
  for (const { path, error } of result.staleStaging.failed) out(`  could not remove ${path}, left by a restore that did not finish: ${error}`);
  out('  the gateway sends the undelivered events when it starts; its seq continues from the backup\'s (tell the VMC team: docs/deployment.md#backups)');
  return EXIT_CODES.ok;
}
