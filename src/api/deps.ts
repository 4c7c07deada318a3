import type { Client } from '@temporalio/client';
import type { Registry } from 'prom-client';
import type { Config } from '../config';
import type { Db } from '../db/client';
import type { Logger } from '../logger';
import type { Storage } from '../storage';

/** What the routes are given: the configuration and the process's clients. */
export interface AppDeps {
  config: Config;
  db: Db;
  temporal: Client;
  storage: Storage;
  logger: Logger;
  /** The registry `GET /metrics` serves; by default one of the app's own (default process metrics and HTTP metrics). */
  metrics?: Registry;
}
