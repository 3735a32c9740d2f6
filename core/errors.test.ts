import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, EXIT_CODES, GatewayError } from './errors.js';
import { PACKAGE_ROOT } from './package-info.js';

describe('error registry', () => {
  it('documents every code in docs/errors.md', () => {
    const doc = readFileSync(join(PACKAGE_ROOT, 'docs', 'errors.md'), 'utf8');
    const undocumented = Object.keys(ERROR_CODES).filter((code) => !doc.includes(`\`${code}\``));
    expect(undocumented).toEqual([]);
  });

  it('documents no code that does not exist', () => {
    const doc = readFileSync(join(PACKAGE_ROOT, 'docs', 'errors.md'), 'utf8');
    const documented = [...doc.matchAll(/`(GW_ERR_[A-Z_]+)`/g)].map((m) => m[1]);
    expect(documented.filter((code) => !(code! in ERROR_CODES))).toEqual([]);
  });

  it("explains the exit codes the systemd unit does not restart, as the unit lists them", () => {
    const unit = readFileSync(join(PACKAGE_ROOT, 'deploy', 'border-gateway.service'), 'utf8');
    const prevented = /^RestartPreventExitStatus=(.+)$/m.exec(unit)?.[1];
    // A usage or configuration error fails the same way at every restart; a runtime failure may pass.
    expect(prevented?.split(/\s+/).map(Number).sort((a, b) => a - b)).toEqual([EXIT_CODES.usage, EXIT_CODES.config]);
    const doc = readFileSync(join(PACKAGE_ROOT, 'docs', 'errors.md'), 'utf8');
    expect(doc).toContain(`\`RestartPreventExitStatus=${prevented}\``);
    for (const code of Object.values(EXIT_CODES)) expect(doc, `exit ${code} in the exit codes table`).toMatch(new RegExp(`^\\| \`${code}\` \\|`, 'm'));
  });

  it('keeps the cause and a stable code', () => {
    const cause = new Error('ENOSPC');
    const error = new GatewayError('GW_ERR_OUTBOX_WRITE', undefined, { cause });
    expect(error.code).toBe('GW_ERR_OUTBOX_WRITE');
    expect(error.message).toBe(ERROR_CODES.GW_ERR_OUTBOX_WRITE);
    expect(error.cause).toBe(cause);
  });
});
