import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Links to local files, signed by the API: `<base>/downloads/<key>?expires=<unix seconds>&signature=<HMAC>`.
 * The HMAC-SHA256 covers the key and the expiry, so a link works for nobody who alters either, and not after it.
 */

const DOWNLOADS_PATH = '/downloads';

function mac(secret: string, key: string, expires: number): Buffer {
  return createHmac('sha256', secret).update(`v1\n${key}\n${expires}`).digest();
}

/** The path and query of a signed link (without the base URL). */
export function signedPath(secret: string, key: string, expiresAt: Date): string {
  const expires = Math.floor(expiresAt.getTime() / 1000);
  const encodedKey = key.split('/').map(encodeURIComponent).join('/');
  const signature = mac(secret, key, expires).toString('base64url');
  return `${DOWNLOADS_PATH}/${encodedKey}?expires=${expires}&signature=${signature}`;
}

/**
 * Whether `given` is exactly the base64url text of `expected`, compared in constant time. The text is compared, not
 * its decoding: the last of 43 characters carries 2 unused bits, so neighbouring characters decode to the same bytes.
 */
export function sameSignature(expected: Buffer, given: string): boolean {
  const want = Buffer.from(expected.toString('base64url'));
  const got = Buffer.from(given);
  return got.length === want.length && timingSafeEqual(got, want);
}

export type LinkCheck = 'valid' | 'invalid' | 'expired';

/** Checks a link's key, expiry and signature (in constant time); an altered link is `invalid`. */
export function checkSignedLink(secret: string, key: string, expiresText: unknown, signature: unknown, now = new Date()): LinkCheck {
  if (typeof expiresText !== 'string' || !/^\d{1,12}$/.test(expiresText)) return 'invalid';
  if (typeof signature !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(signature)) return 'invalid';
  const expires = Number(expiresText);
  if (!sameSignature(mac(secret, key, expires), signature)) return 'invalid';
  return now.getTime() >= expires * 1000 ? 'expired' : 'valid';
}

/**
 * The secret that signs local links: LINK_SIGNING_SECRET, else one generated once and kept in the data
 * directory, so the API and the worker (which share that directory) sign and check alike.
 */
export function loadSigningSecret(configured: string | undefined, dataDir: string): string {
  if (configured) return configured;
  const file = path.join(dataDir, 'signing-secret');
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    mkdirSync(dataDir, { recursive: true });
    try {
      writeFileSync(file, randomBytes(32).toString('base64url'), { flag: 'wx', mode: 0o600 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    return readFileSync(file, 'utf8').trim();
  }
}
