/** Sends an email once per idempotency key: a retried send does not send twice. */
export interface Mailer {
  readonly transport: 'outbox' | 'resend';
  send(message: {
    applicationId: string;
    idempotencyKey: string;
    to: string;
    subject: string;
    text: string;
  }): Promise<SendResult>;
}

/**
 * `SENT`: a mail service accepted it, at `sentAt`. `OUTBOX`: no mail service is configured; the message is only stored
 * in the outbox table for the operator to read (nothing was sent, so there is no `sentAt`).
 */
export type SendResult = { id: string; status: 'SENT'; sentAt: Date } | { id: string; status: 'OUTBOX'; sentAt: null };

/** A send that failed; `retryable` is false when sending again cannot help (the provider refused the message). */
export class MailerError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'MailerError';
  }
}
