import { createHmac } from 'node:crypto';
import { sameSignature } from '../storage/signing';

/**
 * The export download links the API serves: `<base>/downloads/<token>`, the token
 * `<export id>.<link generation>.<expires, unix seconds>.<HMAC-SHA256>`. The HMAC covers the three, so an altered
 * token is refused; the generation is checked against the export's (`DELETE .../links` raises it), so every link of
 * an export can be revoked at once; the expiry is the link period's, which may outlive S3's 7-day presigning limit
 * (the API answers each download with a presigned URL of a minute).
 */

export interface LinkClaims {
  exportId: string;
  generation: number;
  expiresAt: Date;
}

const TOKEN = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.(\d{1,9})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$/;

function mac(secret: string, exportId: string, generation: number, expires: number): Buffer {
  return createHmac('sha256', secret).update(`export-link-v1\n${exportId}\n${generation}\n${expires}`).digest();
}

export function signExportToken(secret: string, claims: LinkClaims): string {
  const expires = Math.floor(claims.expiresAt.getTime() / 1000);
  const signature = mac(secret, claims.exportId, claims.generation, expires).toString('base64url');
  return `${claims.exportId}.${claims.generation}.${expires}.${signature}`;
}

export function exportLinkUrl(baseUrl: string, secret: string, claims: LinkClaims): string {
  return `${baseUrl.replace(/\/+$/, '')}/downloads/${signExportToken(secret, claims)}`;
}

/** The token's claims when its signature is right (checked in constant time), else undefined. */
export function verifyExportToken(secret: string, token: string): LinkClaims | undefined {
  const match = TOKEN.exec(token);
  if (!match) return undefined;
  const [, exportId, generationText, expiresText, signature] = match;
  const generation = Number(generationText);
  const expires = Number(expiresText);
  if (!sameSignature(mac(secret, exportId, generation, expires), signature)) return undefined;
  return { exportId, generation, expiresAt: new Date(expires * 1000) };
}
