import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { firstRangeHash, forgetFirstRangeHash, hashingFirstRange } from './first-range-hash';
import { checkSignedLink, signedPath, type LinkCheck } from './signing';
import { StorageNotFoundError, type AppendState, type AppendWriter, type CompositeState, type SignedUrlOptions, type Storage } from './storage';

/**
 * Files in a local directory; a key is a relative path. Whole objects are written atomically (temporary file, then
 * rename); links are signed with an HMAC and served by the API (see downloadsRouter).
 */
export class LocalStorage implements Storage {
  readonly kind = 'local' as const;

  constructor(
    readonly root: string,
    private readonly options: { signingSecret?: string } = {},
  ) {}

  pathOf(key: string): string {
    const full = path.resolve(this.root, key);
    if (!full.startsWith(path.resolve(this.root) + path.sep)) throw new Error(`storage key escapes the root: ${key}`);
    return full;
  }

  private temporaryPath(target: string): string {
    return `${target}.${process.pid}.${Date.now()}.${Math.random().toString(36).slice(2, 8)}.tmp`;
  }

  async putStream(key: string, body: Readable): Promise<{ bytes: number }> {
    const target = this.pathOf(key);
    await mkdir(path.dirname(target), { recursive: true });
    const temporary = this.temporaryPath(target);
    const out = createWriteStream(temporary);
    try {
      await pipeline(body, out);
      await rename(temporary, target);
    } catch (err) {
      await rm(temporary, { force: true });
      throw err;
    }
    return { bytes: out.bytesWritten };
  }

  async getStream(key: string): Promise<Readable> {
    const stream = createReadStream(this.pathOf(key));
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', (err: NodeJS.ErrnoException) =>
        reject(err.code === 'ENOENT' || err.code === 'EISDIR' ? new StorageNotFoundError(key) : err),
      );
    });
    return stream;
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }

  async stat(key: string): Promise<{ bytes: number } | undefined> {
    try {
      const info = await stat(this.pathOf(key));
      return info.isFile() ? { bytes: info.size } : undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async deletePrefix(prefix: string): Promise<void> {
    if (!prefix.endsWith('/')) throw new Error(`a prefix to delete ends with "/": ${prefix}`);
    await rm(this.pathOf(prefix.slice(0, -1)), { recursive: true, force: true });
  }

  async removeAbandonedWrites(prefix: string, startedBefore: Date): Promise<number> {
    let removed = 0;
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      for (const entry of entries) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) {
          await walk(full);
        } else if (entry.name.endsWith('.tmp')) {
          const info = await stat(full).catch(() => undefined);
          if (info && info.mtime < startedBefore) {
            await rm(full, { force: true });
            removed++;
          }
        }
      }
    };
    await walk(this.pathOf(prefix.replace(/\/+$/, '')));
    return removed;
  }

  async openAppend(key: string, resume?: AppendState): Promise<AppendWriter> {
    const file = this.pathOf(key);
    await mkdir(path.dirname(file), { recursive: true });
    let handle: FileHandle;
    let bytes = 0;
    const existing = resume && resume.bytes > 0 ? await this.stat(key) : undefined;
    if (resume && existing && existing.bytes >= resume.bytes) {
      // Bytes after the checkpoint may be half a row from the attempt that died: cut them off.
      handle = await open(file, 'r+');
      await handle.truncate(resume.bytes);
      bytes = resume.bytes;
    } else {
      handle = await open(file, 'w');
    }
    return new LocalAppendWriter(handle, bytes, file);
  }

  /**
   * With `firstSourceBytes` (the first source's recorded size) the first source is moved into place rather than
   * copied, and the others appended to it. A retry after a crash finds it half-assembled under `<target>.assembling`
   * and cuts it back to that size, or finds the target finished and only hashes it. `firstSourceHash`, a hash of
   * those first bytes already, spares reading them again.
   */
  async concat(
    target: string,
    sources: string[],
    options: { firstSourceBytes?: number; firstSourceHash?: Hash } = {},
  ): Promise<{ bytes: number; sha256: string }> {
    const targetPath = this.pathOf(target);
    await mkdir(path.dirname(targetPath), { recursive: true });
    const moving = options.firstSourceBytes !== undefined && sources.length > 0;
    const firstHashed = moving ? options.firstSourceHash : undefined;
    const hash = firstHashed ?? createHash('sha256');
    const assembling = moving ? `${targetPath}.assembling` : this.temporaryPath(targetPath);
    let rest = sources;
    let bytes = 0;
    let out: FileHandle;
    if (moving) {
      const expected = options.firstSourceBytes!;
      try {
        await rename(this.pathOf(sources[0]), assembling);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      const half = await stat(assembling).catch(() => undefined);
      if (!half) {
        // Moved and finished by an earlier attempt: the target is whole.
        if (!(await this.stat(target))) throw new StorageNotFoundError(sources[0]);
        return this.hashFile(targetPath);
      }
      if (half.size < expected) throw new Error(`${sources[0]} holds ${half.size} bytes, not the ${expected} recorded`);
      out = await open(assembling, 'r+');
      await out.truncate(expected);
      bytes = firstHashed ? expected : await hashRange(out, expected, hash);
      rest = sources.slice(1);
    } else {
      out = await open(assembling, 'w');
    }
    try {
      // Two blocks in turn: while one is being written (in libuv's threads), the next is read and this thread
      // hashes the one just read. A copy at the speed of its slowest step, with the hash on the way.
      const blocks = [Buffer.allocUnsafe(4 * 1024 * 1024), Buffer.allocUnsafe(4 * 1024 * 1024)];
      let turn = 0;
      let writing: Promise<void> = Promise.resolve();
      for (const source of rest) {
        let input: FileHandle;
        try {
          input = await open(this.pathOf(source), 'r');
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new StorageNotFoundError(source);
          throw err;
        }
        try {
          for (;;) {
            // Never the block whose write may still be running (the other one's is awaited before it is reused).
            const block = blocks[turn % 2];
            const { bytesRead } = await input.read(block, 0, block.length, null);
            if (bytesRead === 0) break;
            const view = block.subarray(0, bytesRead);
            await writing;
            writing = writeFully(out, view, bytes);
            turn++;
            hash.update(view);
            bytes += bytesRead;
          }
        } finally {
          await input.close();
        }
      }
      await writing;
      await out.close();
      await rename(assembling, targetPath);
    } catch (err) {
      await out.close().catch(() => undefined);
      if (!moving) await rm(assembling, { force: true });
      throw err;
    }
    return { bytes, sha256: hash.digest('hex') };
  }

  private async hashFile(file: string): Promise<{ bytes: number; sha256: string }> {
    const hash = createHash('sha256');
    const handle = await open(file, 'r');
    try {
      const bytes = await hashRange(handle, Infinity, hash);
      return { bytes, sha256: hash.digest('hex') };
    } finally {
      await handle.close();
    }
  }

  async createComposite(key: string, ranges: number, scratchPrefix: string): Promise<CompositeState> {
    return { key, ranges, scratchPrefix };
  }

  private rangeKey(composite: CompositeState, range: number): string {
    return `${composite.scratchPrefix}${String(range).padStart(5, '0')}.csv`;
  }

  async openCompositeRange(composite: CompositeState, range: number, resume?: AppendState): Promise<AppendWriter> {
    return hashingFirstRange(composite, range, await this.openAppend(this.rangeKey(composite, range), resume));
  }

  /** The range files, concatenated (the first one moved in rather than copied, and hashed already when it can be). */
  async completeComposite(composite: CompositeState, ranges: AppendState[]): Promise<{ bytes: number; sha256: string }> {
    const sources = ranges.map((_, i) => this.rangeKey(composite, i));
    const done = await this.concat(composite.key, sources, {
      firstSourceBytes: ranges[0]?.bytes,
      firstSourceHash: firstRangeHash(composite, ranges[0]),
    });
    forgetFirstRangeHash(composite);
    return done;
  }

  async abortComposite(composite: CompositeState): Promise<void> {
    forgetFirstRangeHash(composite);
    await this.deletePrefix(composite.scratchPrefix);
  }

  async signedUrl(key: string, options: SignedUrlOptions): Promise<string> {
    return `${options.baseUrl.replace(/\/+$/, '')}${signedPath(this.secret(), key, options.expiresAt)}`;
  }

  /** Checks a link this storage signed (the downloads route). */
  checkLink(key: string, expires: unknown, signature: unknown, now?: Date): LinkCheck {
    return checkSignedLink(this.secret(), key, expires, signature, now);
  }

  private secret(): string {
    if (!this.options.signingSecret) throw new Error('local storage has no link signing secret');
    return this.options.signingSecret;
  }
}

async function writeFully(handle: FileHandle, data: Buffer, position: number): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    const { bytesWritten } = await handle.write(data, offset, data.length - offset, position + offset);
    offset += bytesWritten;
  }
}

/** Feeds the first `limit` bytes of a file to `hash`; returns how many there were. */
async function hashRange(handle: FileHandle, limit: number, hash: ReturnType<typeof createHash>): Promise<number> {
  const block = Buffer.allocUnsafe(4 * 1024 * 1024);
  let position = 0;
  while (position < limit) {
    const { bytesRead } = await handle.read(block, 0, Math.min(block.length, limit - position), position);
    if (bytesRead === 0) break;
    hash.update(block.subarray(0, bytesRead));
    position += bytesRead;
  }
  return position;
}

/** Appends to a file; a checkpoint is the file's length (the bytes are in the OS's hands once written). */
class LocalAppendWriter implements AppendWriter {
  readonly minCheckpointBytes = 0;
  private checkpointed: number;
  private closed = false;

  constructor(
    private readonly handle: FileHandle,
    public bytes: number,
    private readonly file: string,
  ) {
    this.checkpointed = bytes;
  }

  get pendingBytes(): number {
    return this.bytes - this.checkpointed;
  }

  async write(chunk: Buffer): Promise<void> {
    let offset = 0;
    while (offset < chunk.length) {
      const { bytesWritten } = await this.handle.write(chunk, offset, chunk.length - offset, this.bytes + offset);
      offset += bytesWritten;
    }
    this.bytes += chunk.length;
  }

  async checkpoint(): Promise<AppendState> {
    this.checkpointed = this.bytes;
    return { bytes: this.bytes };
  }

  async close(): Promise<{ bytes: number; state: AppendState }> {
    if (!this.closed) {
      this.closed = true;
      await this.handle.close();
    }
    return { bytes: this.bytes, state: { bytes: this.bytes } };
  }

  async release(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      await this.handle.close().catch(() => undefined);
    }
  }

  async abort(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      await this.handle.close().catch(() => undefined);
    }
    await rm(this.file, { force: true });
  }
}
