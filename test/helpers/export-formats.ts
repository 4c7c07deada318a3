import { createHash } from 'node:crypto';
import type { ExportColumn } from '../../src/exports/columns';
import type { UserRow } from '../../src/users/queries';

/** Helpers of the export format tests (NDJSON, gzip, BOM). */

export const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
export const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);

/** What an NDJSON line holds for a user: the stored values, tags a list, metadata an object. */
export function expectedJson(columns: readonly ExportColumn[], u: UserRow): Record<string, unknown> {
  const all: Record<ExportColumn, [string, unknown]> = {
    id: ['id', u.id],
    vendor_data: ['vendor_data', u.vendorData],
    display_name: ['display_name', u.displayName],
    full_name: ['full_name', u.fullName],
    date_of_birth: ['date_of_birth', u.dateOfBirth],
    email: ['email', u.email],
    phone: ['phone', u.phone],
    country: ['country', u.country || null],
    status: ['status', u.status],
    tags: ['tags', u.tags],
    metadata_json: ['metadata', u.metadata],
    session_count: ['session_count', u.sessionCount],
    approved_count: ['approved_count', u.approvedCount],
    declined_count: ['declined_count', u.declinedCount],
    in_review_count: ['in_review_count', u.inReviewCount],
    created_at: ['created_at', u.createdAt.toISOString()],
    updated_at: ['updated_at', u.updatedAt.toISOString()],
  };
  return Object.fromEntries(columns.map((c) => all[c]));
}

export function parseNdjson(text: string): Record<string, unknown>[] {
  expect(text === '' || text.endsWith('\n')).toBe(true);
  expect(text).not.toContain('\r');
  return text === '' ? [] : text.slice(0, -1).split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
}

export async function fetchFile(url: string): Promise<{ status: number; bytes: Buffer; headers: Headers }> {
  const res = await fetch(url);
  return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

/** Checks the file against the export object: size, SHA-256 of the stored bytes. */
export function checkStored(done: { file_bytes: number; file_sha256: string }, bytes: Buffer) {
  expect(done.file_bytes).toBe(bytes.length);
  expect(done.file_sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
}

export const SPECIAL = [
  {
    vendorData: '=formula-user',
    displayName: 'Zoë Ñandú, "quoted"\nnext line',
    fullName: null,
    email: null,
    phone: '+34600111222',
    country: 'ESP',
    status: 'ACTIVE' as const,
    tags: ['a b', 'ü'],
    metadata: { nested: { k: [1, 2, { z: null }] }, tab: 'x\ty', ctl: '\u0001\u001f\u001e' },
    dateOfBirth: '1990-04-01',
    createdAt: new Date('2023-06-01T00:00:00.123Z'),
  },
];

