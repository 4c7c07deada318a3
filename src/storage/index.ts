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

type StorageKind = Storage['kind'];

/**
 * The configured store and the others a file may have been written to. Each export records its store
 * (`exports.storage_kind`); links, downloads and retention use that one, so switching S3_BUCKET on or off does not
 * hand out S3 links to local files (or the reverse). Local files stay reachable whatever S3_BUCKET says; an S3 file
 * is reachable only while S3 is configured.
 */
export interface StorageSet {
  readonly current: Storage;
  /** The store of `kind` (null: a row from before stores were recorded, so the configured one); undefined if not configured. */
  of(kind: StorageKind | null | undefined): Storage | undefined;
  /** The local store, which serves the links the API signs. */
  local(): LocalStorage;
}

export function createStorageSet(config: Config, current: Storage = createStorage(config)): StorageSet {
  let local: LocalStorage | undefined = current instanceof LocalStorage ? current : undefined;
  const localStore = () =>
    (local ??= new LocalStorage(config.storage.localDir, {
      signingSecret: loadSigningSecret(config.storage.linkSigningSecret, config.dataDir),
    }));
  return {
    current,
    of(kind) {
      if (kind === null || kind === undefined || kind === current.kind) return current;
      if (kind === 'local') return localStore();
      return undefined;
    },
    local: localStore,
  };
}

export { StorageNotFoundError } from './storage';
export type { AppendState, AppendWriter, CompositeState, Storage } from './storage';
