import type { Server } from 'node:http';
import { getConfig } from '../config';
import { createDatabase } from '../db/client';
import { createLogger } from '../logger';
import { createStorage } from '../storage';
import { connectTemporalClient } from '../temporal/client';
import { createApp } from './app';

async function run(): Promise<void> {
  const config = getConfig();
  const logger = createLogger(config, 'api');
  if (!config.database.url) throw new Error('DATABASE_URL is not set (npm start sets it; see the README)');
  const database = createDatabase(config.database.url, { poolSize: config.database.poolSize, applicationName: 'kyc-api' });
  const temporal = await connectTemporalClient(config);
  const app = createApp({ config, db: database.db, temporal: temporal.client, storage: createStorage(config), logger });
  const server: Server = app.listen(config.api.port, config.api.host, () => {
    logger.info({ host: config.api.host, port: config.api.port }, `API listening on ${config.api.host}:${config.api.port}, links point at ${config.api.publicBaseUrl}`);
  });
  server.keepAliveTimeout = 65_000;

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'draining connections');
    server.close(() => {
      Promise.all([temporal.close(), database.close()])
        .then(() => {
          logger.info('API stopped');
          process.exit(0);
        })
        .catch((err: unknown) => {
          logger.error({ err }, 'error while stopping');
          process.exit(1);
        });
    });
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), 10_000).unref();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

run().catch((err: unknown) => {
  process.stderr.write(`api failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
