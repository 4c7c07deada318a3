import { getConfig } from '../config';
import { applyMigrations } from './migrate';

async function run(): Promise<void> {
  const url = getConfig().database.url;
  if (!url) throw new Error('DATABASE_URL is not set');
  await applyMigrations(url);
  process.stdout.write('migrations applied\n');
}

run().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
