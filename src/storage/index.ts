import type { Config } from '../config';
import { LocalStorage } from './local';
import type { Storage } from './storage';

/** The storage the configuration names: local files unless S3_BUCKET is set. */
export function createStorage(config: Config): Storage {
  if (config.storage.s3) throw new Error('S3 storage is not implemented yet');
  return new LocalStorage(config.storage.localDir);
}
export type { Storage };
