import http from 'node:http';
import https from 'node:https';
import { Webhook } from 'standardwebhooks';
import { checkWebhookUrl, guardedLookup } from './url';

export interface SendOutcome {
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

/** Most of a receiver's answer that is read (the rest is dropped): only its status matters. */
const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * The Standard Webhooks headers of one delivery: `webhook-id` (the event id, the same on every attempt),
 * `webhook-timestamp` (seconds) and `webhook-signature` (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body` with the
 * secret's bytes), signed by the standardwebhooks library.
 */
export function signedHeaders(secret: string, eventId: string, body: string, now = new Date()): Record<string, string> {
  const timestamp = new Date(Math.floor(now.getTime() / 1000) * 1000);
  return {
    'webhook-id': eventId,
    'webhook-timestamp': String(timestamp.getTime() / 1000),
    'webhook-signature': new Webhook(secret).sign(eventId, timestamp, body),
  };
}

/**
 * POSTs the body to the URL, the URL rule checked again (and the connection made only to an address that passes it),
 * no redirects followed, the whole exchange bounded by `timeoutMs`. Never throws: the outcome says what happened.
 */
export async function sendWebhook(params: {
  url: string;
  body: string;
  headers: Record<string, string>;
  timeoutMs: number;
  allowPrivate: boolean;
}): Promise<SendOutcome> {
  const started = Date.now();
  const done = (statusCode: number | null, error: string | null): SendOutcome => ({ statusCode, error, durationMs: Date.now() - started });
  let url: URL;
  try {
    url = await checkWebhookUrl(params.url, params.allowPrivate);
  } catch (err) {
    return done(null, `invalid_url: ${(err as Error).message}`);
  }
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise<SendOutcome>((resolve) => {
    let settled = false;
    const finish = (statusCode: number | null, error: string | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(done(statusCode, error));
    };
    const req = transport.request(
      url,
      {
        method: 'POST',
        lookup: guardedLookup(params.allowPrivate),
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(params.body),
          'user-agent': 'kyc-user-bulk-webhooks/1',
          ...params.headers,
        },
        agent: false,
      },
      (res) => {
        let read = 0;
        res.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > MAX_ANSWER_BYTES) res.destroy();
        });
        const status = res.statusCode ?? null;
        const ok = status !== null && status >= 200 && status < 300;
        res.on('end', () => finish(status, ok ? null : `the receiver answered ${status}`));
        res.on('close', () => finish(status, ok ? null : `the receiver answered ${status}`));
        res.on('error', () => finish(status, ok ? null : `the receiver answered ${status}`));
      },
    );
    const timer = setTimeout(() => {
      finish(null, `timeout: no answer within ${params.timeoutMs} ms`);
      req.destroy();
    }, params.timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => finish(null, err.code ? `${err.code}: ${err.message}` : err.message));
    req.end(params.body);
  });
}
