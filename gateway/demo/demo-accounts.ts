/**
 * The demo post's accounts: there is no default password anywhere, so every demo start gives its
 * people fresh random passwords (printed once, on the demo's own terminal) and the simulated
 * registration system a fresh client secret. Accounts that exist from an earlier run are reused
 * with new passwords; the audit log records each change as the command line's would.
 */
import { randomBytes } from 'node:crypto';
import { hashPassword } from '../../core/passwords.js';
import type { PersonRole } from '../auth/roles.js';
import { systemActor } from '../auth/roles.js';
import type { Gateway } from '../daemon.js';
import type { DeskCredentials } from '../../sim/gateway-client.js';

export interface DemoAccount {
  name: string;
  role: PersonRole;
  password: string;
}

const PEOPLE: [string, PersonRole][] = [
  ['demo-operator', 'operator'],
  ['demo-supervisor', 'supervisor'],
  ['demo-admin', 'admin'],
];

async function person(gateway: Gateway, name: string, role: PersonRole): Promise<DemoAccount> {
  const password = randomBytes(12).toString('base64url');
  const hash = await hashPassword(password);
  const exists = gateway.accounts.account(name) !== null;
  gateway.audit.record({ actor: systemActor('demo'), action: exists ? 'user.password' : 'user.add', after: name, reason: 'demo start: fresh random password' }, () =>
    exists ? gateway.accounts.setPassword(name, hash) : void gateway.accounts.addAccount(name, role, hash),
  );
  return { name, role, password };
}

/** The printed accounts, and the credentials of the simulated registration desk and inspectors. */
export async function createDemoAccounts(gateway: Gateway): Promise<{ people: DemoAccount[]; desk: DeskCredentials }> {
  const people: DemoAccount[] = [];
  for (const [name, role] of PEOPLE) people.push(await person(gateway, name, role));
  const inspector = await person(gateway, 'sim-inspector', 'supervisor');
  const clientName = 'sim-registration';
  const secret = gateway.accounts.clients().some((c) => c.name === clientName) ? gateway.accounts.rotateClient(clientName) : gateway.accounts.addClient(clientName, 'registration');
  return { people, desk: { registrationToken: `${clientName}.${secret}`, supervisor: { name: inspector.name, password: inspector.password } } };
}
