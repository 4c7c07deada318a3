import { z } from 'zod';
import type { Cursor } from '../db/cursor';
import { DomainError } from '../errors';

export interface ListParams {
  limit: number;
  cursor?: Cursor;
}

const cursorSchema = z.tuple([z.iso.datetime(), z.uuid()]);

/**
 * Reads `?limit=` (1..200, default 50) and `?cursor=`; a bad one is a 400 with a stable code. An empty one is not
 * given, like the lists' empty filters (API.md writes the lists as `?status=&...&limit=&cursor=`).
 */
export function parseListParams(query: Record<string, unknown>): ListParams {
  let limit = 50;
  if (query.limit !== undefined && query.limit !== '') {
    const n = typeof query.limit === 'string' && /^\d+$/.test(query.limit) ? Number(query.limit) : NaN;
    if (!(n >= 1 && n <= 200)) throw new DomainError('invalid', 'invalid_limit', 'limit must be a whole number from 1 to 200');
    limit = n;
  }
  if (query.cursor === undefined || query.cursor === '') return { limit };
  return { limit, cursor: decodeCursor(query.cursor) };
}

function decodeCursor(raw: unknown): Cursor {
  try {
    const parsed = cursorSchema.parse(JSON.parse(Buffer.from(String(raw), 'base64url').toString('utf8')));
    return { createdAt: new Date(parsed[0]), id: parsed[1] };
  } catch {
    throw new DomainError('invalid', 'invalid_cursor', 'cursor is not one this API gave out');
  }
}

function encodeCursor(row: Cursor): string {
  return Buffer.from(JSON.stringify([row.createdAt.toISOString(), row.id])).toString('base64url');
}

/** Given up to limit+1 rows (newest first), the page and the cursor of the next one. */
export function toPage<T extends Cursor, R>(rows: T[], limit: number, present: (row: T) => R) {
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return { results: page.map(present), next_cursor: rows.length > limit && last ? encodeCursor(last) : null };
}
