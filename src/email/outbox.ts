import { eq } from 'drizzle-orm';
import { emailOutbox } from '../../drizzle/schema';
import type { Db } from '../db/client';
import type { Logger } from '../logger';
import type { Mailer, SendResult } from './mailer';

/**
 * The mailer when no mail service is configured: records each email in the outbox table (once per idempotency key),
 * unsent, and logs that it did so. The log names the email, never its body: the body holds a signed download link,
 * which works without a token, and logs are read by more people than the recipient.
 */
export class OutboxMailer implements Mailer {
  readonly transport = 'outbox' as const;

  constructor(
    private readonly db: Db,
    private readonly logger?: Logger,
  ) {}

  async send(message: Parameters<Mailer['send']>[0]): Promise<SendResult> {
    await this.db
      .insert(emailOutbox)
      .values({
        applicationId: message.applicationId,
        idempotencyKey: message.idempotencyKey,
        toAddress: message.to,
        subject: message.subject,
        body: message.text,
        transport: 'outbox',
        sent: false,
      })
      .onConflictDoNothing({ target: emailOutbox.idempotencyKey });
    const [row] = await this.db
      .select({ id: emailOutbox.id })
      .from(emailOutbox)
      .where(eq(emailOutbox.idempotencyKey, message.idempotencyKey));
    this.logger?.info(
      { emailId: row.id, subject: message.subject },
      'email stored in the outbox, not sent (no mail service is configured; read it in the email_outbox table)',
    );
    return { id: row.id, status: 'OUTBOX', sentAt: null };
  }
}
