/**
 * Who may do what: the roles of people and machines, and the one permission table every route
 * names (docs/security.md#roles prints the same table; a test checks every cell through HTTP).
 */

export const PERSON_ROLES = ['operator', 'supervisor', 'admin'] as const;
export const MACHINE_ROLES = ['registration', 'device'] as const;
export const ROLES = [...PERSON_ROLES, ...MACHINE_ROLES] as const;
export type PersonRole = (typeof PERSON_ROLES)[number];
export type MachineRole = (typeof MACHINE_ROLES)[number];
export type Role = (typeof ROLES)[number];

/** The authenticated caller; the acting identity of every action comes from here, never a body. */
export interface Actor {
  /** Account or client name. */
  id: string;
  role: Role | 'system';
  /** For `device` clients: the one device whose push path it may use. */
  deviceId?: string | null;
}

/** The gateway itself (startup, SIGHUP) or the local command line, as an acting identity. */
export const systemActor = (id: string): Actor => ({ id, role: 'system' });

/**
 * The permission table. Admins manage accounts and models but do not act on lanes: releasing a
 * truck or changing its channel stays with the lane's supervisors (separation of duties).
 */
export const PERMISSIONS = {
  'session.own': ['operator', 'supervisor', 'admin'],
  'lanes.read': ['operator', 'supervisor', 'admin'],
  'crossing.register': ['operator', 'supervisor', 'registration'],
  /** AEO status and visit history in a registration are believed only from the registration system. */
  'registration.trusted': ['registration'],
  'crossing.plate': ['operator', 'supervisor'],
  'crossing.weight': ['operator', 'supervisor'],
  'crossing.inspection': ['operator', 'supervisor'],
  'crossing.channel': ['supervisor'],
  'crossing.release': ['supervisor'],
  'barrier.manual': ['supervisor'],
  'models.reload': ['admin'],
  'audit.read': ['supervisor', 'admin'],
  'users.manage': ['admin'],
  /** Its own push path only: the device listener also checks the client's device id. */
  'device.push': ['device'],
} as const satisfies Record<string, readonly Role[]>;

export type Permission = keyof typeof PERMISSIONS;

export function allows(role: Actor['role'], permission: Permission): boolean {
  return (PERMISSIONS[permission] as readonly string[]).includes(role);
}

export function isPersonRole(role: string): role is PersonRole {
  return (PERSON_ROLES as readonly string[]).includes(role);
}

export function isMachineRole(role: string): role is MachineRole {
  return (MACHINE_ROLES as readonly string[]).includes(role);
}

/** Account and client names: what may appear in logs, cookies and the audit log. */
export const NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
