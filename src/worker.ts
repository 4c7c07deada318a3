import { Client } from '@temporalio/client';
import { NativeConnection, Worker, type ActivityInterceptorsFactory, type WorkflowBundleOption } from '@temporalio/worker';
import { createActivities, type ActivityHooks } from '../activities';
import { getConfig, type Config } from './config';
import { createDatabase, type Db } from './db/client';
import { createMailer } from './email';
import { createLogger } from './logger';
import { createStorage, type Storage } from './storage';
import { ensureReconcileSchedule, ensureRetentionSchedule } from './temporal/schedules';
import { connectTemporalClient, temporalAddress } from './temporal/client';
import { installTemporalRuntime } from './temporal/runtime';
import { createJobMetrics, type JobMetrics } from './metrics/jobs';
import { createMetricsRegistry } from './metrics/registry';
import { freeLoopbackPort, startMetricsServer, type MetricsServer } from './metrics/server';

export interface WorkerOptions {
  config: Config;
  connection: NativeConnection;
  db: Db;
  taskQueue?: string;
  /** A prebuilt bundle (tests bundle once); by default the worker bundles workflows/ itself. */
  workflowBundle?: WorkflowBundleOption;
  /** The activities' storage; by default the one the config names. */
  storage?: Storage;
  /** Seams inside the activities (see ActivityHooks); production passes none. */
  activityHooks?: ActivityHooks;
  /** Activity interceptors, run around every activity call (test workers inject failures and delays with them). */
  activityInterceptors?: ActivityInterceptorsFactory[];
  /** Activities registered beside the service's (the test workers add the test-only system check's); production passes none. */
  extraActivities?: Record<string, (...args: never[]) => Promise<unknown>>;
  /** The job metrics the activities count into (see createWorkerMetrics); without them the activities count nothing. */
  metrics?: JobMetrics;
}

/** The worker's metrics registry (default process metrics and the job metrics), served by startMetricsServer. */
export function createWorkerMetrics() {
  const registry = createMetricsRegistry();
  return { registry, jobs: createJobMetrics(registry) };
}

/** A worker for the job workflows and their activities. */
export async function createWorker(options: WorkerOptions): Promise<Worker> {
  const { config, connection, db } = options;
  const activities = createActivities({
    db,
    config,
    temporal: new Client({ connection, namespace: config.temporal.namespace }),
    storage: options.storage ?? createStorage(config),
    mailer: createMailer(config, db, createLogger(config, 'mailer')),
    hooks: options.activityHooks,
    metrics: options.metrics,
  });
  return Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: options.taskQueue ?? config.temporal.taskQueue,
    activities: { ...activities, ...options.extraActivities },
    interceptors: { activity: options.activityInterceptors ?? [] },
    ...(options.workflowBundle
      ? { workflowBundle: options.workflowBundle }
      : config.temporal.workflowBundlePath
        ? { workflowBundle: { codePath: config.temporal.workflowBundlePath } }
        : { workflowsPath: require.resolve('../workflows') }),
    maxConcurrentActivityTaskExecutions: 8,
    shutdownGraceTime: '20 seconds',
  });
}

async function run(): Promise<void> {
  const config = getConfig();
  const logger = createLogger(config, 'worker');
  if (!config.database.url) throw new Error('DATABASE_URL is not set (npm start sets it; see the README)');
  // The SDK's Prometheus exporter listens on a loopback port of its own; /metrics (WORKER_METRICS_PORT) merges it.
  const metricsPort = config.worker.metricsPort;
  const sdkMetricsUrl = installTemporalRuntime(logger, metricsPort ? { metricsPort: await freeLoopbackPort() } : {});
  const metrics = createWorkerMetrics();
  let metricsServer: MetricsServer | undefined;
  if (metricsPort) {
    // A port taken is logged, not fatal: the worker's jobs matter more than its metrics.
    metricsServer = await startMetricsServer({ registry: metrics.registry, host: config.api.host, port: metricsPort, sdkMetricsUrl, logger }).catch(
      (err: unknown) => {
        logger.error({ err, port: metricsPort }, 'the worker metrics listener could not start; set WORKER_METRICS_PORT to a free port (0: off)');
        return undefined;
      },
    );
    if (metricsServer) logger.info({ url: metricsServer.url }, 'worker metrics listening');
  }
  const database = createDatabase(config.database.url, { poolSize: config.database.poolSize, applicationName: 'kyc-worker' });
  const connection = await NativeConnection.connect({ address: temporalAddress(config) });
  const worker = await createWorker({ config, connection, db: database.db, metrics: metrics.jobs });
  logger.info({ taskQueue: config.temporal.taskQueue, address: temporalAddress(config) }, 'worker started');
  const temporal = await connectTemporalClient(config);
  for (const [name, ensure] of [
    ['retention', ensureRetentionSchedule],
    ['reconcile', ensureReconcileSchedule],
  ] as const) {
    await ensure(temporal.client, config).then(
      (scheduleId) => logger.info({ scheduleId }, `${name} schedule in place`),
      (err: unknown) => logger.error({ err }, `could not create the ${name} schedule; it will not run`),
    );
  }
  await temporal.close();
  // On SIGINT/SIGTERM the worker stops polling and finishes running tasks within shutdownGraceTime.
  const stop = () => worker.shutdown();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  await worker.run();
  await metricsServer?.close();
  await connection.close();
  await database.close();
  logger.info('worker stopped');
}

if (require.main === module) {
  run().catch((err: unknown) => {
    process.stderr.write(`worker failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
