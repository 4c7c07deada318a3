import { NativeConnection } from '@temporalio/worker';
import { getConfig } from '../../src/config';
import { createDatabase } from '../../src/db/client';
import { createLogger } from '../../src/logger';
import { createStorage } from '../../src/storage';
import { temporalAddress } from '../../src/temporal/client';
import { installTemporalRuntime } from '../../src/temporal/runtime';
import { createWorker } from '../../src/worker';
import { createSystemActivities } from '../workflows/system-activities';
import { faultInjection } from './fault-injection';

/**
 * A worker for the fault and crash tests, in a process of its own so that it can be SIGKILLed:
 * `node --require tsx/cjs test/helpers/worker-child.ts`, configured by the environment exactly as src/worker.ts is
 * (DATABASE_URL, TEMPORAL_ADDRESS, TEMPORAL_TASK_QUEUE, WORKFLOW_BUNDLE_PATH, ...), plus the test faults of
 * ./fault-injection.ts (TEST_EXPORT_CHUNK_DELAY_MS) and the test bundle's system-check activity. A test that needs
 * no fault spawns src/worker.ts itself (test/exports-crash.test.ts). Its Temporal identity is Node's default, `<pid>@<host>`. Prints
 * `ready` once it polls; stops on SIGTERM.
 */
async function main(): Promise<void> {
  const config = getConfig();
  if (!config.database.url) throw new Error('DATABASE_URL is not set');
  installTemporalRuntime(createLogger(config, 'temporal'));
  const database = createDatabase(config.database.url, { poolSize: 10, applicationName: 'kyc-test-child-worker' });
  const connection = await NativeConnection.connect({ address: temporalAddress(config) });
  const worker = await createWorker({
    config,
    connection,
    db: database.db,
    ...faultInjection(database.db, createStorage(config), process.env),
    extraActivities: createSystemActivities(database.db),
  });
  process.once('SIGTERM', () => worker.shutdown());
  const running = worker.run();
  process.stdout.write('ready\n');
  await running;
  await connection.close();
  await database.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`worker-child failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
