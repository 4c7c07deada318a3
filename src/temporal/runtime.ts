import { Runtime, type LogLevel, type LogMetadata } from '@temporalio/worker';
import type { Logger } from '../logger';

const PINO_LEVEL: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/**
 * Routes the Temporal SDK's logs (worker, workflows, activities) into our JSON logger. Call once, before the
 * first worker connection; a second call in the same process keeps the runtime that is installed.
 */
export function installTemporalRuntime(logger: Logger): void {
  const log = (level: LogLevel, message: string, meta?: LogMetadata) => logger[PINO_LEVEL[level]](meta ?? {}, message);
  try {
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
    });
  } catch {
    // Already installed in this process (several test files share a jest worker process).
  }
}
