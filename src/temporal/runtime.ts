import { Runtime, type LogLevel, type LogMetadata } from '@temporalio/worker';
import type { Logger } from '../logger';

const PINO_LEVEL: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/** Where the installed runtime's Prometheus exporter serves the SDK's metrics (undefined: it has none). */
let sdkMetricsUrl: string | undefined;

/**
 * Routes the Temporal SDK's logs (worker, workflows, activities) into our JSON logger and, given `metricsPort`,
 * turns on the SDK's Prometheus exporter on 127.0.0.1:<port> (the worker's /metrics reads and merges it; see
 * src/metrics/server.ts). Call once, before the first worker connection; a second call in the same process keeps the
 * runtime that is installed. Returns the URL of the SDK's metrics, or undefined when the runtime has no exporter.
 */
export function installTemporalRuntime(logger: Logger, options: { metricsPort?: number } = {}): string | undefined {
  const log = (level: LogLevel, message: string, meta?: LogMetadata) => logger[PINO_LEVEL[level]](meta ?? {}, message);
  const bindAddress = options.metricsPort ? `127.0.0.1:${options.metricsPort}` : undefined;
  const install = (withMetrics: boolean) =>
    Runtime.install({
      logger: {
        log,
        trace: (message, meta) => log('TRACE', message, meta),
        debug: (message, meta) => log('DEBUG', message, meta),
        info: (message, meta) => log('INFO', message, meta),
        warn: (message, meta) => log('WARN', message, meta),
        error: (message, meta) => log('ERROR', message, meta),
      },
      // The worker handles SIGINT/SIGTERM itself (src/worker.ts); the launcher or the test decides when to stop.
      shutdownSignals: [],
      ...(withMetrics && bindAddress
        ? {
            telemetryOptions: {
              metrics: {
                // Counters end in _total and durations are in seconds, as Prometheus names them.
                prometheus: { bindAddress, countersTotalSuffix: true, useSecondsForDurations: true, unitSuffix: true },
              },
            },
          }
        : {}),
    });
  try {
    install(true);
    if (bindAddress) sdkMetricsUrl = `http://${bindAddress}/metrics`;
  } catch (err) {
    if (!/already been (installed|instantiated)/.test(String(err))) {
      // The exporter could not bind (the port was taken meanwhile): the worker runs without the SDK's metrics.
      logger.warn({ err }, "the Temporal SDK's metrics exporter could not start; /metrics has the service's metrics only");
      try {
        install(false);
      } catch {
        // Installed meanwhile.
      }
    }
    // Else already installed in this process (several test files share a jest worker process): keep it.
  }
  return sdkMetricsUrl;
}
