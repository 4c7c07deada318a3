import { eq } from 'drizzle-orm';
import { emailOutbox } from '../../drizzle/schema';
import type { Db } from '../db/client';
import type { Logger } from '../logger';
import type { Mailer } from './mailer';

/** The default mailer: records each email in the outbox table (once per idempotency key) and logs it. */
export class OutboxMailer implements Mailer {
  readonly transport = 'outbox' as const;

  constructor(
    private readonly db: Db,
    private readonly logger?: Logger,
  ) {}

  async send(message: Parameters<Mailer['send']>[0]) {
    const sentAt = new Date();
    await this.db
      .insert(emailOutbox)
      .values({
        applicationId: message.applicationId,
        idempotencyKey: message.idempotencyKey,
        toAddress: message.to,
        subject: message.subject,
        body: message.text,
        transport: 'outbox',
        sent: true,
        sentAt,
      })
      .onConflictDoNothing({ target: emailOutbox.idempotencyKey });
    const [row] = await this.db
      .select({ id: emailOutbox.id, sentAt: emailOutbox.sentAt })
      .from(emailOutbox)
      .where(eq(emailOutbox.idempotencyKey, message.idempotencyKey));
    this.logger?.info({ emailId: row.id, subject: message.subject }, `email recorded in the outbox:\n${message.text}`);
    return { id: row.id, sentAt: row.sentAt ?? sentAt };
  }
}
