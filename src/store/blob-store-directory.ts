import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { BlobCorruptError, checkBlobKey, type BlobStore } from './blob-store.js';

const isMissing = (err: unknown) => (err as { code?: string }).code === 'ENOENT';

/** Blobs as files under one directory (the SQLite deployment: one node, one disk). */
export class DirectoryBlobStore implements BlobStore {
  constructor(readonly location: string) {}

  private path(key: string): string {
    return join(this.location, ...checkBlobKey(key).split('/'));
  }

  async write(key: string, offset: number, source: AsyncIterable<Uint8Array>): Promise<number> {
    const path = this.path(key);
    await mkdir(dirname(path), { recursive: true });
    const file = await open(path, offset === 0 ? 'w' : 'r+').catch((err: unknown) => {
      throw isMissing(err) ? new BlobCorruptError(key, 'the file is missing') : err;
    });
    try {
      if (offset > 0) {
        const { size } = await file.stat();
        if (size < offset) {
          throw new BlobCorruptError(key, `holds ${size} bytes, expected at least ${offset}`);
        }
        await file.truncate(offset);
      }
      let position = offset;
      for await (const chunk of source) {
        let done = 0;
        while (done < chunk.length) {
          const { bytesWritten } = await file.write(chunk, done, chunk.length - done, position);
          done += bytesWritten;
          position += bytesWritten;
        }
      }
      await file.datasync();
      return position - offset;
    } finally {
      await file.close();
    }
  }

  async *read(key: string, length: number): AsyncIterable<Uint8Array> {
    if (length === 0) return;
    let seen = 0;
    try {
      for await (const chunk of createReadStream(this.path(key), { start: 0, end: length - 1 })) {
        seen += (chunk as Buffer).length;
        yield chunk as Buffer;
      }
    } catch (err) {
      throw isMissing(err) ? new BlobCorruptError(key, 'the file is missing') : err;
    }
    if (seen < length) throw new BlobCorruptError(key, `holds ${seen} of ${length} bytes`);
  }

  async delete(keys: readonly string[]): Promise<void> {
    await Promise.all(keys.map((key) => rm(this.path(key), { force: true })));
  }

  async *list(prefix: string): AsyncIterable<string> {
    const walk = async function* (dir: string, key: string): AsyncGenerator<string> {
      const entries = await readdir(dir, { withFileTypes: true }).catch((err: unknown) => {
        if (isMissing(err)) return [];
        throw err;
      });
      for (const entry of entries) {
        const child = key ? `${key}/${entry.name}` : entry.name;
        if (entry.isDirectory()) yield* walk(join(dir, entry.name), child);
        else if (child.startsWith(prefix)) yield child;
      }
    };
    yield* walk(this.location, '');
  }
}
