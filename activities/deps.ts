import type { Client } from '@temporalio/client';
import type { Config } from '../src/config';
import type { Db } from '../src/db/client';
import type { Mailer } from '../src/email/mailer';
import type { Storage } from '../src/storage';

/** What every activity may use, handed to createActivities once by the worker (no module-level singletons). */
export interface ActivityDeps {
  db: Db;
  storage: Storage;
  mailer: Mailer;
  config: Config;
  /** A Temporal client on the worker's connection: the reconciler reads and restarts workflows with it. */
  temporal: Client;
}
