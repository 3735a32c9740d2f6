/**
 * The clients' cache (account-store.ts): a change to a client takes effect on the very next
 * request however it was made: from another connection (the command line, in its own process),
 * through another store on the gateway's connection, or through the store itself.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { AccountStore, addressAllowed } from './account-store.js';

const dirs: string[] = [];
const handles: Database.Database[] = [];
afterEach(() => {
  handles.splice(0).forEach((db) => db.close());
  dirs.splice(0).forEach((dir) => rmSync(dir, { recursive: true, force: true }));
});

/** The gateway's connection and the command line's, on one database file. */
function twoConnections(): { gateway: AccountStore; cli: AccountStore; sameConnection: AccountStore } {
  const dir = mkdtempSync(join(tmpdir(), 'accounts-'));
  dirs.push(dir);
  const path = join(dir, 'outbox.db');
  const gatewayDb = new Database(path);
  gatewayDb.pragma('journal_mode = WAL');
  const cliDb = new Database(path);
  handles.push(gatewayDb, cliDb);
  return { gateway: new AccountStore(gatewayDb), cli: new AccountStore(cliDb), sameConnection: new AccountStore(gatewayDb) };
}

describe('AccountStore clients', () => {
  it('authenticates a client by name and secret, and nothing else', () => {
    const { gateway } = twoConnections();
    const secret = gateway.addClient('cam-1', 'device', { deviceId: 'cam-1' });
    expect(gateway.authenticateClient('cam-1', secret)).toMatchObject({ name: 'cam-1', role: 'device', deviceId: 'cam-1' });
    expect(gateway.authenticateClient('cam-1', secret)).toMatchObject({ name: 'cam-1' });
    expect(gateway.authenticateClient('cam-1', `${secret}x`)).toBeNull();
    expect(gateway.authenticateClient('cam-2', secret)).toBeNull();
  });

  it('sees a client disabled, rotated or added by the command line at the next request', () => {
    const { gateway, cli } = twoConnections();
    const secret = cli.addClient('cam-1', 'device', { deviceId: 'cam-1' });
    expect(gateway.authenticateClient('cam-1', secret)).not.toBeNull();

    cli.setClientDisabled('cam-1', true);
    expect(gateway.authenticateClient('cam-1', secret)).toBeNull();
    cli.setClientDisabled('cam-1', false);
    expect(gateway.authenticateClient('cam-1', secret)).not.toBeNull();

    const rotated = cli.rotateClient('cam-1');
    expect(gateway.authenticateClient('cam-1', secret)).toBeNull();
    expect(gateway.authenticateClient('cam-1', rotated)).not.toBeNull();

    const second = cli.addClient('cam-2', 'device', { deviceId: 'cam-2' });
    expect(gateway.authenticateClient('cam-2', second)).toMatchObject({ name: 'cam-2' });
  });

  it('sees a change made through another store on the same connection (which data_version does not count)', () => {
    const { gateway, sameConnection } = twoConnections();
    const secret = sameConnection.addClient('reg-1', 'registration');
    expect(gateway.authenticateClient('reg-1', secret)).not.toBeNull();
    sameConnection.setClientDisabled('reg-1', true);
    expect(gateway.authenticateClient('reg-1', secret)).toBeNull();
    sameConnection.setClientDisabled('reg-1', false);
    const rotated = sameConnection.rotateClient('reg-1');
    expect(gateway.authenticateClient('reg-1', secret)).toBeNull();
    expect(gateway.authenticateClient('reg-1', rotated)).not.toBeNull();
  });

  it('hands out a client that cannot be changed by its caller', () => {
    const { gateway } = twoConnections();
    const secret = gateway.addClient('cam-1', 'device', { deviceId: 'cam-1', allowFrom: ['10.0.4.0/24'] });
    const client = gateway.authenticateClient('cam-1', secret);
    expect(() => (client?.allowFrom as string[]).push('0.0.0.0/0')).toThrow(TypeError);
    expect(addressAllowed(gateway.authenticateClient('cam-1', secret)?.allowFrom ?? [], '192.168.1.9')).toBe(false);
    expect(addressAllowed(gateway.authenticateClient('cam-1', secret)?.allowFrom ?? [], '::ffff:10.0.4.17')).toBe(true);
  });

  it('answers an allowlist the same for an address asked again, past the answers it keeps', () => {
    const allowFrom = Object.freeze(['10.0.4.0/24', 'fd00::/64']) as string[];
    // More addresses than the answers kept per list (64), each asked twice: the second answer
    // comes from what was kept, or from the list again once that was emptied.
    for (let round = 0; round < 2; round += 1) {
      for (let host = 0; host < 100; host += 1) {
        expect(addressAllowed(allowFrom, `10.0.4.${host}`)).toBe(true);
        expect(addressAllowed(allowFrom, `10.0.5.${host}`)).toBe(false);
        expect(addressAllowed(allowFrom, `fd00::${host.toString(16)}`)).toBe(true);
        expect(addressAllowed(allowFrom, `fd01::${host.toString(16)}`)).toBe(false);
      }
    }
  });
});
