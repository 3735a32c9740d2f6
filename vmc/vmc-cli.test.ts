import { describe, expect, it } from 'vitest';
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
});
