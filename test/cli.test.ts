import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { eq } from 'drizzle-orm';
import { applications, operators, users } from '../drizzle/schema';
import { hashSecret } from '../src/auth/tokens';
import { createDatabase, type Database } from '../src/db/client';
import { testEnv } from './helpers/stack';

const run = promisify(execFile);
const root = path.resolve(__dirname, '..');

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(path.join(root, 'node_modules/.bin/tsx'), ['src/cli.ts', ...args], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: testEnv().databaseUrl, LOG_LEVEL: 'silent' },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

let database: Database;
beforeAll(() => {
  database = createDatabase(testEnv().databaseUrl, { poolSize: 2 });
});
afterAll(async () => {
  await database.close();
});

describe('npm run cli', () => {
  let applicationId: string;

  test('applications create prints the id, name and API key once; only the hash is stored', async () => {
    const result = await cli('applications', 'create', '--name', 'Acme KYC');
    expect(result.code).toBe(0);
    const printed = JSON.parse(result.stdout);
    expect(printed).toEqual({ id: expect.any(String), name: 'Acme KYC', api_key: expect.stringMatching(/^kyc_ak_/) });
    applicationId = printed.id;
    const [row] = await database.db.select().from(applications).where(eq(applications.id, applicationId));
    expect(row.apiKeyHash).toBe(hashSecret(printed.api_key));
    expect(JSON.stringify(row)).not.toContain(printed.api_key);
  }, 30_000);

  test('operators create prints the token once; only the hash is stored', async () => {
    const result = await cli('operators', 'create', '--application', applicationId, '--email', 'Ops@Acme.test', '--role', 'ADMIN');
    expect(result.code).toBe(0);
    const printed = JSON.parse(result.stdout);
    expect(printed).toEqual({ id: expect.any(String), email: 'Ops@Acme.test', role: 'ADMIN', token: expect.stringMatching(/^kyc_op_/) });
    const [row] = await database.db.select().from(operators).where(eq(operators.id, printed.id));
    expect(row.tokenHash).toBe(hashSecret(printed.token));
  }, 30_000);

  test('users record-approved-session verifies the fields and counts the session', async () => {
    const first = await cli('users', 'record-approved-session', '--application', applicationId, '--vendor-data', 'U-9', '--full-name', 'Ana Pérez');
    expect(first.code).toBe(0);
    const second = await cli(
      'users', 'record-approved-session', '--application', applicationId, '--vendor-data', ' u-9 ', '--date-of-birth', '1990-04-01',
    );
    expect(second.code).toBe(0);
    const user = JSON.parse(second.stdout);
    expect(user).toMatchObject({
      vendor_data: 'U-9',
      full_name: 'Ana Pérez',
      date_of_birth: '1990-04-01',
      verified_fields: ['date_of_birth', 'full_name'],
      session_count: 2,
      approved_count: 2,
    });
    const rows = await database.db.select().from(users).where(eq(users.applicationId, applicationId));
    expect(rows).toHaveLength(1);
    // A new user verified with both at once lists them in the same order.
    const both = await cli(
      'users', 'record-approved-session', '--application', applicationId, '--vendor-data', 'U-10', '--full-name', 'Bo Li', '--date-of-birth', '1991-02-03',
    );
    expect(both.code).toBe(0);
    expect(JSON.parse(both.stdout)).toMatchObject({ vendor_data: 'U-10', verified_fields: ['date_of_birth', 'full_name'], session_count: 1 });
  }, 30_000);

  test.each([
    [['operators', 'create', '--application', 'not-a-uuid', '--email', 'a@b.c', '--role', 'ADMIN']],
    [['operators', 'create', '--application', '00000000-0000-0000-0000-000000000000', '--email', 'a@b.c', '--role', 'KING']],
    [['operators', 'create', '--application', '00000000-0000-0000-0000-000000000000', '--email', 'a@b.c', '--role', 'ADMIN']],
    [['applications', 'create']],
    [['users', 'record-approved-session', '--application', '00000000-0000-0000-0000-000000000000', '--vendor-data', 'x', '--date-of-birth', '1990-13-01']],
    [['nonsense']],
  ])('%j fails with a message and a non-zero exit', async (args) => {
    const result = await cli(...args);
    expect(result.code).not.toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr.length).toBeGreaterThan(0);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  }, 30_000);

  test.each([
    [['users', 'record-approved-session', '--application', '00000000-0000-0000-0000-000000000000', '--vendor-data', 'x'], 'not_found'],
    [['users', 'record-approved-session', '--application', 'not-a-uuid', '--vendor-data', 'x'], 'usage'],
  ])('%j prints the error as JSON with its code, exit 2', async (args, code) => {
    const result = await cli(...args);
    expect(result.code).toBe(2);
    expect(JSON.parse(result.stderr)).toEqual({ error: { code, message: expect.any(String) } });
  }, 30_000);

  test('operators create refuses an email that is not an address', async () => {
    const result = await cli('operators', 'create', '--application', applicationId, '--email', 'not an email', '--role', 'ADMIN');
    expect(result.code).toBe(2);
    expect(JSON.parse(result.stderr).error.code).toBe('invalid_field');
  }, 30_000);
});
