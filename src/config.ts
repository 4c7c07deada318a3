import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { BUILT_WORKFLOW_BUNDLE, PROJECT_ROOT, RUNS_COMPILED } from './paths';

/**
 * The service's whole configuration, parsed once from the environment. Nothing else reads `process.env`:
 * every part receives the Config it needs. The README's configuration table lists the same variables.
 */

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));
const flag = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', ''])
    .optional()
    .transform((v) => (v === undefined || v === '' ? fallback : v === 'true' || v === '1'));

/** A duration such as `24h`, `30m`, `45s`, `500ms` or a bare number of seconds; returned in milliseconds. */
function parseDurationMs(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!match) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(match[2] ?? 's') as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Math.round(Number(match[1]) * unit);
}

const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const ms = parseDurationMs(text);
      if (ms === undefined || ms <= 0) {
        ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration (use e.g. 24h, 30m, 90s)` });
        return z.NEVER;
      }
      return ms;
    });

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATA_DIR: z.string().default('.data'),

  DATABASE_URL: optionalText,
  DATABASE_POOL_SIZE: positiveInt(10),
  EMBEDDED_POSTGRES_PORT: positiveInt(5433),

  TEMPORAL_ADDRESS: optionalText,
  TEMPORAL_NAMESPACE: z.string().default('default'),
  TEMPORAL_TASK_QUEUE: z.string().default('kyc-users'),
  TEMPORAL_CLI_PATH: optionalText,
  TEMPORAL_UI_PORT: positiveInt(8233),
  TEMPORAL_DEV_PORT: positiveInt(7233),
  TEMPORAL_UI_URL: optionalText,

  PORT: positiveInt(3000),
  /** The interface the API listens on: loopback unless told otherwise (the Docker image sets 0.0.0.0). */
  HOST: z.string().trim().min(1).default('127.0.0.1'),
  PUBLIC_BASE_URL: optionalText.pipe(z.url({ protocol: /^https?$/ }).optional()),
  CONSOLE_DIR: optionalText,

  IMPORT_MAX_ROWS: positiveInt(1_000_000),
  IMPORT_MAX_BYTES: positiveInt(64 * 1024 * 1024),
  IMPORT_CONFIRM_TIMEOUT: duration('24h'),
  IMPORT_CHUNK_ROWS: positiveInt(5000),
  IMPORT_CHUNK_CONCURRENCY: positiveInt(4),
  IMPORT_FILE_RETENTION_DAYS: positiveInt(30),
  /** Imports of one application validating or running at once (API.md, "Public bulk API"). */
  IMPORT_ACTIVE_PER_APPLICATION: positiveInt(5),
  /** How long after it finished an import can be undone; its before-images are deleted after this. 0: undo is off, and
   *  imports started meanwhile record no before-images (they can never be undone). */
  IMPORT_UNDO_DAYS: z.coerce.number().int().min(0).default(30),

  EXPORT_LINK_TTL_SECONDS: z.coerce.number().int().min(1).max(604_800).default(86_400),
  EXPORT_REDIRECT_TTL_SECONDS: z.coerce.number().int().min(1).max(3600).default(60),
  EXPORT_RETENTION_DAYS: positiveInt(7),
  EXPORT_PART_ROWS: positiveInt(500_000),
  EXPORT_CONCURRENCY: positiveInt(2),
  EXPORT_CHECKPOINT_BYTES: positiveInt(5 * 1024 * 1024),
  EXPORT_HEARTBEAT_TIMEOUT: duration('30s'),
  RETENTION_INTERVAL: duration('1h'),
  RECONCILE_INTERVAL: duration('1m'),
  RECONCILE_AFTER: duration('2m'),
  WORKFLOW_BUNDLE_PATH: optionalText,

  LINK_SIGNING_SECRET: optionalText,
  S3_BUCKET: optionalText,
  S3_ENDPOINT: optionalText,
  S3_REGION: z.string().default('us-east-1'),
  S3_ACCESS_KEY_ID: optionalText,
  S3_SECRET_ACCESS_KEY: optionalText,
  S3_FORCE_PATH_STYLE: flag(true),

  RESEND_API_KEY: optionalText,
  RESEND_BASE_URL: optionalText,
  EMAIL_FROM: z.string().default('KYC exports <exports@example.com>'),

  /** Webhook URLs that are not https, or resolve to loopback/private addresses, are refused unless this is true. */
  WEBHOOK_ALLOW_PRIVATE: flag(false),
  WEBHOOK_RETRY_INITIAL_INTERVAL: duration('5s'),
  WEBHOOK_RETRY_MAX_INTERVAL: duration('1h'),
  /** How long a delivery is retried before it is given up. */
  WEBHOOK_DELIVERY_WINDOW: duration('24h'),
  /** Events (and their delivery log) are deleted this many days after they were emitted, never before the delivery window has passed. */
  WEBHOOK_RETENTION_DAYS: positiveInt(30),
  /** At most 50 s: the delivery activity's startToCloseTimeout is 1 minute. */
  WEBHOOK_REQUEST_TIMEOUT: duration('10s').refine((ms) => ms <= 50_000, 'at most 50s'),
  /** The worker's Prometheus `/metrics` listener (on HOST); 0 turns it off. */
  WORKER_METRICS_PORT: z.coerce.number().int().min(0).max(65_535).default(9464),

});

export type Config = ReturnType<typeof toConfig>;

function toConfig(env: z.infer<typeof envSchema>) {
  const dataDir = path.resolve(env.DATA_DIR);
  return {
    env: env.NODE_ENV,
    logLevel: env.LOG_LEVEL,
    dataDir,
    database: { url: env.DATABASE_URL, poolSize: env.DATABASE_POOL_SIZE, embeddedPort: env.EMBEDDED_POSTGRES_PORT },
    temporal: {
      address: env.TEMPORAL_ADDRESS,
      namespace: env.TEMPORAL_NAMESPACE,
      taskQueue: env.TEMPORAL_TASK_QUEUE,
      cliPath: env.TEMPORAL_CLI_PATH,
      uiPort: env.TEMPORAL_UI_PORT,
      devServerPort: env.TEMPORAL_DEV_PORT,
      /** A prebuilt workflow bundle for the worker (tests, benchmark); by default the worker bundles workflows/. */
      workflowBundlePath: env.WORKFLOW_BUNDLE_PATH ?? (RUNS_COMPILED && fs.existsSync(BUILT_WORKFLOW_BUNDLE) ? BUILT_WORKFLOW_BUNDLE : undefined),
    },
    api: {
      port: env.PORT,
      host: env.HOST,
      /** The base of every link the service hands out or emails; never taken from a request's Host header. */
      publicBaseUrl: (env.PUBLIC_BASE_URL ?? `http://localhost:${env.PORT}`).replace(/\/+$/, ''),
    },
    console: {
      /** The built console (web/ built by `npm run build:web`). */
      dir: env.CONSOLE_DIR ? path.resolve(env.CONSOLE_DIR) : path.join(PROJECT_ROOT, 'web/dist'),
      /** Where the console links each job's workflow: the dev server's UI unless told otherwise. */
      temporalUiUrl: (env.TEMPORAL_UI_URL ?? `http://localhost:${env.TEMPORAL_UI_PORT}`).replace(/\/+$/, ''),
    },
    imports: {
      maxRows: env.IMPORT_MAX_ROWS,
      maxBytes: env.IMPORT_MAX_BYTES,
      confirmTimeoutMs: env.IMPORT_CONFIRM_TIMEOUT,
      chunkRows: env.IMPORT_CHUNK_ROWS,
      chunkConcurrency: env.IMPORT_CHUNK_CONCURRENCY,
      fileRetentionDays: env.IMPORT_FILE_RETENTION_DAYS,
      activePerApplication: env.IMPORT_ACTIVE_PER_APPLICATION,
      undoDays: env.IMPORT_UNDO_DAYS,
    },
    exports: {
      linkTtlSeconds: env.EXPORT_LINK_TTL_SECONDS,
      /** Lifetime of the presigned S3 URL a download link is redirected to. */
      redirectTtlSeconds: env.EXPORT_REDIRECT_TTL_SECONDS,
      retentionDays: env.EXPORT_RETENTION_DAYS,
      partRows: env.EXPORT_PART_ROWS,
      concurrency: env.EXPORT_CONCURRENCY,
      /** Bytes written between two resumable checkpoints of a range (also the S3 part size, at least 5 MiB there). */
      checkpointBytes: env.EXPORT_CHECKPOINT_BYTES,
      heartbeatTimeoutMs: env.EXPORT_HEARTBEAT_TIMEOUT,
    },
    retention: { intervalMs: env.RETENTION_INTERVAL },
    /** The worker's `/metrics` listener: on `api.host`, off when the port is 0. */
    worker: { metricsPort: env.WORKER_METRICS_PORT },
    /** The reconciler: how often it runs, and how old an unfinished import or upload must be before it acts on it. */
    reconcile: { intervalMs: env.RECONCILE_INTERVAL, afterMs: env.RECONCILE_AFTER },
    storage: {
      localDir: path.join(dataDir, 'files'),
      linkSigningSecret: env.LINK_SIGNING_SECRET,
      s3: env.S3_BUCKET
        ? {
            bucket: env.S3_BUCKET,
            endpoint: env.S3_ENDPOINT,
            region: env.S3_REGION,
            accessKeyId: env.S3_ACCESS_KEY_ID,
            secretAccessKey: env.S3_SECRET_ACCESS_KEY,
            forcePathStyle: env.S3_FORCE_PATH_STYLE,
          }
        : undefined,
    },
    webhooks: {
      allowPrivate: env.WEBHOOK_ALLOW_PRIVATE,
      retryInitialIntervalMs: env.WEBHOOK_RETRY_INITIAL_INTERVAL,
      retryMaxIntervalMs: env.WEBHOOK_RETRY_MAX_INTERVAL,
      deliveryWindowMs: env.WEBHOOK_DELIVERY_WINDOW,
      requestTimeoutMs: env.WEBHOOK_REQUEST_TIMEOUT,
      retentionDays: env.WEBHOOK_RETENTION_DAYS,
    },
    email: { resendApiKey: env.RESEND_API_KEY, resendBaseUrl: env.RESEND_BASE_URL, from: env.EMAIL_FROM },
  } as const;
}

export class ConfigError extends Error {}

/** Parses an environment (by default this process's) into a Config; throws a readable ConfigError. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const config = toConfig(parsed.data);
  if (config.env === 'production' && !config.storage.linkSigningSecret && !config.storage.s3) {
    throw new ConfigError('Invalid configuration:\n  LINK_SIGNING_SECRET: required in production when files are stored locally');
  }
  return config;
}

let cached: Config | undefined;

/** The process's configuration, parsed on first use. */
export function getConfig(): Config {
  cached ??= loadConfig();
  return cached;
}

/**
 * What `npm start` (dev/launcher.ts) leaves in its data directory once Postgres and Temporal are up, so that the
 * CLI reaches the same ones with nothing set: `<DATA_DIR>/cli.json`, mode 0600 (the database URL carries the embedded
 * Postgres's password, from `<DATA_DIR>/postgres-password`). Removed when the launcher stops.
 */
export interface LauncherEndpoints {
  database_url: string;
  temporal_address: string;
  temporal_namespace: string;
  task_queue: string;
  temporal_ui_url?: string;
  launcher_pid?: number;
  written_at?: string;
}

export const LAUNCHER_ENDPOINTS_FILE = 'cli.json';

export function launcherEndpointsPath(dataDir: string): string {
  return path.join(dataDir, LAUNCHER_ENDPOINTS_FILE);
}

const launcherEndpointsSchema = z.object({
  database_url: z.string().min(1),
  temporal_address: z.string().min(1),
  temporal_namespace: z.string().min(1),
  task_queue: z.string().min(1),
});

/**
 * The CLI's configuration: the environment's, and where DATABASE_URL or TEMPORAL_ADDRESS is unset, the launcher's
 * `<DATA_DIR>/cli.json` (its namespace and task queue too, unless TEMPORAL_NAMESPACE / TEMPORAL_TASK_QUEUE are set).
 * Throws a ConfigError naming both ways when the database is found neither way.
 */
export function loadCliConfig(env: NodeJS.ProcessEnv = process.env): Config & { discoveredFrom?: string } {
  const config = loadConfig(env);
  if (config.database.url && config.temporal.address) return config;
  const file = launcherEndpointsPath(config.dataDir);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ConfigError(`cannot read ${file}: ${(err as Error).message}`);
    if (config.database.url) return config; // Temporal: TEMPORAL_ADDRESS's default, localhost:7233
    throw new ConfigError(
      `DATABASE_URL is not set and ${file} does not exist. Either start the service with \`npm start\` (its launcher writes ` +
        `that file once Postgres and Temporal are up; set DATA_DIR if it uses another data directory), or set DATABASE_URL ` +
        `and TEMPORAL_ADDRESS (and TEMPORAL_NAMESPACE, TEMPORAL_TASK_QUEUE if not the defaults).`,
    );
  }
  let found: z.infer<typeof launcherEndpointsSchema>;
  try {
    found = launcherEndpointsSchema.parse(JSON.parse(text));
  } catch (err) {
    throw new ConfigError(`${file} is not what the launcher writes (${(err as Error).message}); delete it and run \`npm start\` again`);
  }
  const unset = (name: string) => env[name] === undefined || env[name]!.trim() === '';
  // The launcher's Temporal comes with its namespace and task queue (unless those are set).
  const launcherTemporal = !config.temporal.address;
  return {
    ...config,
    database: { ...config.database, url: config.database.url ?? found.database_url },
    temporal: {
      ...config.temporal,
      address: config.temporal.address ?? found.temporal_address,
      namespace: launcherTemporal && unset('TEMPORAL_NAMESPACE') ? found.temporal_namespace : config.temporal.namespace,
      taskQueue: launcherTemporal && unset('TEMPORAL_TASK_QUEUE') ? found.task_queue : config.temporal.taskQueue,
    },
    discoveredFrom: file,
  };
}

/** The variables a child process needs to share this configuration (used by the launcher). */
export function processEnv(): NodeJS.ProcessEnv {
  return { ...process.env };
}
