/**
 * Domain errors: thrown by queries and services, turned into HTTP answers only by the API's error handler.
 * `kind` says what went wrong in words the HTTP layer maps to a status; `code` is the stable code clients see.
 */
export type ErrorKind =
  | 'invalid'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'too_large'
  | 'too_many_requests'
  | 'unsupported_media_type'
  | 'unavailable';

export class DomainError extends Error {
  constructor(
    readonly kind: ErrorKind,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const notFound = (what: string) => new DomainError('not_found', 'not_found', `${what} not found`);
export const invalidState = (message: string) => new DomainError('conflict', 'invalid_state', message);
