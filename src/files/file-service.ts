/**
 * The Files API (spec §9.2): files a project uploads, lists, reads and deletes, and which its
 * interactions use as input. Uploads arrive through the generic resumable protocol (uploads.ts);
 * a finished one becomes an ACTIVE file at once (nothing here needs processing). Files expire
 * `ttl` after they were created; the periodic sweep deletes expired rows and then their bytes.
 */
import { ApiError, invalid, notFound, preconditionFailed } from '../protocol/errors.js';
import { FILE_ID, startFileUploadSchema, type FileResource } from '../protocol/files.js';
import { parseWith } from '../protocol/validate.js';
import type { BlobStore } from '../store/blob-store.js';
import type { FileRecord, FileStore, ProjectUsage, UploadRecord } from '../store/file-store.js';
import { newFileBlobKey, newFileId } from './ids.js';
import { decodePageToken, toPage } from './paging.js';
import { iso, type UploadService } from './uploads.js';
import { fileIdFromUri, fileName, fileUri } from './uri.js';

export interface FileLimits {
  ttlMs: number;
  maxFileBytes: number;
  maxProjectBytes: number;
  maxProjectFiles: number;
  /** Bytes of stored files one interaction may load for its model. */
  maxInteractionBytes: number;
}

export interface FileServiceOptions {
  store: FileStore;
  blobs: BlobStore;
  uploads: UploadService;
  limits: FileLimits;
  clock?: () => number;
  onWarning?: (obj: object, msg: string) => void;
}

/** What the start request of a file upload says, from its headers and JSON body. */
export interface StartFileUploadRequest {
  body: unknown;
  /** `x-goog-upload-header-content-length` */
  sizeHeader?: string;
  /** `x-goog-upload-header-content-type` */
  mimeTypeHeader?: string;
  /** The single-request raw protocol takes size and type from `content-length`/`-type`. */
  raw?: boolean;
}

/** A stored file's bytes, as the model backend gets them. */
export interface LoadedFile {
  data: Uint8Array;
  mimeType: string;
  displayName?: string;
}

/** A content item naming a file: `path` is its JSON path in this request (absent for history). */
export interface FileInputRef {
  uri: string;
  path?: string;
}

/**
 * Files of an interaction by content `uri`; null marks a file an earlier turn used that has since
 * expired or been deleted (the model is told so instead of seeing it).
 */
export type FileInputs = ReadonlyMap<string, LoadedFile | null>;

/** Google's list defaults: 10 per page, at most 100. */
const DEFAULT_PAGE_SIZE = 10;
const MAX_PAGE_SIZE = 100;

export const MIME_TYPE = /^[\w.+-]+\/[\w.+-]+(\s*;.*)?$/;

/** A byte count from a header; undefined when the header is absent. */
export function parseSize(value: string | undefined, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,16}$/.test(value.trim()))
    throw invalid(`${field}: expected a byte count, got '${value.slice(0, 40)}'`);
  return Number(value.trim());
}

export class FileService {
  private readonly clock: () => number;

  constructor(private readonly o: FileServiceOptions) {
    this.clock = o.clock ?? Date.now;
    o.uploads.register('file', (upload, sha256, now) => this.completeUpload(upload, sha256, now));
  }

  /** Validates a start request and opens its upload session (quotas are checked here). */
  async startUpload(project: string, request: StartFileUploadRequest) {
    const { file = {} } = parseWith(startFileUploadSchema, request.body ?? {});
    const sizeName = request.raw ? 'content-length' : 'x-goog-upload-header-content-length';
    const typeName = request.raw ? 'content-type' : 'x-goog-upload-header-content-type';
    const declared = parseSize(request.sizeHeader, sizeName);
    const bodySize = file.sizeBytes === undefined ? undefined : Number(file.sizeBytes);
    if (declared !== undefined && bodySize !== undefined && declared !== bodySize) {
      throw invalid(`file.sizeBytes: ${bodySize} does not match ${sizeName} ${declared}`);
    }
    const size = declared ?? bodySize;
    if (size === undefined) {
      throw invalid(`${sizeName}: required (the size of the file in bytes)`);
    }
    if (size === 0) throw invalid(`${sizeName}: the file is empty`);
    const { maxFileBytes, maxProjectBytes, maxProjectFiles } = this.o.limits;
    if (size > maxFileBytes) {
      throw new ApiError(
        'payload_too_large',
        `${sizeName}: ${size} bytes is more than the limit of ${maxFileBytes} bytes per file (files.max_file_bytes)`,
      );
    }
    const mimeType = file.mimeType ?? request.mimeTypeHeader?.trim();
    if (!mimeType) {
      throw invalid(
        `${typeName}: required (the file's MIME type)${request.raw ? '' : ', or file.mimeType'}`,
      );
    }
    if (!MIME_TYPE.test(mimeType)) {
      throw invalid(
        `${file.mimeType ? 'file.mimeType' : typeName}: '${mimeType.slice(0, 80)}' is not a MIME type`,
      );
    }
    let id = newFileId();
    if (file.name !== undefined) {
      id = file.name.replace(/^files\//, '');
      if (!FILE_ID.test(id)) {
        throw invalid(
          `file.name: '${file.name.slice(0, 80)}' is not a valid name (files/ then up to 40 lowercase letters, digits or dashes, no dash at either end)`,
        );
      }
      if (await this.o.store.fileExists(project, id)) {
        throw invalid(`file.name: '${fileName(id)}' already exists`);
      }
    }
    return this.o.uploads.start({
      project,
      kind: 'file',
      target: { id, ...(file.displayName ? { displayName: file.displayName } : {}) },
      mimeType,
      sizeBytes: size,
      blobKey: newFileBlobKey(),
      admit: (usage: ProjectUsage) => {
        if (usage.files + 1 > maxProjectFiles) {
          throw new ApiError(
            'resource_exhausted',
            `files: the project holds ${usage.files} files (with unfinished uploads), the limit is ${maxProjectFiles} (files.max_project_files); delete files or let them expire`,
          );
        }
        if (usage.bytes + size > maxProjectBytes) {
          throw new ApiError(
            'resource_exhausted',
            `files: the project holds ${usage.bytes} bytes (with unfinished uploads); ${size} more would pass the limit of ${maxProjectBytes} bytes (files.max_project_bytes)`,
          );
        }
      },
    });
  }

  private async completeUpload(
    upload: UploadRecord,
    sha256: string,
    now: number,
  ): Promise<string | undefined> {
    const id = String(upload.target.id);
    const displayName = upload.target.displayName;
    const record: FileRecord = {
      project: upload.project,
      id,
      blobKey: upload.blobKey,
      displayName: typeof displayName === 'string' ? displayName : null,
      mimeType: upload.mimeType,
      sizeBytes: upload.sizeBytes,
      sha256,
      state: 'ACTIVE',
      source: 'UPLOADED',
      error: null,
      createTime: iso(now),
      updateTime: iso(now),
      expirationTime: iso(now + this.o.limits.ttlMs),
    };
    const done = await this.o.store.completeUploadAsFile(
      upload.uploadId,
      upload.receivedBytes,
      record,
      () => {
        throw invalid(`file.name: '${fileName(id)}' already exists`);
      },
    );
    return done ? fileName(id) : undefined;
  }

  /** The wire form; `origin` and `version` are those the client used (they make `uri`). */
  toResource(f: FileRecord, origin: string, version: string): FileResource {
    return {
      name: fileName(f.id),
      ...(f.displayName !== null ? { displayName: f.displayName } : {}),
      mimeType: f.mimeType,
      sizeBytes: String(f.sizeBytes),
      createTime: f.createTime,
      updateTime: f.updateTime,
      expirationTime: f.expirationTime,
      // Google sends base64 of the lowercase hex digest, not of the raw digest: its File JSON
      // for a PNG carried "MTgzNjUw…" = base64("183650e2…"), see googleapis/js-genai#381.
      sha256Hash: Buffer.from(f.sha256).toString('base64'),
      uri: fileUri(origin, version, f.id),
      state: f.state,
      source: f.source,
      ...(f.error ? { error: f.error } : {}),
    };
  }

  async get(project: string, id: string): Promise<FileRecord> {
    const file = await this.o.store.getFile(project, id, iso(this.clock()));
    if (!file) throw notFound(`file '${fileName(id)}' not found`);
    return file;
  }

  async list(
    project: string,
    pageSize: number | undefined,
    pageToken: string | undefined,
  ): Promise<{ files: FileRecord[]; nextPageToken?: string }> {
    const size = Math.min(pageSize ?? DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
    const cursor = pageToken ? decodePageToken(pageToken) : undefined;
    const rows = await this.o.store.listFiles(project, iso(this.clock()), size + 1, cursor);
    const { items, nextPageToken } = toPage(rows, size);
    return nextPageToken ? { files: items, nextPageToken } : { files: items };
  }

  async delete(project: string, id: string): Promise<void> {
    const key = await this.o.store.deleteFile(project, id, iso(this.clock()));
    if (key === undefined) throw notFound(`file '${fileName(id)}' not found`);
    // The row is gone, so the file is; bytes a failed delete leaves are found by the orphan sweep.
    await this.o.blobs
      .delete([key])
      .catch((err: unknown) => this.o.onWarning?.({ err }, 'could not delete the bytes of a file'));
  }

  /**
   * Loads the files content items name, checked against the caller's project: a file named in
   * this request must exist (404 naming its path) and be ACTIVE; one named only by history may
   * be gone (null). Sizes are checked against the per-interaction limit before any byte is read.
   */
  async loadForInteraction(project: string, refs: readonly FileInputRef[]): Promise<FileInputs> {
    const now = iso(this.clock());
    const found = new Map<string, FileRecord | null>();
    let total = 0;
    for (const ref of refs) {
      if (found.get(ref.uri) !== undefined) continue;
      const id = fileIdFromUri(ref.uri)!;
      const file = FILE_ID.test(id) ? await this.o.store.getFile(project, id, now) : undefined;
      if (ref.path === undefined) {
        if (!found.has(ref.uri)) found.set(ref.uri, file?.state === 'ACTIVE' ? file : null);
        if (file?.state === 'ACTIVE') total += file.sizeBytes;
      } else {
        if (!file) throw notFound(`${ref.path}.uri: file '${fileName(id)}' not found`);
        if (file.state !== 'ACTIVE') {
          throw preconditionFailed(
            `${ref.path}.uri: file '${fileName(id)}' is ${file.state}; only ACTIVE files can be used`,
          );
        }
        found.set(ref.uri, file);
        total += file.sizeBytes;
      }
      if (total > this.o.limits.maxInteractionBytes) {
        throw new ApiError(
          'payload_too_large',
          `${ref.path ? `${ref.path}.uri` : 'previous_interaction_id'}: the files this interaction uses add up to more than ${this.o.limits.maxInteractionBytes} bytes (files.max_interaction_bytes)`,
        );
      }
    }
    const loaded = new Map<string, LoadedFile | null>();
    for (const [uri, file] of found) {
      if (!file) {
        loaded.set(uri, null);
        continue;
      }
      const data = Buffer.allocUnsafe(file.sizeBytes);
      let at = 0;
      for await (const chunk of this.o.blobs.read(file.blobKey, file.sizeBytes)) {
        data.set(chunk, at);
        at += chunk.length;
      }
      loaded.set(uri, {
        data,
        mimeType: file.mimeType,
        ...(file.displayName !== null ? { displayName: file.displayName } : {}),
      });
    }
    return loaded;
  }

  /** Deletes expired files and unfinished uploads, then their bytes; returns how many. */
  async sweep(): Promise<number> {
    let deleted = 0;
    for (;;) {
      const keys = await this.o.store.deleteExpired(iso(this.clock()));
      if (keys.length === 0) return deleted;
      await this.o.blobs.delete(keys);
      deleted += keys.length;
    }
  }

  /** Deletes bytes no row owns (left when a process died between deleting a row and its bytes). */
  async sweepOrphans(): Promise<number> {
    const keys: string[] = [];
    for await (const key of this.o.blobs.list('files/')) keys.push(key);
    let deleted = 0;
    for (let i = 0; i < keys.length; i += 500) {
      const orphans = await this.o.store.unownedBlobKeys(keys.slice(i, i + 500));
      await this.o.blobs.delete(orphans);
      deleted += orphans.length;
    }
    return deleted;
  }
}
