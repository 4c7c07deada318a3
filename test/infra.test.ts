import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { getTableName, is } from 'drizzle-orm';
import { PgTable } from 'drizzle-orm/pg-core';
import { Connection } from '@temporalio/client';
import * as schema from '../drizzle/schema';
import { SEARCH_ATTRIBUTES } from '../workflows/definitions';

/** The shared test infrastructure from test/setup/global-setup.ts is there and usable. */

/** temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD (@temporalio/proto is not a direct dependency). */
const INDEXED_VALUE_TYPE_KEYWORD = 2;

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: is jest running with test/setup/global-setup.ts?`);
  return value;
}

describe('test infrastructure', () => {
  it('has a migrated database of its own', async () => {
    const url = env('TEST_DATABASE_URL');
    expect(new URL(url).pathname).toMatch(/^\/kyc_test_\d+_[0-9a-f]+$/);
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ table_name: string }>(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
      );
      const present = rows.map((r) => r.table_name);
      const expected = (Object.values(schema) as unknown[])
        .filter((value): value is PgTable => is(value, PgTable))
        .map((table) => getTableName(table));
      expect(expected.length).toBeGreaterThan(5);
      expect(present).toEqual(expect.arrayContaining(expected));
      const migrations = await client.query('SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations');
      expect(migrations.rows[0].n).toBeGreaterThan(0);
    } finally {
      await client.end();
    }
  });

  it('has a Temporal dev server with the search attributes registered', async () => {
    const connection = await Connection.connect({ address: env('TEST_TEMPORAL_ADDRESS') });
    try {
      const namespace = env('TEST_TEMPORAL_NAMESPACE');
      const described = await connection.workflowService.describeNamespace({ namespace });
      expect(described.namespaceInfo?.name).toBe(namespace);
      const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
      for (const attribute of SEARCH_ATTRIBUTES) {
        expect(customAttributes?.[attribute.name]).toBe(INDEXED_VALUE_TYPE_KEYWORD);
      }
    } finally {
      await connection.close();
    }
  });

  it('has the workflow bundle (once workflows/index.ts exists)', () => {
    const bundle = process.env.TEST_WORKFLOW_BUNDLE_PATH;
    if (!fs.existsSync(path.join(__dirname, '../workflows/index.ts'))) {
      expect(bundle).toBeUndefined();
      return;
    }
    expect(bundle).toBeDefined();
    expect(fs.statSync(bundle!).size).toBeGreaterThan(1000);
  });
});
