import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileService } from '../../src/files/file-service.js';
import { UploadService } from '../../src/files/uploads.js';
import { BlobCorruptError, createBlobStore, type BlobStore } from '../../src/store/blob-store.js';
import { BLOB_ROW_BYTES } from '../../src/store/blob-store-postgres.js';
import { openDatabase, sqliteFilePath, type DatabaseHandle } from '../../src/store/database.js';
import { FileStore } from '../../src/store/file-store.js';
import { SqlStore } from '../../src/store/sql-store.js';
import { STORE_KINDS, createTestDatabase, type TestDatabase } from '../support/databases.js';

/** Yields `bytes` in pieces of the given sizes (the last piece takes the rest). */
async function* pieces(bytes: Buffer, sizes: number[]): AsyncGenerator<Uint8Array> {
  let at = 0;
  for (const size of sizes) {
    yield bytes.subarray(at, at + size);
    at += size;
  }
  if (at < bytes.length) yield bytes.subarray(at);
}

/** Yields `bytes`, then fails as a dropped connection does. */
async function* dropsAfter(bytes: Buffer): AsyncGenerator<Uint8Array> {
  yield bytes;
  throw new Error('connection reset');
}

async function readAll(blobs: BlobStore, key: string, length: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of blobs.read(key, length)) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

async function keys(blobs: BlobStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const key of blobs.list(prefix)) out.push(key);
  return out.sort();
}

describe.each(STORE_KINDS)('blob store (%s)', (kind) => {
  let db: TestDatabase;
  let handle: DatabaseHandle;
  let blobs: BlobStore;
  beforeAll(async () => {
    db = await createTestDatabase(kind);
    handle = openDatabase(db.url);
    await new SqlStore(handle).migrate();
    blobs = createBlobStore(handle, { databaseFile: sqliteFilePath(db.url) });
  });
  afterAll(async () => {
    await handle.db.destroy();
    await db.drop();
  });

  it('appends at offsets in pieces of any size and reads the same bytes back', async () => {
    const bytes = randomBytes(BLOB_ROW_BYTES * 2 + 12_345);
    const split = BLOB_ROW_BYTES + 777;
    expect(
      await blobs.write('files/appended', 0, pieces(bytes.subarray(0, split), [1, 70_000])),
    ).toBe(split);
    expect(
      await blobs.write(
        'files/appended',
        split,
        pieces(bytes.subarray(split), [BLOB_ROW_BYTES, 3]),
      ),
    ).toBe(bytes.length - split);
    expect((await readAll(blobs, 'files/appended', bytes.length)).equals(bytes)).toBe(true);
    // A prefix reads as a prefix.
    expect((await readAll(blobs, 'files/appended', 1000)).equals(bytes.subarray(0, 1000))).toBe(
      true,
    );
  });

  it('drops what an interrupted write left beyond the committed offset', async () => {
    const good = randomBytes(5000);
    await blobs.write('files/interrupted', 0, pieces(good, []));
    await expect(
      blobs.write('files/interrupted', 5000, dropsAfter(randomBytes(BLOB_ROW_BYTES + 10))),
    ).rejects.toThrow('connection reset');
    const rest = randomBytes(300);
    expect(await blobs.write('files/interrupted', 5000, pieces(rest, []))).toBe(300);
    const all = Buffer.concat([good, rest]);
    expect((await readAll(blobs, 'files/interrupted', all.length)).equals(all)).toBe(true);
    // Asking for more than the blob holds is an error, not a short read.
    await expect(readAll(blobs, 'files/interrupted', all.length + 1)).rejects.toBeInstanceOf(
      BlobCorruptError,
    );
    await expect(readAll(blobs, 'files/never-written', 10)).rejects.toBeInstanceOf(
      BlobCorruptError,
    );
  });

  it('lists keys by prefix and deletes them', async () => {
    await blobs.write('other/kept', 0, pieces(randomBytes(10), []));
    expect(await keys(blobs, 'files/')).toEqual(['files/appended', 'files/interrupted']);
    await blobs.delete(['files/appended', 'files/interrupted', 'files/absent']);
    expect(await keys(blobs, 'files/')).toEqual([]);
    expect(await keys(blobs, 'other/')).toEqual(['other/kept']);
    await expect(blobs.delete(['../escape'])).rejects.toThrow(/not valid/);
  });

  it('the orphan sweep deletes bytes no row owns and keeps those of an upload in progress', async () => {
    const store = new FileStore(handle);
    const uploads = new UploadService({ store, blobs, ttlMs: 3_600_000 });
    const files = new FileService({
      store,
      blobs,
      uploads,
      limits: {
        ttlMs: 3_600_000,
        maxFileBytes: 1000,
        maxProjectBytes: 10_000,
        maxProjectFiles: 10,
        maxInteractionBytes: 1000,
      },
    });
    const upload = await files.startUpload('p', {
      body: {},
      sizeHeader: '100',
      mimeTypeHeader: 'text/plain',
    });
    await uploads.write(upload.uploadId, 'p', {
      offset: 0,
      finalize: false,
      body: pieces(randomBytes(40), []),
    });
    await blobs.write('files/orphan', 0, pieces(randomBytes(10), []));
    expect(await keys(blobs, 'files/')).toEqual([upload.blobKey, 'files/orphan'].sort());
    expect(await files.sweepOrphans()).toBe(1);
    expect(await keys(blobs, 'files/')).toEqual([upload.blobKey]);
  });
});
