import { z } from 'zod';

// z.guid(), not z.uuid(): any 8-4-4-4-12 hex string, as Postgres's uuid type takes it; z.uuid() also wants RFC 9562's
// version and variant digits.
const uuidSchema = z.guid();

/** Whether `value` is a UUID in its canonical text form (any version, either case). */
export function isUuid(value: string): boolean {
  return uuidSchema.safeParse(value).success;
}
