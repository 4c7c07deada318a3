import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { eq } from 'drizzle-orm';
import { emailOutbox } from '../drizzle/schema';
import { createDatabase, type Database } from '../src/db/client';
import { createMailer } from '../src/email';
import { MailerError } from '../src/email/mailer';
import { ResendMailer } from '../src/email/resend';
import { runExport, seedUsers } from './helpers/exports';
import { createTenant, startTestStack, testConfig, testEnv, type TestStack } from './helpers/stack';

/** The Resend path against a local HTTP endpoint that records what it is sent (and fails when told to). */

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: { from: string; to: string[]; subject: string; text: string };
  answered: number;
}

let server: Server;
let baseUrl: string;
const received: Received[] = [];
/** Statuses to answer the next requests with (then 200). */
let plan: number[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk: Buffer) => (raw += chunk.toString('utf8')));
    req.on('end', () => {
      const status = plan.shift() ?? 200;
      received.push({ path: req.url ?? '', headers: req.headers, body: JSON.parse(raw || '{}'), answered: status });
      res.setHeader('content-type', 'application/json');
      if (status === 200) {
        res.end(JSON.stringify({ id: `re_${randomUUID()}` }));
      } else {
        res.statusCode = status;
        const name = status === 422 ? 'validation_error' : 'internal_server_error';
        res.end(JSON.stringify({ statusCode: status, name, message: `answered ${status} on purpose` }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  received.length = 0;
  plan = [];
});

describe('ResendMailer', () => {
  let database: Database;
  let applicationId: string;
  beforeAll(async () => {
    database = createDatabase(testEnv().databaseUrl, { poolSize: 2 });
    applicationId = (await createTenant(database.db)).applicationId;
  });
  afterAll(async () => {
    await database?.close();
  });

  const mailer = () => new ResendMailer(database.db, { apiKey: 're_test_key', from: 'KYC <exports@example.com>', baseUrl });

  test('createMailer picks Resend when RESEND_API_KEY is set, with the configured base URL', () => {
    const config = testConfig({ RESEND_API_KEY: 're_x', RESEND_BASE_URL: baseUrl });
    expect(createMailer(config, database.db).transport).toBe('resend');
    expect(createMailer(testConfig(), database.db).transport).toBe('outbox');
  });

  test('sends once per idempotency key, with the key, the API key and the message', async () => {
    const key = `test-${randomUUID()}`;
    const message = { applicationId, idempotencyKey: key, to: 'op@example.com', subject: 'Hello', text: 'Body text' };
    const first = await mailer().send(message);
    const second = await mailer().send(message);
    expect(second).toEqual(first);
    expect(received).toHaveLength(1);
    expect(received[0].path).toBe('/emails');
    expect(received[0].headers['idempotency-key']).toBe(key);
    expect(received[0].headers.authorization).toBe('Bearer re_test_key');
    expect(received[0].body).toMatchObject({ from: 'KYC <exports@example.com>', to: ['op@example.com'], subject: 'Hello', text: 'Body text' });
    const [row] = await database.db.select().from(emailOutbox).where(eq(emailOutbox.idempotencyKey, key));
    expect(row).toMatchObject({ transport: 'resend', sent: true, providerId: first.id, toAddress: 'op@example.com' });
  });

  test('a failed send is retryable and the retry carries the same idempotency key', async () => {
    const key = `test-${randomUUID()}`;
    const message = { applicationId, idempotencyKey: key, to: 'op@example.com', subject: 'S', text: 'T' };
    plan = [503];
    const error = await mailer().send(message).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(MailerError);
    expect((error as MailerError).retryable).toBe(true);
    const [pending] = await database.db.select().from(emailOutbox).where(eq(emailOutbox.idempotencyKey, key));
    expect(pending.sent).toBe(false);
    await mailer().send(message);
    expect(received.map((r) => [r.answered, r.headers['idempotency-key']])).toEqual([
      [503, key],
      [200, key],
    ]);
  });

  test('a refused message (4xx) is not retryable', async () => {
    plan = [422];
    const error = await mailer()
      .send({ applicationId, idempotencyKey: `test-${randomUUID()}`, to: 'op@example.com', subject: 'S', text: 'T' })
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(MailerError);
    expect((error as MailerError).retryable).toBe(false);
  });
});

describe('an export with Resend configured', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack({ env: { RESEND_API_KEY: 're_stack_key', RESEND_BASE_URL: baseUrl, EMAIL_FROM: 'Exports <x@example.com>' } });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  test('emails the link, row count, filters and expiry through Resend; a retried send is delivered once', async () => {
    const tenant = await createTenant(stack.database.db);
    await seedUsers(stack.database.db, tenant.applicationId, [
      { vendorData: 'a', status: 'ACTIVE', country: 'ESP' },
      { vendorData: 'b', status: 'BLOCKED', country: 'ESP' },
    ]);
    plan = [500];
    const done = await runExport(stack, tenant.operators.OWNER.token, { filters: { status: ['ACTIVE'] }, columns: ['id', 'vendor_data'] });
    expect(done.status).toBe('COMPLETED');
    expect(done.email).toMatchObject({ to: tenant.operators.OWNER.email, status: 'SENT' });
    const delivered = received.filter((r) => r.answered === 200);
    expect(delivered).toHaveLength(1);
    expect(received.every((r) => r.headers['idempotency-key'] === `users-export-${done.id}`)).toBe(true);
    const { body } = delivered[0];
    expect(body.to).toEqual([tenant.operators.OWNER.email]);
    expect(body.from).toBe('Exports <x@example.com>');
    expect(body.text).toContain(done.download_url);
    expect(body.text).toContain('Rows: 1');
    expect(body.text).toContain('status: ACTIVE');
    expect(body.text).toContain(done.link_expires_at);
    expect(body.subject).toContain('1 row');
  });

  test('an email Resend refuses leaves the export COMPLETED with email status FAILED', async () => {
    const tenant = await createTenant(stack.database.db);
    plan = [422];
    const done = await runExport(stack, tenant.operators.ADMIN.token, { columns: ['id'] });
    expect(done.status).toBe('COMPLETED');
    expect(done.email).toMatchObject({ status: 'FAILED', sent_at: null });
    expect(done.download_url).toEqual(expect.any(String));
    expect(received).toHaveLength(1);
  });
});
