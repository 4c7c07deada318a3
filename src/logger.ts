import pino, { type Logger } from 'pino';
import type { Config } from './config';

/** JSON logs on stdout, one logger per process. */
export function createLogger(config: Pick<Config, 'logLevel'>, name: string): Logger {
  return pino({ name, level: config.logLevel, base: { service: 'kyc-user-bulk', process: name } });
}
export type { Logger };
