import type { Request } from 'express';
import type { z } from 'zod';
import { DomainError } from '../errors';
import { fieldProblems, type FieldProblem } from '../users/fields';

/**
 * Parses a JSON body with a zod schema; a broken field is 400 `invalid_field` with the rule codes in details
 * (`problems` turns the schema's issues into them: userFieldProblems for the user schemas).
 */
export function parseBody<S extends z.ZodType>(
  schema: S,
  req: Request,
  problems: (error: z.ZodError, input: unknown) => FieldProblem[] = fieldProblems,
): z.infer<S> {
  if (req.body === undefined || req.body === null || typeof req.body !== 'object' || Array.isArray(req.body)) {
    throw new DomainError('invalid', 'invalid_body', 'the body must be a JSON object');
  }
  const parsed = schema.safeParse(req.body);
  if (!parsed.success) {
    throw new DomainError('invalid', 'invalid_field', 'one or more fields are invalid', problems(parsed.error, req.body));
  }
  return parsed.data;
}
