import path from 'node:path';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import { PROJECT_ROOT } from '../paths';
import { createDatabase } from './client';

const MIGRATIONS_FOLDER = path.join(PROJECT_ROOT, 'drizzle/migrations');

/** Applies the committed migrations that the database has not seen yet. */
export async function applyMigrations(databaseUrl: string): Promise<void> {
  const database = createDatabase(databaseUrl, { poolSize: 1, applicationName: 'kyc-user-bulk-migrate' });
  try {
    await migrate(database.db, { migrationsFolder: MIGRATIONS_FOLDER });
  } finally {
    await database.close();
  }
}
