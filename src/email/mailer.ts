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
