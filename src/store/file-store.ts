/**
 * Rows of the Files API: resumable upload sessions (`uploads`) and the files they produce
 * (`files`). The bytes live in a BlobStore under the row's `blob_key`; a row always exists before
 * its blob is written and is deleted before its blob is, so a blob without a row is an orphan
 * that the sweep may remove.
 *
 * Upload sessions are generic: `kind` says what a finished upload becomes (a file, or a File
 * Search document) and `target` holds what the start request asked.
 * Every query a client can reach takes the project; only the capability-style upload id and the
 * sweep look rows up without one.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import type { JsonObject } from '../protocol/types.js';
import type { DatabaseHandle, DatabaseKind } from './database.js';
import { newestFirstPage, type ListCursor } from './newest-first.js';

interface UploadsTable {
  upload_id: string;
  project: string;
  kind: string;
  target: string;
  mime_type: string;
  size_bytes: number | string;
  received_bytes: number | string;
  blob_key: string;
  state: string;
  result: string | null;
  create_time: string;
  expiration_time: string;
}

interface FilesTable {
  project: string;
  id: string;
  blob_key: string;
  display_name: string | null;
  mime_type: string;
  size_bytes: number | string;
  sha256: string;
  state: string;
  source: string;
  error: string | null;
  create_time: string;
  update_time: string;
  expiration_time: string;
}

type Schema = { uploads: UploadsTable; files: FilesTable };

export type UploadState = 'active' | 'final';

export interface UploadRecord {
  uploadId: string;
  project: string;
  /** What the finished upload becomes, e.g. `file`. */
  kind: string;
  /** What the start request asked for (display name, chosen id, …), by kind. */
  target: JsonObject;
  mimeType: string;
  sizeBytes: number;
  receivedBytes: number;
  blobKey: string;
  state: UploadState;
  /** Once final: the name of what it produced (`files/abc`). */
  result: string | null;
  createTime: string;
  expirationTime: string;
}

export type FileState = 'PROCESSING' | 'ACTIVE' | 'FAILED';
export type FileSource = 'UPLOADED' | 'GENERATED' | 'REGISTERED';

export interface FileRecord {
  project: string;
  id: string;
  blobKey: string;
  displayName: string | null;
  mimeType: string;
  sizeBytes: number;
  /** Hex SHA-256 of the bytes. */
  sha256: string;
  state: FileState;
  source: FileSource;
  error: { code: number; message: string } | null;
  createTime: string;
  updateTime: string;
  expirationTime: string;
}

/** What a project holds now: stored files plus the sizes unfinished uploads have announced. */
export interface ProjectUsage {
  files: number;
  bytes: number;
}

function uploadFromRow(row: UploadsTable): UploadRecord {
  return {
    uploadId: row.upload_id,
    project: row.project,
    kind: row.kind,
    target: JSON.parse(row.target) as JsonObject,
    mimeType: row.mime_type,
    sizeBytes: Number(row.size_bytes),
    receivedBytes: Number(row.received_bytes),
    blobKey: row.blob_key,
    state: row.state as UploadState,
    result: row.result,
    createTime: row.create_time,
    expirationTime: row.expiration_time,
  };
}

function fileFromRow(row: FilesTable): FileRecord {
  return {
    project: row.project,
    id: row.id,
    blobKey: row.blob_key,
    displayName: row.display_name,
    mimeType: row.mime_type,
    sizeBytes: Number(row.size_bytes),
    sha256: row.sha256,
    state: row.state as FileState,
    source: row.source as FileSource,
    error: row.error ? (JSON.parse(row.error) as FileRecord['error']) : null,
    createTime: row.create_time,
    updateTime: row.update_time,
    expirationTime: row.expiration_time,
  };
}

function fileToRow(r: FileRecord): FilesTable {
  return {
    project: r.project,
    id: r.id,
    blob_key: r.blobKey,
    display_name: r.displayName,
    mime_type: r.mimeType,
    size_bytes: r.sizeBytes,
    sha256: r.sha256,
    state: r.state,
    source: r.source,
    error: r.error ? JSON.stringify(r.error) : null,
    create_time: r.createTime,
    update_time: r.updateTime,
    expiration_time: r.expirationTime,
  };
}

/** Rows the sweep deletes per statement. */
const SWEEP_BATCH = 200;

export class FileStore {
  private readonly db: Kysely<Schema>;
  private readonly kind: DatabaseKind;

  constructor(handle: DatabaseHandle) {
    // This module owns its tables; the shared DatabaseSchema describes the others.
    this.db = handle.db as unknown as Kysely<Schema>;
    this.kind = handle.kind;
  }

  /**
   * Serialises quota decisions of one project. On SQLite every transaction already runs alone on
   * the single connection; PostgreSQL takes a transaction-scoped advisory lock on the project.
   */
  private async lockProject(trx: Transaction<Schema>, project: string): Promise<void> {
    if (this.kind === 'postgres') {
      await sql`select pg_advisory_xact_lock(hashtext(${`files:${project}`}))`.execute(trx);
    }
  }

  private async usageIn(db: Kysely<Schema>, project: string, now: string): Promise<ProjectUsage> {
    const files = await db
      .selectFrom('files')
      .select((eb) => [
        eb.fn.countAll<number | string>().as('n'),
        eb.fn.coalesce(eb.fn.sum<number | string>('size_bytes'), sql<number>`0`).as('bytes'),
      ])
      .where('project', '=', project)
      .where('expiration_time', '>', now)
      .executeTakeFirstOrThrow();
    const uploads = await db
      .selectFrom('uploads')
      .select((eb) => [
        eb.fn.countAll<number | string>().as('n'),
        eb.fn.coalesce(eb.fn.sum<number | string>('size_bytes'), sql<number>`0`).as('bytes'),
      ])
      .where('project', '=', project)
      .where('state', '=', 'active')
      .where('expiration_time', '>', now)
      .executeTakeFirstOrThrow();
    return {
      files: Number(files.n) + Number(uploads.n),
      bytes: Number(files.bytes) + Number(uploads.bytes),
    };
  }

  /**
   * Creates an upload session if `admit` accepts the project's usage with it (checked and
   * inserted under the project's lock, so parallel starts cannot overshoot a quota together).
   */
  async createUpload(
    record: UploadRecord,
    now: string,
    admit: (usage: ProjectUsage) => void,
  ): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await this.lockProject(trx, record.project);
      admit(await this.usageIn(trx, record.project, now));
      await trx
        .insertInto('uploads')
        .values({
          upload_id: record.uploadId,
          project: record.project,
          kind: record.kind,
          target: JSON.stringify(record.target),
          mime_type: record.mimeType,
          size_bytes: record.sizeBytes,
          received_bytes: record.receivedBytes,
          blob_key: record.blobKey,
          state: record.state,
          result: record.result,
          create_time: record.createTime,
          expiration_time: record.expirationTime,
        })
        .execute();
    });
  }

  async getUpload(uploadId: string): Promise<UploadRecord | undefined> {
    const row = await this.db
      .selectFrom('uploads')
      .selectAll()
      .where('upload_id', '=', uploadId)
      .executeTakeFirst();
    return row ? uploadFromRow(row) : undefined;
  }

  /**
   * Commits bytes written from `from` to `to`; false when another request moved the session on
   * first (then the caller's bytes are not part of the upload).
   */
  async commitUpload(uploadId: string, from: number, to: number): Promise<boolean> {
    const result = await this.db
      .updateTable('uploads')
      .set({ received_bytes: to })
      .where('upload_id', '=', uploadId)
      .where('state', '=', 'active')
      .where('received_bytes', '=', from)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /**
   * Finishes an upload as a file in one transaction: the session becomes final (if it still
   * stood at `from`) and the file row appears. `exists` is called when the file's id is taken.
   */
  async completeUploadAsFile(
    uploadId: string,
    from: number,
    file: FileRecord,
    exists: () => never,
  ): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      await this.lockProject(trx, file.project);
      const taken = await trx
        .selectFrom('files')
        .select('id')
        .where('project', '=', file.project)
        .where('id', '=', file.id)
        .executeTakeFirst();
      if (taken) exists();
      // A finished session answers `query` for as long as its file lives.
      const final = await this.markUploadFinal(trx as unknown as Kysely<unknown>, uploadId, from, {
        sizeBytes: file.sizeBytes,
        result: `files/${file.id}`,
        expirationTime: file.expirationTime,
      });
      if (!final) return false;
      await trx.insertInto('files').values(fileToRow(file)).execute();
      return true;
    });
  }

  /**
   * Inside the caller's transaction (the finalizer of an upload kind): marks the session final if
   * it still stood at `from`. False when another request moved it on first.
   */
  async markUploadFinal(
    trx: Kysely<unknown>,
    uploadId: string,
    from: number,
    final: { sizeBytes: number; result: string; expirationTime: string },
  ): Promise<boolean> {
    const result = await (trx as Kysely<Schema>)
      .updateTable('uploads')
      .set({
        received_bytes: final.sizeBytes,
        state: 'final',
        result: final.result,
        expiration_time: final.expirationTime,
      })
      .where('upload_id', '=', uploadId)
      .where('state', '=', 'active')
      .where('received_bytes', '=', from)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** Ends a session; returns the blob key to delete unless the upload became a file. */
  async deleteUpload(uploadId: string): Promise<string | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('uploads')
        .select(['blob_key', 'state'])
        .where('upload_id', '=', uploadId)
        .executeTakeFirst();
      if (!row) return undefined;
      await trx.deleteFrom('uploads').where('upload_id', '=', uploadId).execute();
      return row.state === 'active' ? row.blob_key : undefined;
    });
  }

  async fileExists(project: string, id: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('files')
      .select('id')
      .where('project', '=', project)
      .where('id', '=', id)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** A file of the project that has not expired by `now`. */
  async getFile(project: string, id: string, now: string): Promise<FileRecord | undefined> {
    const row = await this.db
      .selectFrom('files')
      .selectAll()
      .where('project', '=', project)
      .where('id', '=', id)
      .where('expiration_time', '>', now)
      .executeTakeFirst();
    return row ? fileFromRow(row) : undefined;
  }

  /** Up to `limit` unexpired files of the project, newest first, after `cursor`. */
  async listFiles(
    project: string,
    now: string,
    limit: number,
    cursor?: ListCursor,
  ): Promise<FileRecord[]> {
    const query = this.db
      .selectFrom('files')
      .selectAll()
      .where('project', '=', project)
      .where('expiration_time', '>', now);
    const rows = await newestFirstPage(query, limit, cursor).execute();
    return rows.map(fileFromRow);
  }

  /** Deletes a file row; returns its blob key (to delete next) or undefined when absent. */
  async deleteFile(project: string, id: string, now: string): Promise<string | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('files')
        .select('blob_key')
        .where('project', '=', project)
        .where('id', '=', id)
        .where('expiration_time', '>', now)
        .executeTakeFirst();
      if (!row) return undefined;
      await trx.deleteFrom('files').where('project', '=', project).where('id', '=', id).execute();
      await trx.deleteFrom('uploads').where('blob_key', '=', row.blob_key).execute();
      return row.blob_key;
    });
  }

  /**
   * Deletes up to a batch of files and unfinished uploads that expired by `now`; returns the
   * blob keys they owned (the caller deletes the bytes, then calls again until nothing is left).
   */
  async deleteExpired(now: string): Promise<string[]> {
    return this.db.transaction().execute(async (trx) => {
      const files = await trx
        .selectFrom('files')
        .select('blob_key')
        .where('expiration_time', '<=', now)
        .limit(SWEEP_BATCH)
        .execute();
      const uploads = await trx
        .selectFrom('uploads')
        .select('blob_key')
        .where('state', '=', 'active')
        .where('expiration_time', '<=', now)
        .limit(SWEEP_BATCH)
        .execute();
      const keys = [...new Set([...files, ...uploads].map((r) => r.blob_key))];
      if (keys.length > 0) {
        await trx.deleteFrom('files').where('blob_key', 'in', keys).execute();
        await trx.deleteFrom('uploads').where('blob_key', 'in', keys).execute();
      }
      // Finished sessions own no bytes (their file does); they only answer `query` until then.
      await trx
        .deleteFrom('uploads')
        .where('state', '=', 'final')
        .where('expiration_time', '<=', now)
        .execute();
      return keys;
    });
  }

  /** The keys among `keys` that no upload or file row owns. */
  async unownedBlobKeys(keys: readonly string[]): Promise<string[]> {
    if (keys.length === 0) return [];
    const owned = new Set<string>();
    for (const table of ['files', 'uploads'] as const) {
      const rows = await this.db
        .selectFrom(table)
        .select('blob_key')
        .where('blob_key', 'in', keys)
        .execute();
      for (const row of rows) owned.add(row.blob_key);
    }
    return keys.filter((k) => !owned.has(k));
  }
}
