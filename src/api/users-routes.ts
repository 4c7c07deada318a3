import { Router, type Request } from 'express';
import { USER_STATUSES } from '../../drizzle/schema';
import type { Db } from '../db/client';
import { DomainError } from '../errors';
import { rules, userCreateSchema, userFieldProblems, userPatchSchema } from '../users/fields';
import { createUser, getUserByVendorData, listUsers, patchUser, presentUser } from '../users/queries';
import { applicationOf, requireApiKey } from './auth';
import { requireJsonBody } from './http-errors';
import { parseListParams, toPage } from './pagination';
import { parseBody } from './request-body';

function listFilters(query: Request['query']) {
  const text = (name: string) => {
    const value = query[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'string') throw new DomainError('invalid', 'invalid_filter', `${name} must be given once`);
    return value.trim() === '' ? undefined : value.trim();
  };
  const status = text('status');
  const country = text('country');
  const search = text('search');
  const statusResult = status === undefined ? undefined : rules.status(status);
  if (statusResult && !statusResult.ok) {
    throw new DomainError('invalid', 'invalid_filter', `status must be one of ${USER_STATUSES.join(', ')}`);
  }
  const countryResult = country === undefined ? undefined : rules.country(country);
  if (countryResult && !countryResult.ok) throw new DomainError('invalid', 'invalid_filter', countryResult.error.message);
  return { status: statusResult?.value, country: countryResult?.value, search };
}

/** The public user API (`/v3/users`), authenticated by the application's API key. */
export function usersRouter(db: Db): Router {
  const router = Router();
  // On each route rather than the router: a 401 is then counted under its route in the HTTP metrics.
  const auth = requireApiKey(db);

  router.post('/create/', auth, requireJsonBody, async (req, res) => {
    const input = parseBody(userCreateSchema, req, userFieldProblems);
    const user = await createUser(db, { applicationId: applicationOf(req), input });
    res.status(201).json(presentUser(user));
  });

  router.get('/', auth, async (req, res) => {
    const filters = listFilters(req.query);
    const { limit, cursor } = parseListParams(req.query);
    const rows = await listUsers(db, { ...filters, applicationId: applicationOf(req), limit, cursor });
    res.json(toPage(rows, limit, presentUser));
  });

  router.get('/:vendorData/', auth, async (req, res) => {
    res.json(presentUser(await getUserByVendorData(db, { applicationId: applicationOf(req), vendorData: String(req.params.vendorData) })));
  });

  router.patch('/:vendorData/', auth, requireJsonBody, async (req, res) => {
    const patch = parseBody(userPatchSchema, req, userFieldProblems);
    res.json(presentUser(await patchUser(db, { applicationId: applicationOf(req), vendorData: String(req.params.vendorData), patch })));
  });

  return router;
}
