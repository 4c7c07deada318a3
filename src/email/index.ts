import type { Config } from '../config';
import type { Db } from '../db/client';
import type { Logger } from '../logger';
import type { Mailer } from './mailer';
import { OutboxMailer } from './outbox';

/**
 * The mailer the configuration names: Resend when RESEND_API_KEY is set, else the outbox table. The resend package
 * is loaded only when it is used.
 */
export function createMailer(config: Config, db: Db, logger?: Logger): Mailer {
  if (config.email.resendApiKey) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { ResendMailer } = require('./resend') as typeof import('./resend');
    return new ResendMailer(
      db,
      { apiKey: config.email.resendApiKey, from: config.email.from, baseUrl: config.email.resendBaseUrl },
      logger,
    );
  }
  return new OutboxMailer(db, logger);
}
export type { Mailer };
