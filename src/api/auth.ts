import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { findApplicationByApiKey, findOperatorByToken, type Operator } from '../auth/accounts';
import type { Db } from '../db/client';
import { DomainError } from '../errors';
import { can, type Permission } from '../auth/permissions';
import { API_KEY_PREFIX_LENGTH } from '../auth/tokens';

declare module 'express-serve-static-core' {
  interface Request {
    operator?: Operator;
    applicationId?: string;
    /** The first 12 characters of the API key that authenticated the request (public API). */
    apiKeyPrefix?: string;
  }
}

const wrap =
  (fn: (req: Request) => Promise<void>): RequestHandler =>
  (req: Request, _res: Response, next: NextFunction) => {
    fn(req).then(() => next(), next);
  };

function bearerToken(req: Request): string | undefined {
  const header = req.headers.authorization;
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return match?.[1];
}

/** Console endpoints: a valid operator bearer token (401), whose role has the permission (403). */
export function requireOperator(db: Db, permission: Permission): RequestHandler {
  return wrap(async (req) => {
    const token = bearerToken(req);
    if (!token) throw new DomainError('unauthenticated', 'unauthenticated', 'an operator bearer token is required');
    const operator = await findOperatorByToken(db, token);
    if (!operator) throw new DomainError('unauthenticated', 'unauthenticated', 'the bearer token is not valid');
    if (!can(operator.role, permission)) {
      throw new DomainError('forbidden', 'forbidden', `the role ${operator.role} may not do this`);
    }
    req.operator = operator;
    req.applicationId = operator.applicationId;
  });
}

/** Public API: a valid application API key in `x-api-key` (401). */
export function requireApiKey(db: Db): RequestHandler {
  return wrap(async (req) => {
    const key = req.headers['x-api-key'];
    if (typeof key !== 'string' || key.trim() === '') {
      throw new DomainError('unauthenticated', 'unauthenticated', 'an x-api-key header is required');
    }
    const application = await findApplicationByApiKey(db, key.trim());
    if (!application) throw new DomainError('unauthenticated', 'unauthenticated', 'the API key is not valid');
    req.applicationId = application.id;
    req.apiKeyPrefix = key.trim().slice(0, API_KEY_PREFIX_LENGTH);
  });
}

/** The prefix of the API key (first 12 characters); only for handlers behind requireApiKey. */
export function apiKeyPrefixOf(req: Request): string {
  if (!req.apiKeyPrefix) throw new Error('requireApiKey did not run before this handler');
  return req.apiKeyPrefix;
}

/** The authenticated operator; only for handlers behind requireOperator. */
export function operatorOf(req: Request): Operator {
  if (!req.operator) throw new Error('requireOperator did not run before this handler');
  return req.operator;
}

export function applicationOf(req: Request): string {
  if (!req.applicationId) throw new Error('no authentication ran before this handler');
  return req.applicationId;
}
