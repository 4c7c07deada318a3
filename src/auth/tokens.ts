import { createHash, randomBytes } from 'node:crypto';

/** A new secret with a readable prefix (`kyc_op_…` for operators, `kyc_ak_…` for API keys). */
export function newSecret(prefix: 'kyc_op' | 'kyc_ak'): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

/** Secrets are stored as their SHA-256: they are random and long, so a slow hash adds nothing. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** How much of an API key the import object and the audit log show (`kyc_ak_` and 5 characters): never enough to use. */
export const API_KEY_PREFIX_LENGTH = 12;
