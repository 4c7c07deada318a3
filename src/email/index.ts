import type { Config } from '../config';
import type { Db } from '../db/client';
import type { Logger } from '../logger';
import type { Mailer } from './mailer';
import { OutboxMailer } from './outbox';

/** The mailer the configuration names: Resend when RESEND_API_KEY is set, else the outbox table. */
export function createMailer(config: Config, db: Db, logger?: Logger): Mailer {
  if (config.email.resendApiKey) throw new Error('Resend is not implemented yet');
  return new OutboxMailer(db, logger);
}
export type { Mailer };
