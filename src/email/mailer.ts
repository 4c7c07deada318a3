/** Sends an email once per idempotency key: a retried send does not send twice. */
export interface Mailer {
  readonly transport: 'outbox' | 'resend';
  send(message: {
    applicationId: string;
    idempotencyKey: string;
    to: string;
    subject: string;
    text: string;
  }): Promise<{ id: string; sentAt: Date }>;
}

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
