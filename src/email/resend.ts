import { eq } from 'drizzle-orm';
import { Resend } from 'resend';
import { emailOutbox } from '../../drizzle/schema';
import type { Db } from '../db/client';
import type { Logger } from '../logger';
import { MailerError, type Mailer, type SendResult } from './mailer';

const RESEND_DEFAULT_BASE_URL = 'https://api.resend.com';

/**
 * Sends through Resend (the `resend` package). Each message is first recorded in the outbox table under its
 * idempotency key; a send that already succeeded is not repeated, and one that is retried carries the same
 * `Idempotency-Key`, so Resend delivers it once even if the first answer was lost.
 */
export class ResendMailer implements Mailer {
  readonly transport = 'resend' as const;
  private readonly client: Resend;

  constructor(
    private readonly db: Db,
    options: { apiKey: string; from: string; baseUrl?: string },
    private readonly logger?: Logger,
  ) {
    this.from = options.from;
    // The base URL is always given: the package would otherwise read RESEND_BASE_URL from the environment itself.
    this.client = new Resend(options.apiKey, { baseUrl: options.baseUrl ?? RESEND_DEFAULT_BASE_URL });
  }

  private readonly from: string;

  async send(message: Parameters<Mailer['send']>[0]): Promise<SendResult> {
    await this.db
      .insert(emailOutbox)
      .values({
        applicationId: message.applicationId,
        idempotencyKey: message.idempotencyKey,
        toAddress: message.to,
        subject: message.subject,
        body: message.text,
        transport: 'resend',
        sent: false,
      })
      .onConflictDoNothing({ target: emailOutbox.idempotencyKey });
    const [row] = await this.db
      .select({ id: emailOutbox.id, sent: emailOutbox.sent, sentAt: emailOutbox.sentAt, providerId: emailOutbox.providerId })
      .from(emailOutbox)
      .where(eq(emailOutbox.idempotencyKey, message.idempotencyKey));
    if (row.sent && row.sentAt) return { id: row.providerId ?? row.id, status: 'SENT', sentAt: row.sentAt };

    const { data, error } = await this.client.emails.send(
      { from: this.from, to: [message.to], subject: message.subject, text: message.text },
      { idempotencyKey: message.idempotencyKey },
    );
    if (error || !data) {
      const status = error?.statusCode ?? null;
      const retryable = status === null || status >= 500 || status === 429 || status === 409;
      throw new MailerError(`Resend refused the email (${status ?? 'no answer'} ${error?.name ?? ''}): ${error?.message ?? 'no data'}`, retryable);
    }
    const sentAt = new Date();
    await this.db
      .update(emailOutbox)
      .set({ sent: true, sentAt, providerId: data.id })
      .where(eq(emailOutbox.idempotencyKey, message.idempotencyKey));
    this.logger?.info({ emailId: row.id, providerId: data.id, subject: message.subject }, 'email sent through Resend');
    return { id: data.id, status: 'SENT', sentAt };
  }
}
