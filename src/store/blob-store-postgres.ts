import type { Kysely } from 'kysely';
import type { DatabaseSchema } from './database.js';
import { BlobCorruptError, checkBlobKey, type BlobStore } from './blob-store.js';

interface BlobChunksTable {
  blob_key: string;
  /** Byte offset of the row's first byte within its blob (int8: pg returns it as a string). */
  start_offset: number | string;
  data: Buffer;
}

type Schema = { blob_chunks: BlobChunksTable };

/** Bytes per row: large enough to keep rows few, small enough to stream in bounded memory. */
export const BLOB_ROW_BYTES = 1024 * 1024;
/** Rows fetched per query while reading. */
const READ_BATCH = 4;

/**
 * Blobs in PostgreSQL, as rows of at most 1 MiB keyed by (blob, offset): every node reads what
 * any node wrote. A write inserts each row as soon as it is full (no transaction held open while
 * a client sends), so an interrupted write leaves rows beyond the committed offset; the next
 * write at that offset deletes them first.
 */
export class PostgresBlobStore implements BlobStore {
  readonly location = 'postgres';
  private readonly db: Kysely<Schema>;

  constructor(db: Kysely<DatabaseSchema>) {
    // This module owns its table; the shared DatabaseSchema describes the others.
    this.db = db as unknown as Kysely<Schema>;
  }

  async write(key: string, offset: number, source: AsyncIterable<Uint8Array>): Promise<number> {
    checkBlobKey(key);
    await this.db
      .deleteFrom('blob_chunks')
      .where('blob_key', '=', key)
      .where('start_offset', '>=', offset)
      .execute();
    let position = offset;
    let row = Buffer.allocUnsafe(BLOB_ROW_BYTES);
    let fill = 0;
    const flush = async () => {
      await this.db
        .insertInto('blob_chunks')
        .values({ blob_key: key, start_offset: position, data: row.subarray(0, fill) })
        .execute();
      position += fill;
      // pg has serialised the row by now; a fresh buffer keeps that independent of the driver.
      row = Buffer.allocUnsafe(BLOB_ROW_BYTES);
      fill = 0;
    };
    for await (const chunk of source) {
      let done = 0;
      while (done < chunk.length) {
        const n = Math.min(BLOB_ROW_BYTES - fill, chunk.length - done);
        row.set(chunk.subarray(done, done + n), fill);
        fill += n;
        done += n;
        if (fill === BLOB_ROW_BYTES) await flush();
      }
    }
    if (fill > 0) await flush();
    return position - offset;
  }

  async *read(key: string, length: number): AsyncIterable<Uint8Array> {
    let position = 0;
    batches: while (position < length) {
      const rows = await this.db
        .selectFrom('blob_chunks')
        .select(['start_offset', 'data'])
        .where('blob_key', '=', key)
        .where('start_offset', '>=', position)
        .where('start_offset', '<', length)
        .orderBy('start_offset')
        .limit(READ_BATCH)
        .execute();
      if (rows.length === 0) break;
      for (const row of rows) {
        if (Number(row.start_offset) !== position) break batches; // a gap: reported below
        const data = row.data.subarray(0, Math.min(row.data.length, length - position));
        position += data.length;
        yield data;
      }
    }
    if (position < length) throw new BlobCorruptError(key, `holds ${position} of ${length} bytes`);
  }

  async delete(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    keys.forEach(checkBlobKey);
    await this.db.deleteFrom('blob_chunks').where('blob_key', 'in', keys).execute();
  }

  async *list(prefix: string): AsyncIterable<string> {
    const rows = await this.db
      .selectFrom('blob_chunks')
      .select('blob_key')
      .distinct()
      .where('blob_key', 'like', `${prefix.replace(/[\\%_]/g, '\\$&')}%`)
      .execute();
    for (const row of rows) yield row.blob_key;
  }
}
