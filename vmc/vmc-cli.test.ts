import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_ID_LENGTH } from '../core/identifiers.js';
import { tempDir } from '../test/helpers/test-config.js';
import { vmcCommand } from './vmc-cli.js';

const io = { out: () => undefined, readSecret: () => Promise.resolve('') };

describe('border-gateway vmc command line', () => {
  it('answers an --mqtt that is not a broker URL with a usage error, before opening anything', async () => {
    for (const mqtt of ['not a url', 'broker.example:1883', '://', 'http://broker.example']) {
      await expect(vmcCommand(['--mqtt', mqtt, '--store', 'sqlite:/nonexistent/dir/vmc.db'], io), mqtt).rejects.toMatchObject({ code: 'GW_ERR_CLI_USAGE', message: expect.stringContaining('--mqtt') as unknown });
    }
  });

  it('answers an --evidence-days that is not whole days from 0 to 36500 with a usage error, before opening anything', async () => {
    for (const days of ['-1', '1.5', 'a year', '36501']) {
      await expect(vmcCommand(['--mqtt', 'mqtt://127.0.0.1:1', '--evidence-days', days, '--store', 'sqlite:/nonexistent/dir/vmc.db'], io), days).rejects.toMatchObject({ code: 'GW_ERR_CLI_USAGE', message: expect.stringContaining('--evidence-days') as unknown });
    }
  });

  it('takes --posts ids as long as a post id may be, and refuses a longer one no post can have, before opening anything', async () => {
    const store = ['--store', 'sqlite:/nonexistent/dir/vmc.db'];
    for (const command of [['export-training', '--out', '/nonexistent/dir/rows.jsonl'], ['load-history', '--days', '1']]) {
      for (const posts of [`post-a,${'p'.repeat(MAX_ID_LENGTH + 1)}`, '-post']) {
        await expect(vmcCommand([...command, '--posts', posts, ...store], io), `${command[0]} ${posts}`).rejects.toMatchObject({ code: 'GW_ERR_CLI_USAGE', message: expect.stringContaining('--posts') as unknown });
      }
      // At the bound the ids pass, and the store that cannot be opened is what stops it.
      await expect(vmcCommand([...command, '--posts', `post-a,${'p'.repeat(MAX_ID_LENGTH)}`, ...store], io), command[0]).rejects.not.toMatchObject({ code: 'GW_ERR_CLI_USAGE' });
    }
  });

  it('sends a watchlist without plates only with --clear: an empty file alone, or neither --file nor --clear, is refused before anything is opened', async () => {
    const dir = tempDir('vmc-cli-clear-');
    const key = join(dir, 'command.key.pem');
    writeFileSync(key, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const empty = join(dir, 'plates.txt');
    writeFileSync(empty, '# nothing here\n\n');
    // The store is a path that cannot be opened: a refusal that reached it would say so instead.
    const send = ['--posts', 'post-a', '--key', key, '--mqtt', 'mqtt://127.0.0.1:1', '--store', 'sqlite:/nonexistent/dir/vmc.db'];
    await expect(vmcCommand(['command', 'watchlist', '--file', empty, ...send], io)).rejects.toMatchObject({ code: 'GW_ERR_COMMAND_MALFORMED', message: expect.stringContaining('--clear') as unknown });
    await expect(vmcCommand(['command', 'watchlist', ...send], io)).rejects.toMatchObject({ code: 'GW_ERR_CLI_USAGE', message: expect.stringContaining('--file PLATES.txt (or --clear)') as unknown });
  });
});
