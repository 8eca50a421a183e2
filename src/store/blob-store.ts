/**
 * Where uploaded bytes live: somewhere every node of a deployment can read them. With SQLite (one
 * node) that is a directory beside the database file; with PostgreSQL it is the database itself,
 * in rows of at most 1 MiB, so a file of any size streams in and out in bounded memory.
 *
 * Blobs are written append-only at the offset their owner has committed (the resumable upload's
 * `received_bytes`). A write that dies half-way leaves bytes beyond that offset; the next write at
 * the same offset drops them first, so a blob never holds bytes its owner did not commit.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseHandle } from './database.js';
import { DirectoryBlobStore } from './blob-store-directory.js';
import { PostgresBlobStore } from './blob-store-postgres.js';

export interface BlobStore {
  /** Where the bytes are, for logs: a directory path or `postgres`. */
  readonly location: string;
  /**
   * Writes `source` into blob `key` starting at `offset` (0 creates the blob). Bytes at or beyond
   * `offset` are dropped first. Resolves with the number of bytes written once they are durable.
   */
  write(key: string, offset: number, source: AsyncIterable<Uint8Array>): Promise<number>;
  /** The first `length` bytes of blob `key`, in order; fails when the blob holds fewer. */
  read(key: string, length: number): AsyncIterable<Uint8Array>;
  delete(keys: readonly string[]): Promise<void>;
  /** Every key that starts with `prefix` (the orphan sweep compares them with their owners' rows). */
  list(prefix: string): AsyncIterable<string>;
}

/** Keys are `/`-separated segments of lowercase letters, digits and dashes (safe as file names). */
const KEY = /^[a-z0-9][a-z0-9-]*(\/[a-z0-9][a-z0-9-]*)*$/;

export function checkBlobKey(key: string): string {
  if (!KEY.test(key)) throw new Error(`blob key '${key}' is not valid`);
  return key;
}

export class BlobCorruptError extends Error {
  constructor(key: string, detail: string) {
    super(`stored bytes of '${key}' are incomplete: ${detail}`);
    this.name = 'BlobCorruptError';
  }
}

/**
 * PostgreSQL stores blobs in the database; SQLite in `dir`, by default `<database file>.files`
 * beside the database file (a temporary directory for an in-memory database).
 */
export function createBlobStore(
  handle: DatabaseHandle,
  options: { dir?: string; databaseFile?: string },
): BlobStore {
  if (handle.kind === 'postgres') return new PostgresBlobStore(handle.db);
  const dir =
    options.dir ??
    (options.databaseFile
      ? `${options.databaseFile}.files`
      : mkdtempSync(join(tmpdir(), 'open-interactions-files-')));
  return new DirectoryBlobStore(dir);
}
