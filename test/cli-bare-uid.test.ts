/**
 * The account commands run by a uid with no entry in /etc/passwd: what `runuser -u border-gateway`
 * is when the user was made only inside an install root (docs/deployment.md's offline install),
 * or a container's bare uid. os.userInfo() throws there; the command used to die with its stack
 * trace after opening the database. It must do its work and name the uid in the audit trail.
 */
import { spawnSync } from 'node:child_process';
import { chownSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, REPO_ROOT } from './helpers/gateway-process.js';
import { tempDir } from './helpers/test-config.js';

const UID = 4242; // not in this machine's /etc/passwd (checked below)
const DEMO_CONFIG = join(REPO_ROOT, 'config', 'examples', 'demo-post.yaml');

function asBareUid(args: string[], stdin?: string) {
  return spawnSync('setpriv', [`--reuid=${UID}`, `--regid=${UID}`, '--clear-groups', process.execPath, ...CLI, ...args], { cwd: REPO_ROOT, encoding: 'utf8', input: stdin, timeout: 60_000 });
}

describe('account commands by a uid without a name', () => {
  it('adds a user and records the uid as the actor', () => {
    expect(process.getuid?.(), 'setpriv to another uid needs root').toBe(0);
    expect(spawnSync('getent', ['passwd', String(UID)]).status, `uid ${UID} must have no passwd entry here`).not.toBe(0);
    const dataDir = tempDir();
    chownSync(dataDir, UID, UID);
    const where = ['--config', DEMO_CONFIG, '--data', dataDir];

    const added = asBareUid(['user', 'add', 'ana', '--role', 'operator', ...where], 'a long enough passphrase\n');
    expect(added.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(added.status).toBe(0);
    const listed = asBareUid(['user', 'list', ...where]);
    expect(listed.stdout).toMatch(/ana\s+operator/);
    const audit = asBareUid(['audit', 'list', '--search', 'user.add', ...where]);
    expect(audit.status).toBe(0);
    expect(audit.stdout).toContain(`cli:uid-${UID}`);
  });
});
