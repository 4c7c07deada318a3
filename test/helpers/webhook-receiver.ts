import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a receiver does with the n-th request (1-based): answer with a status, or never answer. */
export type ReceiverBehaviour = (n: number) => number | 'hang';

export interface ReceivedWebhook {
  n: number;
  headers: Record<string, string>;
  body: string;
  payload: { id: string; type: string; created_at: string; data: Record<string, unknown> };
  /** The signature checked by verifyStandardWebhook with the subscription's secret (set once it is known). */
  verified: boolean;
  answered: number | 'hang';
  at: Date;
}

/**
 * The Standard Webhooks check, written from the spec (https://www.standardwebhooks.com), not with the service's
 * code or the standardwebhooks package: the key is the base64 after `whsec_`; the signed content is
 * `<webhook-id>.<webhook-timestamp>.<body>`; `webhook-signature` is a space-separated list of `v1,<base64 HMAC-SHA256>`
 * of which one must match; the timestamp must be within 5 minutes of now.
 */
export function verifyStandardWebhook(secret: string, headers: Record<string, string>, body: string, now = Date.now()): boolean {
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  const signatures = headers['webhook-signature'];
  if (!id || !timestamp || !signatures || !/^\d+$/.test(timestamp)) return false;
  if (Math.abs(now / 1000 - Number(timestamp)) > 300) return false;
  if (!secret.startsWith('whsec_')) return false;
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest();
  return signatures.split(' ').some((entry) => {
    const [version, sig] = entry.split(',');
    if (version !== 'v1' || !sig) return false;
    const given = Buffer.from(sig, 'base64');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}

/** A webhook receiver on loopback that records every request it gets and answers as told. */
export async function startReceiver(behaviour: ReceiverBehaviour = () => 200) {
  const received: ReceivedWebhook[] = [];
  const hanging: ServerResponse[] = [];
  let secret: string | undefined;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const n = received.length + 1;
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
      const answered = behaviour(n);
      received.push({
        n,
        headers,
        body,
        payload: JSON.parse(body),
        verified: secret ? verifyStandardWebhook(secret, headers, body) : false,
        answered,
        at: new Date(),
      });
      if (answered === 'hang') {
        hanging.push(res);
        return;
      }
      res.statusCode = answered;
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  return {
    url,
    received,
    /** The subscription's secret: requests from now on are verified with it. */
    setSecret(value: string) {
      secret = value;
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
export type Receiver = Awaited<ReturnType<typeof startReceiver>>;
