import { sql } from 'drizzle-orm';
import type { Db } from '../../src/db/client';

/** The system check's activity (test-only, see ./system-check.ts), registered by the test workers beside the service's. */
export function createSystemActivities(db: Db) {
  return {
    /** Reads the Postgres version and the number of applications; read-only, so a retry is harmless. */
    async checkDatabase(): Promise<{ serverVersion: string; applications: number }> {
      const result = await db.execute<{ server_version: string; applications: number }>(
        sql`select current_setting('server_version') as server_version, (select count(*)::int from applications) as applications`,
      );
      const row = result.rows[0];
      return { serverVersion: row.server_version, applications: row.applications };
    },
  };
}

export type SystemActivities = ReturnType<typeof createSystemActivities>;
