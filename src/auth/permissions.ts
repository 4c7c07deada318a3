import type { Role } from '../../drizzle/schema';

/** API.md's role table: which roles may do what. The one place it is written. */
export const PERMISSIONS = {
  'imports.write': ['OWNER', 'ADMIN'],
  'imports.read': ['OWNER', 'ADMIN', 'COMPLIANCE_OFFICER', 'DEVELOPER', 'READER'],
  'imports.retry': ['OWNER', 'ADMIN', 'DEVELOPER'],
  /** Pause, resume and the chunk concurrency of a running import. */
  'imports.control': ['OWNER', 'ADMIN', 'DEVELOPER'],
  /** Approve or reject an import AWAITING_APPROVAL (never the operator who started it: the workflow refuses). */
  'imports.approve': ['OWNER', 'ADMIN', 'COMPLIANCE_OFFICER'],
  /** Undo a finished import (restore the users it updated, delete those it created). */
  'imports.undo': ['OWNER', 'ADMIN'],
  'exports.all_columns': ['OWNER', 'ADMIN', 'COMPLIANCE_OFFICER'],
  'exports.restricted_columns': ['OWNER', 'ADMIN', 'COMPLIANCE_OFFICER', 'DEVELOPER', 'READER'],
  'exports.read': ['OWNER', 'ADMIN', 'COMPLIANCE_OFFICER', 'DEVELOPER', 'READER'],
  /** Cancel, retry an export or revoke its links whoever requested it (the requester always may its own). */
  'exports.control_any': ['OWNER', 'ADMIN'],
  /** Create, read, change and delete export schedules (each run exports as the schedule's creator). */
  'exports.schedules': ['OWNER', 'ADMIN', 'COMPLIANCE_OFFICER'],
  'audit.read': ['OWNER', 'ADMIN', 'COMPLIANCE_OFFICER'],
  'mappings.manage': ['OWNER', 'ADMIN', 'DEVELOPER'],
  /** Create, list and delete webhook subscriptions and read their delivery log. */
  'webhooks.manage': ['OWNER', 'ADMIN', 'DEVELOPER'],
} as const satisfies Record<string, readonly Role[]>;
export type Permission = keyof typeof PERMISSIONS;

export function can(role: Role, permission: Permission): boolean {
  return (PERMISSIONS[permission] as readonly Role[]).includes(role);
}
