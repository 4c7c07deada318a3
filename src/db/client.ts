import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { Pool } from 'pg';
import * as schema from '../../drizzle/schema';

export type Db = NodePgDatabase<typeof schema>;
type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
/** What query functions take: the database or a transaction on it. */
export type Queryable = Db | Tx;

export interface Database {
  db: Db;
  pool: Pool;
  close(): Promise<void>;
}

/** Opens one pool for the process; close it on shutdown. */
export function createDatabase(url: string, options: { poolSize?: number; applicationName?: string } = {}): Database {
  const pool = new Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    application_name: options.applicationName ?? 'kyc-user-bulk',
  });
  // A connection that Postgres drops (failover, pg_terminate_backend, an idle reaper) must never crash the process.
  // The pool reports idle clients' errors on itself; a checked-out client emits 'error' on itself between two
  // queries, with nobody listening, so each client gets a listener for its whole life. The query in flight fails
  // on its own (the caller sees the error), and the broken client is discarded when it is released.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
  });
  const db = drizzle(pool, { schema });
  return { db, pool, close: () => pool.end() };
}
