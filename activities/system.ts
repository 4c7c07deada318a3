import { sql } from 'drizzle-orm';
import type { ActivityDeps } from './deps';

export function createSystemActivities({ db }: ActivityDeps) {
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
