import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { firstRangeHash } from '../src/storage/first-range-hash';
import { LocalStorage } from '../src/storage/local';
import { S3_MIN_PART_BYTES, S3Storage } from '../src/storage/s3';
import { StorageNotFoundError, type AppendState, type Storage } from '../src/storage/storage';
import { startS3Server, type S3TestServer } from './helpers/s3-server';

/**
 * The Storage interface, the same tests for local files and for S3 against a real S3-compatible server (versitygw,
 * SigV4) on loopback.
 */

let s3: S3TestServer;
let localDir: string;

beforeAll(async () => {
  s3 = await startS3Server();
  localDir = mkdtempSync(path.join(tmpdir(), 'kyc-storage-'));
});

afterAll(async () => {
  await s3?.close();
  rmSync(localDir, { recursive: true, force: true });
});

async function readAll(storage: Storage, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await storage.getStream(key)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const MiB = 1024 * 1024;

const kinds: [string, () => Promise<Storage>][] = [
  ['local', async () => new LocalStorage(localDir, { signingSecret: 'secret' })],
  [
    's3',
    async () => {
      const { bucket } = await s3.bucket();
      return new S3Storage(s3.settings(bucket), { partBytes: S3_MIN_PART_BYTES });
    },
  ],
];

describe.each(kinds)('%s storage', (kind, make) => {
  let storage: Storage;
  beforeAll(async () => {
    storage = await make();
  });

  test('put, stat, get and delete a stream; a missing object', async () => {
    const body = Buffer.from('a,b\r\n1,2\r\n');
    expect(await storage.putStream('imports/x/file.csv', Readable.from([body.subarray(0, 3), body.subarray(3)]))).toEqual({ bytes: body.length });
    expect(await storage.stat('imports/x/file.csv')).toEqual({ bytes: body.length });
    expect(await readAll(storage, 'imports/x/file.csv')).toEqual(body);
    await storage.delete('imports/x/file.csv');
    await storage.delete('imports/x/file.csv');
    expect(await storage.stat('imports/x/file.csv')).toBeUndefined();
    await expect(storage.getStream('imports/x/file.csv')).rejects.toBeInstanceOf(StorageNotFoundError);
  });

  test('a large stream goes up whole', async () => {
    const body = randomBytes(12 * MiB + 123);
    await storage.putStream('big/one.bin', Readable.from([body.subarray(0, 7 * MiB), body.subarray(7 * MiB)]));
    expect(sha(await readAll(storage, 'big/one.bin'))).toBe(sha(body));
  });

  test('an append writer checkpoints, and a resumed one drops what came after the checkpoint', async () => {
    const a = randomBytes(S3_MIN_PART_BYTES + 1000);
    const lost = Buffer.from('written after the checkpoint, then the process died');
    const c = Buffer.from('the rest');
    const first = await storage.openAppend('exports/app/e1/parts/00000.csv');
    expect(first.bytes).toBe(0);
    await first.write(a.subarray(0, 1000));
    await first.write(a.subarray(1000));
    expect(first.pendingBytes).toBe(a.length);
    const state = await first.checkpoint();
    expect(state.bytes).toBe(a.length);
    expect(first.pendingBytes).toBe(0);
    await first.write(lost);
    await first.release();

    const second = await storage.openAppend('exports/app/e1/parts/00000.csv', JSON.parse(JSON.stringify(state)));
    expect(second.bytes).toBe(a.length);
    await second.write(c);
    expect((await second.close()).bytes).toBe(a.length + c.length);
    expect(sha(await readAll(storage, 'exports/app/e1/parts/00000.csv'))).toBe(sha(Buffer.concat([a, c])));
  });

  test('a checkpoint below the minimum part size keeps the previous state', async () => {
    const writer = await storage.openAppend('exports/app/e2/parts/00000.csv');
    await writer.write(Buffer.from('small'));
    const state = await writer.checkpoint();
    expect(state.bytes).toBe(kind === 's3' ? 0 : 5);
    expect((await writer.close()).bytes).toBe(5);
    expect((await readAll(storage, 'exports/app/e2/parts/00000.csv')).toString()).toBe('small');
  });

  test('a state that cannot be resumed starts the object afresh', async () => {
    const gone = { bytes: 10 * MiB, uploadId: 'no-such-upload', parts: [{ partNumber: 1, etag: '"x"', bytes: 10 * MiB }] };
    const writer = await storage.openAppend('exports/app/e3/parts/00000.csv', gone);
    expect(writer.bytes).toBe(0);
    await writer.write(Buffer.from('fresh'));
    await writer.close();
    expect((await readAll(storage, 'exports/app/e3/parts/00000.csv')).toString()).toBe('fresh');
  });

  test('a composite written in ranges by parallel writers, one resumed after a crash, joined into the object', async () => {
    // Sizes that exercise every case on S3: a range too small for a part, ranges with several parts, odd tails.
    const ranges = [randomBytes(12 * MiB + 11), Buffer.from('a small range\r\n'), randomBytes(3 * MiB), randomBytes(7 * MiB + 3)];
    const composite = await storage.createComposite('exports/app/c1/file.csv', ranges.length, 'exports/app/c1/parts/');
    const write = async (range: number, data: Buffer, resume?: AppendState) => {
      const writer = await storage.openCompositeRange(composite, range, resume);
      for (let offset = writer.bytes; offset < data.length; offset += 256 * 1024) {
        await writer.write(data.subarray(offset, Math.min(data.length, offset + 256 * 1024)));
        if (writer.pendingBytes >= S3_MIN_PART_BYTES) await writer.checkpoint();
      }
      return (await writer.close()).state;
    };
    // Range 0 dies after a checkpoint (and after writing more); its retry resumes from the checkpoint.
    const first = await storage.openCompositeRange(composite, 0);
    await first.write(ranges[0].subarray(0, 6 * MiB));
    const checkpoint = JSON.parse(JSON.stringify(await first.checkpoint()));
    expect(checkpoint.bytes).toBe(6 * MiB);
    await first.write(ranges[0].subarray(6 * MiB, 7 * MiB));
    await first.release();
    const states = await Promise.all(ranges.map((data, i) => (i === 0 ? write(0, data, checkpoint) : write(i, data))));
    expect(states.map((st) => st.bytes)).toEqual(ranges.map((r) => r.length));

    const whole = Buffer.concat(ranges);
    const result = await storage.completeComposite(composite, JSON.parse(JSON.stringify(states)));
    expect(result).toEqual({ bytes: whole.length, sha256: sha(whole) });
    expect(sha(await readAll(storage, 'exports/app/c1/file.csv'))).toBe(sha(whole));
    // Completed again (the activity retried before recording it): the same answer.
    expect(await storage.completeComposite(composite, states)).toEqual(result);
  });

  test('a first range written here is hashed on the way: the completion reads only the ranges after it', async () => {
    const ranges = [randomBytes(6 * MiB + 5), randomBytes(5 * MiB + 1)];
    const composite = await storage.createComposite('exports/app/c3/file.csv', 2, 'exports/app/c3/parts/');
    const states: AppendState[] = [];
    for (const [i, data] of ranges.entries()) {
      const writer = await storage.openCompositeRange(composite, i);
      for (let offset = 0; offset < data.length; offset += 1024 * 1024) {
        await writer.write(data.subarray(offset, offset + 1024 * 1024));
        if (writer.pendingBytes >= S3_MIN_PART_BYTES) await writer.checkpoint();
      }
      states.push((await writer.close()).state);
    }
    expect(states[0].hashedAs).toEqual(expect.any(String));
    expect(states[1].hashedAs).toBeUndefined();
    expect(firstRangeHash(composite, states[0])?.digest('hex')).toBe(sha(ranges[0]));
    // Not for a first range recorded as written by another attempt (a retry elsewhere), nor of another size.
    expect(firstRangeHash(composite, { ...states[0], hashedAs: 'another attempt' })).toBeUndefined();
    expect(firstRangeHash(composite, { ...states[0], bytes: ranges[0].length + 1 })).toBeUndefined();
    const whole = Buffer.concat(ranges);
    expect(await storage.completeComposite(composite, JSON.parse(JSON.stringify(states)))).toEqual({ bytes: whole.length, sha256: sha(whole) });
    expect(sha(await readAll(storage, 'exports/app/c3/file.csv'))).toBe(sha(whole));
    // Completed, the hash is dropped; a completion again hashes the object whole, to the same answer.
    expect(firstRangeHash(composite, states[0])).toBeUndefined();
    expect(await storage.completeComposite(composite, states)).toEqual({ bytes: whole.length, sha256: sha(whole) });

    // A composite of one range (on S3 nothing is left to read back: no range request past the end).
    const single = await storage.createComposite('exports/app/c4/file.csv', 1, 'exports/app/c4/parts/');
    const writer = await storage.openCompositeRange(single, 0);
    await writer.write(ranges[1]);
    const closed = await writer.close();
    expect(await storage.completeComposite(single, [closed.state])).toEqual({ bytes: ranges[1].length, sha256: sha(ranges[1]) });

    // A first range resumed from a checkpoint keeps no hash (its first bytes were hashed by an attempt that is gone).
    const again = await storage.createComposite('exports/app/c5/file.csv', 1, 'exports/app/c5/parts/');
    const dying = await storage.openCompositeRange(again, 0);
    await dying.write(ranges[0]);
    const checkpoint = await dying.checkpoint();
    await dying.release();
    const resumed = await storage.openCompositeRange(again, 0, checkpoint);
    expect(resumed.bytes).toBe(ranges[0].length);
    await resumed.write(ranges[1]);
    const end = await resumed.close();
    expect(end.state.hashedAs).toBeUndefined();
    expect(firstRangeHash(again, end.state)).toBeUndefined();
    expect(await storage.completeComposite(again, [end.state])).toEqual({ bytes: whole.length, sha256: sha(whole) });
  });

  test('an aborted composite leaves nothing behind', async () => {
    const composite = await storage.createComposite('exports/app/c2/file.csv', 2, 'exports/app/c2/parts/');
    const writer = await storage.openCompositeRange(composite, 1);
    await writer.write(randomBytes(S3_MIN_PART_BYTES));
    await writer.checkpoint();
    await writer.release();
    await storage.abortComposite(composite);
    expect(await storage.stat('exports/app/c2/file.csv')).toBeUndefined();
    expect(await storage.stat('exports/app/c2/parts/00001.head')).toBeUndefined();
    expect(await storage.stat('exports/app/c2/parts/00001.csv')).toBeUndefined();
  });

  test('deletePrefix removes objects and unfinished uploads under it, nothing else', async () => {
    await storage.putStream('exports/app/e7/a.csv', Readable.from([Buffer.from('a')]));
    await storage.putStream('exports/app/e7/parts/b.csv', Readable.from([Buffer.from('b')]));
    await storage.putStream('exports/app/e70/keep.csv', Readable.from([Buffer.from('keep')]));
    const unfinished = await storage.openAppend('exports/app/e7/parts/c.csv');
    await unfinished.write(randomBytes(S3_MIN_PART_BYTES));
    await unfinished.checkpoint();
    await unfinished.release();
    await storage.deletePrefix('exports/app/e7/');
    expect(await storage.stat('exports/app/e7/a.csv')).toBeUndefined();
    expect(await storage.stat('exports/app/e7/parts/b.csv')).toBeUndefined();
    expect(await storage.stat('exports/app/e70/keep.csv')).toEqual({ bytes: 4 });
    if (storage instanceof S3Storage) {
      const { ListMultipartUploadsCommand } = await import('@aws-sdk/client-s3');
      const uploads = await storage.client.send(new ListMultipartUploadsCommand({ Bucket: storage.bucket, Prefix: 'exports/app/e7/' }));
      expect(uploads.Uploads ?? []).toEqual([]);
    }
  });
});

/** Local storage joins a composite's range files with concat (S3 completes one multipart upload instead). */
describe('local storage: concat', () => {
  let storage: LocalStorage;
  beforeAll(() => {
    storage = new LocalStorage(localDir, { signingSecret: 'secret' });
  });

  test('concat of small sources, with size and SHA-256', async () => {
    const parts = [Buffer.from('header\r\n'), Buffer.from('row 1\r\nrow 2\r\n'), Buffer.from('ünïcødé\r\n')];
    for (const [i, p] of parts.entries()) await storage.putStream(`exports/app/e4/parts/${i}.csv`, Readable.from([p]));
    const result = await storage.concat('exports/app/e4/file.csv', parts.map((_, i) => `exports/app/e4/parts/${i}.csv`));
    const whole = Buffer.concat(parts);
    expect(result).toEqual({ bytes: whole.length, sha256: sha(whole) });
    expect(await readAll(storage, 'exports/app/e4/file.csv')).toEqual(whole);
  });

  test('concat of large sources', async () => {
    const parts = [randomBytes(S3_MIN_PART_BYTES + 10), randomBytes(S3_MIN_PART_BYTES + 20), Buffer.from('tail')];
    for (const [i, p] of parts.entries()) await storage.putStream(`exports/app/e5/parts/${i}.csv`, Readable.from([p]));
    const result = await storage.concat('exports/app/e5/file.csv', parts.map((_, i) => `exports/app/e5/parts/${i}.csv`));
    const whole = Buffer.concat(parts);
    expect(result).toEqual({ bytes: whole.length, sha256: sha(whole) });
    expect(sha(await readAll(storage, 'exports/app/e5/file.csv'))).toBe(sha(whole));
  });

  test('concat of sources of several blocks each, of odd sizes', async () => {
    const parts = [randomBytes(9 * MiB + 7), randomBytes(3), randomBytes(4 * MiB), randomBytes(5 * MiB + 1), randomBytes(1)];
    for (const [i, p] of parts.entries()) await storage.putStream(`exports/app/e8/parts/${i}.csv`, Readable.from([p]));
    const result = await storage.concat('exports/app/e8/file.csv', parts.map((_, i) => `exports/app/e8/parts/${i}.csv`));
    const whole = Buffer.concat(parts);
    expect(result).toEqual({ bytes: whole.length, sha256: sha(whole) });
    expect(sha(await readAll(storage, 'exports/app/e8/file.csv'))).toBe(sha(whole));
  });

  test('concat with firstSourceBytes: the first part may be moved in; a retry after a crash gives the same file', async () => {
    const parts = [randomBytes(6 * MiB + 5), Buffer.from('tail one\r\n'), randomBytes(5 * MiB)];
    const keys = parts.map((_, i) => `exports/app/e9/parts/${i}.csv`);
    for (const [i, p] of parts.entries()) await storage.putStream(keys[i], Readable.from([p]));
    const whole = Buffer.concat(parts);
    const options = { firstSourceBytes: parts[0].length };
    const result = await storage.concat('exports/app/e9/file.csv', keys, options);
    expect(result).toEqual({ bytes: whole.length, sha256: sha(whole) });
    expect(sha(await readAll(storage, 'exports/app/e9/file.csv'))).toBe(sha(whole));
    // Called again (the activity retried after the file was made): the same answer.
    expect(await storage.concat('exports/app/e9/file.csv', keys, options)).toEqual(result);

    if (storage instanceof LocalStorage) {
      expect(await storage.stat(keys[0])).toBeUndefined();
      // A crash after the move and part of the appending: the retry cuts the half-made file back and goes on.
      for (const [i, p] of parts.entries()) await storage.putStream(keys[i].replace('e9', 'e10'), Readable.from([p]));
      const { rename: move, appendFile } = await import('node:fs/promises');
      const half = `${storage.pathOf('exports/app/e10/file.csv')}.assembling`;
      await move(storage.pathOf(keys[0].replace('e9', 'e10')), half);
      await appendFile(half, 'half of an appended part');
      const again = await storage.concat('exports/app/e10/file.csv', keys.map((k) => k.replace('e9', 'e10')), options);
      expect(again).toEqual(result);
      expect(sha(await readAll(storage, 'exports/app/e10/file.csv'))).toBe(sha(whole));
    }
  });

  test('concat of a missing source fails', async () => {
    await expect(storage.concat('exports/app/e6/file.csv', ['exports/app/e6/nope.csv'])).rejects.toBeInstanceOf(StorageNotFoundError);
  });
});

describe('S3 presigned links (SigV4 checked by the server)', () => {
  let storage: S3Storage;
  const body = Buffer.from('id,vendor_data\r\n1,x\r\n');
  beforeAll(async () => {
    const { bucket } = await s3.bucket();
    storage = new S3Storage(s3.settings(bucket));
    await storage.putStream('exports/app/e/users-export-e.csv', Readable.from([body]));
  });

  test('a presigned GET downloads with plain HTTP, as an attachment', async () => {
    const issuedAt = new Date(Math.floor(Date.now() / 1000) * 1000);
    const url = await storage.signedUrl('exports/app/e/users-export-e.csv', {
      issuedAt,
      expiresAt: new Date(issuedAt.getTime() + 3600_000),
      fileName: 'users-export-e.csv',
      baseUrl: 'http://unused',
    });
    expect(url.startsWith(`${s3.endpoint}/`)).toBe(true);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer())).toEqual(body);
    expect(res.headers.get('content-disposition')).toContain('users-export-e.csv');
    // The same period gives the same URL (the API shows it again on every GET).
    expect(
      await storage.signedUrl('exports/app/e/users-export-e.csv', {
        issuedAt,
        expiresAt: new Date(issuedAt.getTime() + 3600_000),
        fileName: 'users-export-e.csv',
        baseUrl: 'http://unused',
      }),
    ).toBe(url);
  });

  test('an altered or expired link is refused', async () => {
    const issuedAt = new Date(Math.floor(Date.now() / 1000) * 1000);
    const url = await storage.signedUrl('exports/app/e/users-export-e.csv', {
      issuedAt,
      expiresAt: new Date(issuedAt.getTime() + 2000),
      fileName: 'users-export-e.csv',
      baseUrl: 'http://unused',
    });
    const altered = [
      url.replace('users-export-e.csv?', 'users-export-f.csv?'),
      url.replace(/X-Amz-Expires=\d+/, 'X-Amz-Expires=604800'),
      url.replace(/X-Amz-Signature=([0-9a-f])/, (_m, c: string) => `X-Amz-Signature=${c === '0' ? '1' : '0'}`),
    ];
    for (const bad of altered) expect((await fetch(bad)).status).toBe(403);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const expired = await fetch(url);
    expect(expired.status).toBe(403);
    expect(await expired.text()).toMatch(/expired/i);
  });
});
