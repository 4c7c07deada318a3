import type { Pool } from 'pg';
import type { Db } from '../db/client';

/** The node-postgres pool under a Drizzle database (COPY needs a raw client). */
export function poolOf(db: Db): Pool {
  const client = (db as Db & { $client?: Pool }).$client;
  if (!client || typeof client.connect !== 'function') throw new Error('the database handle has no node-postgres pool');
  return client;
}
