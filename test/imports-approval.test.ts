import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'drizzle-orm';
import { createOperator, setApprovalPolicy } from '../src/auth/accounts';
import { api, createTenant, startTestStack, testEnv, type TestStack } from './helpers/stack';
import { importWorkflowId } from '../workflows/import-definitions';
import { csvOf, getImport, importFile, uploadAndValidate, waitForStatus } from './fixtures/imports/support';

const execFileAsync = promisify(execFile);
const ROOT = path.resolve(__dirname, '..');

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack({ env: { IMPORT_CHUNK_ROWS: '5' } });
});
afterAll(async () => {
  await stack?.stop();
});

const users = (prefix: string, count: number, name: string, status?: (i: number) => string) =>
  csvOf(
    ['vendor_data', 'display_name', 'status'],
    Array.from({ length: count }, (_, i) => [`${prefix}-${i}`, `${name} ${i}`, status?.(i) ?? 'ACTIVE']),
  );

async function usersOf(applicationId: string) {
  const result = await stack.database.db.execute<{ vendor_data: string; display_name: string; status: string }>(
    sql`SELECT vendor_data, display_name, status FROM users WHERE application_id = ${applicationId} ORDER BY vendor_data`,
  );
  return result.rows;
}

async function auditOf(importId: string) {
  const result = await stack.database.db.execute<{ status: string; operator_id: string; details: any }>(
    sql`SELECT status, operator_id, details FROM audit_log WHERE target_id = ${importId} ORDER BY created_at`,
  );
  return result.rows;
}

async function confirm(token: string, id: string) {
  const res = await api(stack, 'POST', `/console/users/imports/${id}/confirm`, { token });
  expect(res.status).toBe(202);
  return res.body;
}

describe('approval', () => {
  it('an import over the policy waits; the requester, a READER and a DEVELOPER cannot decide; another ADMIN approves and it completes', async () => {
    const t = await createTenant(stack.database.db);
    const admin = t.operators.ADMIN;
    await importFile(stack, admin.token, users('ap', 20, 'first'));

    // The policy, through the CLI.
    const { stdout } = await execFileAsync(
      'npx',
      ['tsx', 'src/cli.ts', 'applications', 'set', '--application', t.applicationId, '--approval-updates-over', '10', '--approval-statuses', 'blocked,FLAGGED'],
      { cwd: ROOT, env: { ...process.env, DATABASE_URL: testEnv().databaseUrl, LOG_LEVEL: 'silent' } },
    );
    expect(JSON.parse(stdout)).toMatchObject({ id: t.applicationId, approval: { updates_over: 10, statuses: ['BLOCKED', 'FLAGGED'] } });

    const before = await usersOf(t.applicationId);
    const preview = await uploadAndValidate(stack, admin.token, users('ap', 15, 'second'));
    expect(preview).toMatchObject({ status: 'AWAITING_CONFIRMATION', to_update: 15, approval: { required: false } });
    const waiting = await confirm(admin.token, preview.id);
    expect(waiting.status).toBe('AWAITING_APPROVAL');
    expect(waiting.approval).toMatchObject({ required: true, approved_by: null, decided_at: null });
    expect(waiting.approval.reasons).toEqual([expect.stringMatching(/15 existing users, more than 10/)]);

    const approve = (token: string, body?: unknown) => api(stack, 'POST', `/console/users/imports/${preview.id}/approve`, { token, body });
    const byRequester = await approve(admin.token);
    expect(byRequester.status).toBe(403);
    expect(byRequester.body.error.code).toBe('approver_is_requester');
    for (const role of ['READER', 'DEVELOPER'] as const) {
      const res = await approve(t.operators[role].token);
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('forbidden');
    }
    const otherFile = await approve(t.operators.OWNER.token, { file_sha256: '0'.repeat(64) });
    expect(otherFile.status).toBe(409);
    expect(otherFile.body.error.code).toBe('file_changed');
    // Nothing was written while waiting.
    expect(await usersOf(t.applicationId)).toEqual(before);
    expect((await getImport(stack, admin.token, preview.id)).status).toBe('AWAITING_APPROVAL');

    const second = await createOperator(stack.database.db, { applicationId: t.applicationId, email: 'second-admin@example.test', role: 'ADMIN' });
    // A misspelt hash field is refused rather than ignored (the check would be skipped); the hash in either letter case.
    const misspelt = await approve(second.token, { sha256: preview.file_sha256 });
    expect([misspelt.status, misspelt.body.error.details?.[0]?.code]).toEqual([400, 'unknown_field']);
    const approved = await approve(second.token, { file_sha256: preview.file_sha256.toUpperCase() });
    expect(approved.status).toBe(202);
    expect(approved.body.status).toBe('RUNNING');
    expect((await approve(t.operators.OWNER.token)).status).toBe(409);

    const done = await waitForStatus(stack, admin.token, preview.id, ['COMPLETED']);
    expect(done).toMatchObject({ updated_count: 15, approval: { required: true, approved_by: { id: second.id, email: second.email } } });
    expect(done.approval.decided_at).not.toBeNull();
    expect((await usersOf(t.applicationId)).filter((u) => u.display_name.startsWith('second'))).toHaveLength(15);
    const [entry] = await auditOf(preview.id);
    expect(entry).toMatchObject({ status: 'SUCCESS', operator_id: admin.id });
    expect(entry.details.approval).toMatchObject({
      decision: 'APPROVED',
      requested_by: { id: admin.id, email: admin.email },
      decided_by: { id: second.id, email: second.email },
    });

    // Under the policy: confirm writes at once.
    const small = await uploadAndValidate(stack, admin.token, users('ap', 5, 'third'));
    expect((await confirm(admin.token, small.id)).status).toBe('RUNNING');
    expect(await waitForStatus(stack, admin.token, small.id, ['COMPLETED'])).toMatchObject({ approval: { required: false, reasons: [] } });
  }, 120_000);

  it('reject: a status of the policy makes it wait; a COMPLIANCE_OFFICER rejects it: REJECTED, approval_rejected, nothing written', async () => {
    const t = await createTenant(stack.database.db);
    await setApprovalPolicy(stack.database.db, { applicationId: t.applicationId, statuses: ['BLOCKED'] });
    const owner = t.operators.OWNER;
    const preview = await uploadAndValidate(stack, owner.token, users('rj', 6, 'r', (i) => (i === 2 ? 'blocked' : 'ACTIVE')));
    const waiting = await confirm(owner.token, preview.id);
    expect(waiting).toMatchObject({ status: 'AWAITING_APPROVAL', approval: { required: true, reasons: ['sets status BLOCKED on 1 user'] } });

    const officer = t.operators.COMPLIANCE_OFFICER;
    const rejected = await api(stack, 'POST', `/console/users/imports/${preview.id}/reject`, { token: officer.token });
    expect(rejected.status).toBe(202);
    expect(rejected.body).toMatchObject({ status: 'REJECTED', error: { code: 'approval_rejected' } });
    await stack.client.workflow.getHandle(importWorkflowId(preview.id)).result();
    const ended = await getImport(stack, owner.token, preview.id);
    expect(ended).toMatchObject({ status: 'REJECTED', error: { code: 'approval_rejected' }, approval: { approved_by: null, rejected_by: { id: officer.id } } });
    expect(ended.finished_at).not.toBeNull();
    expect(await usersOf(t.applicationId)).toEqual([]);
    const [entry] = await auditOf(preview.id);
    expect(entry).toMatchObject({ status: 'FAILURE', details: { import_status: 'REJECTED', approval: { decision: 'REJECTED', requested_by: { id: owner.id }, decided_by: { id: officer.id } } } });
    expect((await api(stack, 'POST', `/console/users/imports/${preview.id}/approve`, { token: t.operators.ADMIN.token })).status).toBe(409);
  }, 60_000);
});

describe('approval expiry', () => {
  let short: TestStack;
  beforeAll(async () => {
    short = await startTestStack({ env: { IMPORT_CONFIRM_TIMEOUT: '3s' } });
  });
  afterAll(async () => {
    await short?.stop();
  });

  it('not decided within IMPORT_CONFIRM_TIMEOUT: EXPIRED, nothing written, approve is 409', async () => {
    const t = await createTenant(short.database.db);
    await setApprovalPolicy(short.database.db, { applicationId: t.applicationId, statuses: ['FLAGGED'] });
    const token = t.operators.ADMIN.token;
    const preview = await uploadAndValidate(short, token, users('ex', 3, 'e', () => 'FLAGGED'));
    const res = await api(short, 'POST', `/console/users/imports/${preview.id}/confirm`, { token });
    expect(res.body.status).toBe('AWAITING_APPROVAL');
    const expired = await waitForStatus(short, token, preview.id, ['EXPIRED'], 30_000);
    expect(expired.finished_at).not.toBeNull();
    const approve = await api(short, 'POST', `/console/users/imports/${preview.id}/approve`, { token: t.operators.OWNER.token });
    expect(approve.status).toBe(409);
    expect(approve.body.error.code).toBe('invalid_state');
    const count = await short.database.db.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM users WHERE application_id = ${t.applicationId}`);
    expect(count.rows[0].n).toBe(0);
  }, 60_000);
});
