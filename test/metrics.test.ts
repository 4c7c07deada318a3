import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { api, createTenant, startTestStack, waitFor, type TestStack, type TestTenant } from './helpers/stack';
import { runExport, seedManyUsers } from './helpers/exports';
import { csvOf, importFile, uploadAndValidate, waitForStatus } from './fixtures/imports/support';

/**
 * `/metrics` of the API and of a worker (API.md "Progress and metrics"; the README's "Metrics" lists the names): real
 * Prometheus text (parsed by parse-prometheus-text-format), counters that move by exactly what a job did, and no id or
 * email in any label.
 */

interface Sample {
  value?: string;
  labels?: Record<string, string>;
  buckets?: Record<string, string>;
  count?: string;
  sum?: string;
}
interface Family {
  name: string;
  help: string;
  type: string;
  metrics: Sample[];
}

const HEADER = ['vendor_data', 'display_name', 'email', 'country'];
const UUID_RE = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;
const EMAIL_RE = /[^\s@]+@[^\s@]+\.[^\s@]+/;

let stack: TestStack;
let t: TestTenant & { token: string };

beforeAll(async () => {
  // A task queue of the test's own without a UUID in it: the SDK's metrics carry it in a label (the check below
  // refuses any UUID in a label; production's is `kyc-users`).
  stack = await startTestStack({
    workerMetrics: true,
    env: { IMPORT_CHUNK_ROWS: '4', TEMPORAL_TASK_QUEUE: `test-metrics-${process.pid}-${Date.now()}` },
  });
  const tenant = await createTenant(stack.database.db);
  t = { ...tenant, token: tenant.operators.OWNER.token };
});
afterAll(async () => {
  await stack?.stop();
});

async function scrape(url: string): Promise<{ text: string; families: Map<string, Family>; contentType: string | null }> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  const text = await res.text();
  const families = new Map<string, Family>();
  for (const family of parsePrometheusTextFormat(text) as Family[]) {
    // One family per name: two answers concatenated with a name in both would be invalid exposition.
    expect(families.has(family.name)).toBe(false);
    families.set(family.name, family);
  }
  return { text, families, contentType: res.headers.get('content-type') };
}

const apiMetrics = () => scrape(`${stack.baseUrl}/metrics`);
const workerMetrics = () => scrape(stack.workerMetricsUrl!);

/** The value of the sample of `name` whose labels include `labels` (0 when there is none, as for an unset counter). */
function valueOf(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const family = families.get(name);
  const matching = (family?.metrics ?? []).filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return matching.reduce((sum, m) => sum + Number(m.value ?? m.count ?? 0), 0);
}

/**
 * A histogram's `_count` (or `_sum`) for the series whose labels include `labels`, read from the text:
 * parse-prometheus-text-format folds a histogram's labelled series into one and drops their labels, count and sum.
 */
function histogramValue(text: string, name: string, labels: Record<string, string>, part: 'count' | 'sum' = 'count'): number {
  let total = 0;
  for (const line of text.split('\n')) {
    const match = new RegExp(`^${name}_${part}\\{([^}]*)\\} (\\S+)$`).exec(line);
    if (!match) continue;
    const found = Object.fromEntries([...match[1].matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) total += Number(match[2]);
  }
  return total;
}

function expectNoPersonalLabels(families: Map<string, Family>): void {
  const values = [...families.values()].flatMap((f) => f.metrics.flatMap((m) => Object.values(m.labels ?? {})));
  expect(values.length).toBeGreaterThan(0);
  expect(values.filter((v) => UUID_RE.test(v) || EMAIL_RE.test(v))).toEqual([]);
}

/** A CSV of `count` users `prefix-1`..; `emailOf` varies a row so that an import of the same users updates it. */
function usersCsv(prefix: string, count: number, emailOf: (i: number) => string = (i) => `${prefix}-${i}@example.com`): string {
  return csvOf(
    HEADER,
    Array.from({ length: count }, (_, k) => [`${prefix}-${k + 1}`, `User ${k + 1}`, emailOf(k + 1), 'esp']),
  );
}

describe('GET /metrics', () => {
  it('the API answers Prometheus text with its HTTP metrics (a latency histogram) and the default process metrics', async () => {
    await api(stack, 'GET', '/healthz');
    const { families, contentType } = await apiMetrics();
    expect(contentType).toMatch(/^text\/plain/);
    expect(families.get('kyc_http_requests_total')?.type).toBe('COUNTER');
    expect(families.get('kyc_http_request_duration_seconds')?.type).toBe('HISTOGRAM');
    expect(valueOf(families, 'kyc_http_requests_total', { method: 'GET', route: '/healthz', status: '200' })).toBeGreaterThanOrEqual(1);
    expect(families.has('process_cpu_user_seconds_total')).toBe(true);
    expect(families.has('nodejs_eventloop_lag_seconds')).toBe(true);
  });

  it('the worker answers its job metrics, the default process metrics and the Temporal SDK worker metrics in one scrape', async () => {
    // The SDK's exporter lists a worker's metrics once it has polled.
    const { families } = await waitFor(async () => {
      const scraped = await workerMetrics();
      return [...scraped.families.keys()].some((name) => name.startsWith('temporal_') && name.includes('poll')) ? scraped : undefined;
    });
    for (const name of ['kyc_jobs_started_total', 'kyc_jobs_finished_total', 'kyc_rows_written_total', 'kyc_chunk_failures_total', 'kyc_export_range_failures_total']) {
      expect(families.get(name)?.type).toBe('COUNTER');
    }
    expect(families.get('kyc_job_duration_seconds')?.type).toBe('HISTOGRAM');
    expect(families.has('process_resident_memory_bytes')).toBe(true);
    expect(valueOf(families, 'kyc_temporal_sdk_metrics_up')).toBe(1);
    const sdk = [...families.values()].filter((f) => f.name.startsWith('temporal_'));
    expect(sdk.length).toBeGreaterThan(3);
    // The SDK's metrics carry the task queue, not ours only: they are the worker's own.
    expect(sdk.some((f) => f.metrics.some((m) => m.labels?.task_queue === stack.config.temporal.taskQueue))).toBe(true);
  });

  it('after an import of N rows the rows-written counters moved by exactly N (by action), the jobs by one, and the HTTP counters by the routes called', async () => {
    // 6 users first; the import of N = 10 then updates 3 of them, leaves 3 unchanged and creates 4.
    await importFile(stack, t.token, usersCsv('m', 6));
    const { families: beforeWorker, text: beforeWorkerText } = await workerMetrics();
    const beforeApi = (await apiMetrics()).families;
    const http = (method: string, route: string, status: string) => ({ method, route, status });
    const N = 10;
    const done = await importFile(stack, t.token, usersCsv('m', N, (i) => (i <= 3 ? `changed-${i}@example.com` : `m-${i}@example.com`)));
    expect(done).toMatchObject({ status: 'COMPLETED', created_count: 4, updated_count: 3, unchanged_count: 3 });

    // The counter moves just after the commit the API reads; wait for it, then check it moved by exactly one.
    const finished = { kind: 'import', status: 'COMPLETED' };
    const { families: afterWorker, text: afterWorkerText } = await waitFor(async () => {
      const scraped = await workerMetrics();
      return valueOf(scraped.families, 'kyc_jobs_finished_total', finished) > valueOf(beforeWorker, 'kyc_jobs_finished_total', finished) ? scraped : undefined;
    });
    const moved = (name: string, labels: Record<string, string> = {}) => valueOf(afterWorker, name, labels) - valueOf(beforeWorker, name, labels);
    expect(moved('kyc_rows_written_total', { action: 'created' })).toBe(4);
    expect(moved('kyc_rows_written_total', { action: 'updated' })).toBe(3);
    expect(moved('kyc_rows_written_total', { action: 'unchanged' })).toBe(3);
    expect(moved('kyc_rows_written_total')).toBe(N);
    expect(moved('kyc_jobs_started_total', { kind: 'import' })).toBe(1);
    expect(moved('kyc_jobs_finished_total', finished)).toBe(1);
    expect(moved('kyc_jobs_finished_total')).toBe(1);
    expect(histogramValue(afterWorkerText, 'kyc_job_duration_seconds', finished) - histogramValue(beforeWorkerText, 'kyc_job_duration_seconds', finished)).toBe(1);
    expect(histogramValue(afterWorkerText, 'kyc_job_duration_seconds', finished, 'sum')).toBeGreaterThan(
      histogramValue(beforeWorkerText, 'kyc_job_duration_seconds', finished, 'sum'),
    );
    expect(moved('kyc_chunk_failures_total')).toBe(0);

    // The API: one upload, one confirm, polls of the import; by the route's pattern, never its id.
    const { families: afterApi, text: afterApiText } = await apiMetrics();
    const apiMoved = (labels: Record<string, string>) =>
      valueOf(afterApi, 'kyc_http_requests_total', labels) - valueOf(beforeApi, 'kyc_http_requests_total', labels);
    expect(apiMoved(http('POST', '/console/users/imports', '202'))).toBe(1);
    expect(apiMoved(http('POST', '/console/users/imports/:id/confirm', '202'))).toBe(1);
    expect(apiMoved(http('GET', '/console/users/imports/:id', '200'))).toBeGreaterThanOrEqual(2);
    const confirmLatency = { method: 'POST', route: '/console/users/imports/:id/confirm', status: '202' };
    expect(histogramValue(afterApiText, 'kyc_http_request_duration_seconds', confirmLatency)).toBe(
      valueOf(afterApi, 'kyc_http_requests_total', confirmLatency),
    );
    expectNoPersonalLabels(afterApi);
    expectNoPersonalLabels(afterWorker);
  });

  it('labels an error answered outside its router by the route that matched, and a path no route matches by a fixed label', async () => {
    const before = (await apiMetrics()).families;
    const missing = randomUUID();
    expect((await api(stack, 'GET', `/console/users/imports/${missing}`, { token: t.token })).status).toBe(404);
    expect((await api(stack, 'GET', `/console/users/imports/${missing}`)).status).toBe(401);
    // The public API's 401s too (its key is checked on each route).
    expect((await api(stack, 'GET', '/v3/users/someone/')).status).toBe(401);
    expect((await api(stack, 'GET', `/v3/users/imports/${missing}`)).status).toBe(401);
    expect((await api(stack, 'GET', `/no-such-thing/${missing}/x@example.com`)).status).toBe(404);
    expect((await api(stack, 'GET', `/CONSOLE/users/IMPORTS/${missing}`, { token: t.token })).status).toBe(404);
    const after = (await apiMetrics()).families;
    const moved = (labels: Record<string, string>) => valueOf(after, 'kyc_http_requests_total', labels) - valueOf(before, 'kyc_http_requests_total', labels);
    expect(moved({ method: 'GET', route: '/console/users/imports/:id', status: '404' })).toBe(2);
    expect(moved({ method: 'GET', route: '/console/users/imports/:id', status: '401' })).toBe(1);
    expect(moved({ method: 'GET', route: '/v3/users/:vendorData/', status: '401' })).toBe(1);
    expect(moved({ method: 'GET', route: '/v3/users/imports/:id', status: '401' })).toBe(1);
    expect(moved({ method: 'GET', route: 'unmatched', status: '404' })).toBe(1);
    expectNoPersonalLabels(after);
  });

  it('a chunk that fails all its attempts is counted once, and the import as finished COMPLETED_WITH_ERRORS', async () => {
    const before = (await workerMetrics()).families;
    // 8 rows, chunks of 4: the second chunk's row marks it to fail all 4 attempts (test/helpers/fault-injection.ts).
    const file = csvOf(['vendor_data', 'display_name'], Array.from({ length: 8 }, (_, i) => [i === 5 ? 'test-fault:fail-4' : `cf-${i}`, `n ${i}`]));
    const preview = await uploadAndValidate(stack, t.token, file);
    expect((await api(stack, 'POST', `/console/users/imports/${preview.id}/confirm`, { token: t.token })).status).toBe(202);
    const done = await waitForStatus(stack, t.token, preview.id, ['COMPLETED_WITH_ERRORS'], 60_000);
    expect(done).toMatchObject({ created_count: 4, failed_rows: 4, chunks: { total: 2, completed: 1, failed: 1 } });
    const finished = { kind: 'import', status: 'COMPLETED_WITH_ERRORS' };
    const after = await waitFor(async () => {
      const { families } = await workerMetrics();
      return valueOf(families, 'kyc_jobs_finished_total', finished) > valueOf(before, 'kyc_jobs_finished_total', finished) ? families : undefined;
    });
    const moved = (name: string, labels: Record<string, string> = {}) => valueOf(after, name, labels) - valueOf(before, name, labels);
    expect(moved('kyc_chunk_failures_total', { kind: 'import' })).toBe(1);
    expect(moved('kyc_jobs_finished_total', finished)).toBe(1);
    expect(moved('kyc_rows_written_total', { action: 'created' })).toBe(4);
    expect(moved('kyc_rows_written_total')).toBe(4);
  });

  it('after an export the export job and its rows are counted once', async () => {
    const other = await createTenant(stack.database.db);
    await seedManyUsers(stack.database.db, other.applicationId, 25);
    const before = (await workerMetrics()).families;
    const done = await runExport(stack, other.operators.OWNER.token, {});
    expect(done.status).toBe('COMPLETED');
    const finished = { kind: 'export', status: 'COMPLETED' };
    const after = await waitFor(async () => {
      const { families } = await workerMetrics();
      return valueOf(families, 'kyc_jobs_finished_total', finished) > valueOf(before, 'kyc_jobs_finished_total', finished) ? families : undefined;
    });
    const moved = (name: string, labels: Record<string, string> = {}) => valueOf(after, name, labels) - valueOf(before, name, labels);
    expect(moved('kyc_jobs_started_total', { kind: 'export' })).toBe(1);
    expect(moved('kyc_jobs_finished_total', finished)).toBe(1);
    expect(moved('kyc_rows_written_total', { action: 'exported' })).toBe(done.row_count);
    expect(done.row_count).toBe(25);
    expect(moved('kyc_export_range_failures_total')).toBe(0);
    expectNoPersonalLabels(after);
  });

  it('the API reads the jobs from the database: kyc_jobs by kind and status, kyc_import_idle_seconds for an import without progress', async () => {
    const done = await importFile(stack, t.token, usersCsv('idle', 2));
    const waiting = await uploadAndValidate(stack, t.token, usersCsv('waiting', 2));
    expect(waiting.status).toBe('AWAITING_CONFIRMATION');
    const db = stack.database.db;
    // The run's database is shared with the test files running beside this one, whose jobs move meanwhile: each check
    // compares a scrape with the database read just after it, until the two agree.
    const statesNow = async () => {
      const counts = (
        await db.execute<{ kind: string; status: string; n: number }>(sql`
          SELECT 'import' AS kind, status, count(*)::int AS n FROM imports GROUP BY status
          UNION ALL SELECT 'export', status, count(*)::int FROM exports GROUP BY status`)
      ).rows;
      const [idle] = (
        await db.execute<{ seconds: number | null }>(
          sql`SELECT EXTRACT(EPOCH FROM now() - min(progress_at))::float8 AS seconds FROM imports WHERE status = 'RUNNING'`,
        )
      ).rows;
      return { count: (kind: string, status: string) => counts.find((c) => c.kind === kind && c.status === status)?.n ?? 0, idleRunning: idle.seconds ?? 0 };
    };
    const IMPORT_STATUSES = ['VALIDATING', 'AWAITING_CONFIRMATION', 'RUNNING', 'COMPLETED', 'COMPLETED_WITH_ERRORS', 'UNDONE'];
    const EXPORT_STATUSES = ['QUEUED', 'RUNNING', 'COMPLETED', 'FAILED'];
    const agreeing = () =>
      waitFor(async () => {
        const { families } = await apiMetrics();
        const db = await statesNow();
        const agree =
          IMPORT_STATUSES.every((status) => valueOf(families, 'kyc_jobs', { kind: 'import', status }) === db.count('import', status)) &&
          EXPORT_STATUSES.every((status) => valueOf(families, 'kyc_jobs', { kind: 'export', status }) === db.count('export', status)) &&
          Math.abs(valueOf(families, 'kyc_import_idle_seconds', { status: 'RUNNING' }) - db.idleRunning) < 5;
        return agree ? { families, db } : undefined;
      }, 20_000);

    const { families, db: before } = await agreeing();
    expect(families.get('kyc_jobs')?.type).toBe('GAUGE');
    expect(valueOf(families, 'kyc_job_states_up')).toBe(1);
    // Every status is a series, 0 when no job is in it.
    for (const status of IMPORT_STATUSES) {
      expect(families.get('kyc_jobs')?.metrics.some((m) => m.labels?.kind === 'import' && m.labels?.status === status)).toBe(true);
    }
    expect(before.count('import', 'COMPLETED')).toBeGreaterThanOrEqual(1);
    expect(before.count('import', 'AWAITING_CONFIRMATION')).toBeGreaterThanOrEqual(1);

    // An import RUNNING whose last progress was two hours ago (the trigger moves progress_at with the status, so
    // the clock is turned back in a second statement); then put back as it was.
    await db.execute(sql`UPDATE imports SET status = 'RUNNING' WHERE id = ${done.id}`);
    await db.execute(sql`UPDATE imports SET progress_at = now() - interval '2 hours' WHERE id = ${done.id}`);
    try {
      const { families: stuck } = await agreeing();
      const idle = valueOf(stuck, 'kyc_import_idle_seconds', { status: 'RUNNING' });
      expect(idle).toBeGreaterThanOrEqual(7200);
      expect(idle).toBeLessThan(7200 + 600);
      expect(valueOf(stuck, 'kyc_jobs', { kind: 'import', status: 'RUNNING' })).toBeGreaterThanOrEqual(1);
      expectNoPersonalLabels(stuck);
    } finally {
      await db.execute(sql`UPDATE imports SET status = 'COMPLETED' WHERE id = ${done.id}`);
    }
  });
});
