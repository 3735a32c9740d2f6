/**
 * What the signed-in role may do, from the gateway's own permission table (gateway/auth/roles.ts),
 * so the console offers exactly the actions the API would accept. The server still decides.
 */
import { PERMISSIONS, type Permission, type PersonRole } from '../../../gateway/auth/roles.js';

export type { Permission };

export function may(role: PersonRole | undefined, permission: Permission): boolean {
  return role !== undefined && (PERMISSIONS[permission] as readonly string[]).includes(role);
}
