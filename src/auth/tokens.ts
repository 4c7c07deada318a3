import { createHash, randomBytes } from 'node:crypto';

/** A new secret with a readable prefix (`kyc_op_…` for operators, `kyc_ak_…` for API keys). */
export function newSecret(prefix: 'kyc_op' | 'kyc_ak'): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

/** Secrets are stored as their SHA-256: they are random and long, so a slow hash adds nothing. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}
