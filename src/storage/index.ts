import type { Config } from '../config';
import { LocalStorage } from './local';
import { loadSigningSecret } from './signing';
import type { Storage } from './storage';

/**
 * The storage the configuration names: S3 when S3_BUCKET is set, else local files under DATA_DIR. The AWS SDK is
 * loaded only when S3 is used (it costs a process that keeps local files some ten megabytes).
 */
export function createStorage(config: Config): Storage {
  if (config.storage.s3) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { S3Storage } = require('./s3') as typeof import('./s3');
    return new S3Storage(config.storage.s3, { partBytes: config.exports.checkpointBytes });
  }
  return new LocalStorage(config.storage.localDir, {
    signingSecret: loadSigningSecret(config.storage.linkSigningSecret, config.dataDir),
  });
}

export { LocalStorage };
export { StorageNotFoundError } from './storage';
export type { AppendState, AppendWriter, CompositeState, Storage } from './storage';
