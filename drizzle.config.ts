import { defineConfig } from 'drizzle-kit';

// Only `generate` is used (it needs no database): migrations are committed and applied by src/db/migrate.ts.
export default defineConfig({
  dialect: 'postgresql',
  schema: './drizzle/schema.ts',
  out: './drizzle/migrations',
});
