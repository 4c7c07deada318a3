import type { ErrorRequestHandler, RequestHandler } from 'express';
import { z } from 'zod';
import { isDatabaseUnavailable } from '../db/errors';
import { DomainError, type ErrorKind } from '../errors';

const STATUS_BY_KIND: Record<ErrorKind, number> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  too_many_requests: 429,
  unsupported_media_type: 415,
  unavailable: 503,
};

/** Every error answer of API.md: `{"error": {"code", "message", "details"?}}`. */
export const errorBodySchema = z.object({
  error: z.object({ code: z.string().meta({ description: 'stable, snake_case' }), message: z.string(), details: z.unknown().optional() }),
});
export type ErrorBody = z.infer<typeof errorBodySchema>;

export function errorBody(code: string, message: string, details?: unknown): ErrorBody {
  return { error: details === undefined ? { code, message } : { code, message, details } };
}

/** Express's body parsers throw errors with a `type`; these are the client's fault, never a 500. */
function bodyParserError(err: unknown): DomainError | undefined {
  const e = err as { type?: string; status?: number };
  switch (e?.type) {
    case 'entity.parse.failed':
      return new DomainError('invalid', 'invalid_json', 'the request body is not valid JSON');
    case 'entity.too.large':
      return new DomainError('too_large', 'body_too_large', 'the request body is too large');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new DomainError('unsupported_media_type', 'unsupported_media_type', 'the body must be UTF-8 JSON');
    case 'request.aborted':
      return new DomainError('invalid', 'request_aborted', 'the request was aborted');
    default:
      break;
  }
  // Any other client error a library raised with its status (http-errors style): the status and a generic code,
  // never a 500. Our own checks come first (the input guard), so this is a backstop.
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) {
    return new DomainError(e.status === 413 ? 'too_large' : e.status === 415 ? 'unsupported_media_type' : 'invalid', 'invalid_request', 'the request cannot be read');
  }
  return undefined;
}

/** Postgres could not be reached or dropped the connection: a transient 503, logged as a warning. */
function databaseUnavailable(err: unknown): DomainError | undefined {
  if (!isDatabaseUnavailable(err)) return undefined;
  return new DomainError('unavailable', 'database_unavailable', 'the database is not reachable at the moment; try again shortly');
}

/** The one place where errors become HTTP answers. Unknown errors are logged and answered 500 without details. */
export const errorHandler: ErrorRequestHandler = (err, req, res, _next) => {
  const known = err instanceof DomainError ? err : (bodyParserError(err) ?? databaseUnavailable(err));
  if (known) {
    if (known.code === 'database_unavailable') req.log?.warn({ err }, 'database unavailable');
    res.status(STATUS_BY_KIND[known.kind]).json(errorBody(known.code, known.message, known.details));
    return;
  }
  req.log?.error({ err }, 'unhandled error');
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.status(500).json(errorBody('internal_error', 'something went wrong on our side; it has been logged'));
};

export const notFoundHandler: RequestHandler = (_req, res) => {
  res.status(404).json(errorBody('not_found', 'no such endpoint'));
};

/** Refuses a body that is not JSON (415) on methods that carry one. An empty body is allowed. */
export const requireJsonBody: RequestHandler = (req, _res, next) => {
  const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
  if (hasBody && !req.is('application/json')) {
    next(new DomainError('unsupported_media_type', 'unsupported_media_type', 'the body must be application/json'));
    return;
  }
  next();
};
