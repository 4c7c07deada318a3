import type { RequestHandler } from 'express';
import { DomainError } from '../errors';
import { hasUnstorable, jsonProblem, MAX_JSON_DEPTH, storable, unstorableReason } from '../text';

/**
 * The one guard every request passes before any route: what no route can use is refused here with a 400, so no
 * handler, query or Postgres statement ever sees it.
 *
 * - a path with a malformed percent-escape (`%ZZ`, or bytes that are not UTF-8 such as `%C0%AF`): 400 `invalid_path`
 *   (the router would otherwise fail to decode it);
 * - a path, query parameter or JSON body holding text Postgres cannot store (U+0000, a lone surrogate from JSON's
 *   `"\ud800"`): the path is 400 `invalid_path`; a query parameter or body field is 400 `invalid_field` with
 *   `details: [{field, code: "invalid_characters", message}]`, the field named as the body's validation names it
 *   (`filters.tags.0`, `metadata.note`);
 * - a JSON body nested deeper than 128 levels: 400 `json_too_deep` (JSON.stringify, zod and jsonb recurse; a body
 *   nested 5,000 deep would overflow the stack somewhere). How deep a field may nest within that is the field's own
 *   rule (metadata: 64 levels, `invalid_metadata_json`, src/users/fields.ts, the same for CSV cells).
 *
 * The body is walked with an explicit stack, so a body nested a million deep is checked without recursion.
 */
const MAX_BODY_DEPTH = 2 * MAX_JSON_DEPTH;

export const inputGuard: RequestHandler = (req, _res, next) => {
  const rawPath = req.originalUrl.split('?', 1)[0];
  let path: string;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    next(new DomainError('invalid', 'invalid_path', 'the path holds a malformed percent-escape (such as %ZZ, or bytes that are not UTF-8)'));
    return;
  }
  if (hasUnstorable(path)) {
    next(new DomainError('invalid', 'invalid_path', `the path holds ${unstorableReason(path)}, which no resource name can hold`));
    return;
  }

  for (const [key, value] of Object.entries(req.query as Record<string, unknown>)) {
    const values = Array.isArray(value) ? value : [value];
    const bad = [key, ...values].find((v) => typeof v === 'string' && hasUnstorable(v)) as string | undefined;
    if (bad !== undefined) {
      next(invalidCharacters(key, unstorableReason(bad)));
      return;
    }
  }

  if (req.body !== undefined && req.body !== null && typeof req.body === 'object') {
    const problem = jsonProblem(req.body, MAX_BODY_DEPTH);
    if (problem?.kind === 'too_deep') {
      next(new DomainError('invalid', 'json_too_deep', `the JSON body is nested deeper than ${MAX_BODY_DEPTH} levels`));
      return;
    }
    if (problem?.kind === 'unstorable') {
      next(invalidCharacters(problem.path.length > 0 ? problem.path.join('.') : '(body)', problem.reason));
      return;
    }
  } else if (typeof req.body === 'string' && hasUnstorable(req.body)) {
    next(invalidCharacters('(body)', unstorableReason(req.body)));
    return;
  }
  next();
};

function invalidCharacters(name: string, reason: string): DomainError {
  const field = storable(name, 200);
  const message = `${field} holds ${reason}, which cannot be stored`;
  return new DomainError('invalid', 'invalid_field', 'one or more fields are invalid', [{ field, code: 'invalid_characters', message }]);
}
