/**
 * The resumable upload protocol (spec §9.1) as a state machine over stored sessions, so a client
 * may send each chunk to a different node: a session starts with a declared size; chunks append
 * at exactly the offset received so far; `finalize` hands the complete bytes to the session's
 * kind (today: a file) in the same transaction that marks the session final. A chunk that fails
 * for any reason (wrong offset, too many bytes, a dropped connection, a finalize with the wrong
 * total) is discarded whole: `query` then reports the last committed size to resume from.
 *
 * The SHA-256 of the bytes is computed while they arrive when consecutive chunks reach the same
 * node (a hash cannot be stored half-way); otherwise finalize reads the bytes back once.
 */
import { createHash, type Hash } from 'node:crypto';
import { ApiError, invalid, notFound } from '../protocol/errors.js';
import type { JsonObject } from '../protocol/types.js';
import type { BlobStore } from '../store/blob-store.js';
import type { FileStore, ProjectUsage, UploadRecord } from '../store/file-store.js';
import { newUploadId } from './ids.js';

/**
 * Turns a complete upload into its resource, atomically with marking the session final (at
 * `upload.receivedBytes`, the offset of the last chunk). Resolves with the resource's name, or
 * undefined when the session moved on concurrently.
 */
export type UploadFinalizer = (
  upload: UploadRecord,
  sha256: string,
  now: number,
) => Promise<string | undefined>;

export interface UploadServiceOptions {
  store: FileStore;
  blobs: BlobStore;
  /** Unfinished sessions expire this long after they started. */
  ttlMs: number;
  clock?: () => number;
}

export interface StartUpload {
  project: string;
  kind: string;
  target: JsonObject;
  mimeType: string;
  sizeBytes: number;
  blobKey: string;
  /** Throws when the project may not take this upload (quotas). */
  admit: (usage: ProjectUsage) => void;
}

export interface ChunkRequest {
  /** The byte offset the client says this chunk starts at (`x-goog-upload-offset`). */
  offset: number;
  finalize: boolean;
  body: AsyncIterable<Uint8Array> | undefined;
}

/** Hashes in flight per session, so a whole upload is not read back at finalize. */
interface RunningHash {
  hash: Hash;
  offset: number;
}
const MAX_RUNNING_HASHES = 256;

/** Thrown by the byte counter when a chunk carries more bytes than the declared size allows. */
class TooManyBytes extends Error {}
/** The request body failed before its end (the client went away or stalled). */
class BodyInterrupted extends Error {}

async function* limitBytes(
  source: AsyncIterable<Uint8Array>,
  max: number,
  hash: Hash | undefined,
): AsyncGenerator<Uint8Array> {
  let seen = 0;
  const iterator = source[Symbol.asyncIterator]();
  for (;;) {
    let next: IteratorResult<Uint8Array>;
    try {
      next = await iterator.next();
    } catch (err) {
      throw new BodyInterrupted((err as Error).message);
    }
    if (next.done) return;
    seen += next.value.length;
    if (seen > max) throw new TooManyBytes();
    hash?.update(next.value);
    yield next.value;
  }
}

export const iso = (ms: number) => new Date(ms).toISOString();

export class UploadService {
  private readonly finalizers = new Map<string, UploadFinalizer>();
  private readonly hashes = new Map<string, RunningHash>();
  /**
   * Writes in flight per session on this node. A chunk waits for the one before it: a request
   * whose client vanished keeps writing until its body stream fails, and the resumed chunk must
   * not write beside it.
   */
  private readonly writing = new Map<string, Promise<unknown>>();
  private readonly clock: () => number;

  constructor(private readonly o: UploadServiceOptions) {
    this.clock = o.clock ?? Date.now;
  }

  /** Registers what a finished upload of `kind` becomes. */
  register(kind: string, finalizer: UploadFinalizer): void {
    this.finalizers.set(kind, finalizer);
  }

  async start(params: StartUpload): Promise<UploadRecord> {
    const now = this.clock();
    const record: UploadRecord = {
      uploadId: newUploadId(),
      project: params.project,
      kind: params.kind,
      target: params.target,
      mimeType: params.mimeType,
      sizeBytes: params.sizeBytes,
      receivedBytes: 0,
      blobKey: params.blobKey,
      state: 'active',
      result: null,
      createTime: iso(now),
      expirationTime: iso(now + this.o.ttlMs),
    };
    await this.o.store.createUpload(record, iso(now), params.admit);
    return record;
  }

  /**
   * The session an upload id names. `project` is the caller's when the request carried a key:
   * a session of another project is not found, as is one that expired.
   */
  async session(uploadId: string, project: string | undefined): Promise<UploadRecord> {
    const upload = await this.o.store.getUpload(uploadId);
    if (
      !upload ||
      (project !== undefined && upload.project !== project) ||
      upload.expirationTime <= iso(this.clock())
    ) {
      throw notFound('upload_id: no such upload session (it may have expired or been cancelled)');
    }
    return upload;
  }

  /** Appends one chunk and finalizes when asked; returns the session as it now stands. */
  async write(
    uploadId: string,
    project: string | undefined,
    chunk: ChunkRequest,
  ): Promise<UploadRecord> {
    const before = this.writing.get(uploadId);
    const result = (async () => {
      await before?.catch(() => {});
      return this.writeNext(uploadId, project, chunk);
    })();
    this.writing.set(uploadId, result);
    try {
      return await result;
    } finally {
      if (this.writing.get(uploadId) === result) this.writing.delete(uploadId);
    }
  }

  private async writeNext(
    uploadId: string,
    project: string | undefined,
    chunk: ChunkRequest,
  ): Promise<UploadRecord> {
    const upload = await this.session(uploadId, project);
    if (upload.state === 'final') {
      throw new UploadStateError(upload, 'x-goog-upload-command: the upload is already finalized');
    }
    if (chunk.offset !== upload.receivedBytes) {
      throw new UploadStateError(
        upload,
        `x-goog-upload-offset: ${chunk.offset} does not match the ${upload.receivedBytes} bytes received so far (send x-goog-upload-command: query to resume)`,
      );
    }
    const running = this.hashes.get(uploadId);
    const hash =
      running?.offset === chunk.offset
        ? running.hash.copy()
        : chunk.offset === 0
          ? createHash('sha256')
          : undefined;
    const remaining = upload.sizeBytes - chunk.offset;
    let written = 0;
    if (chunk.body) {
      try {
        written = await this.o.blobs.write(
          upload.blobKey,
          chunk.offset,
          limitBytes(chunk.body, remaining, hash),
        );
      } catch (err) {
        if (err instanceof TooManyBytes) {
          throw new UploadStateError(
            upload,
            `body: the chunk at offset ${chunk.offset} carries more than the ${remaining} bytes left of the declared ${upload.sizeBytes} (x-goog-upload-header-content-length)`,
          );
        }
        if (err instanceof BodyInterrupted) {
          throw new UploadStateError(
            upload,
            `body: the chunk at offset ${chunk.offset} ended early (${err.message}); send x-goog-upload-command: query to resume`,
          );
        }
        throw err;
      }
    }
    const received = chunk.offset + written;
    if (chunk.finalize && received !== upload.sizeBytes) {
      throw new UploadStateError(
        upload,
        `x-goog-upload-command: finalize after ${received} bytes, but the upload declared ${upload.sizeBytes} (x-goog-upload-header-content-length)`,
      );
    }
    if (!chunk.finalize) {
      if (!(await this.o.store.commitUpload(uploadId, chunk.offset, received))) {
        return this.lostRace(upload);
      }
      this.remember(uploadId, hash, received);
      return { ...upload, receivedBytes: received };
    }
    const sha256 = hash ? hash.digest('hex') : await this.hashStored(upload);
    const finalizer = this.finalizers.get(upload.kind);
    if (!finalizer)
      throw new ApiError('internal_error', `no finalizer for uploads of ${upload.kind}`);
    this.hashes.delete(uploadId);
    const result = await finalizer(upload, sha256, this.clock());
    if (result === undefined) return this.lostRace(upload);
    return { ...upload, receivedBytes: received, state: 'final', result };
  }

  /** Another request committed first (or the session ended): this chunk is not part of it. */
  private async lostRace(upload: UploadRecord): Promise<never> {
    const now = await this.o.store.getUpload(upload.uploadId);
    if (!now) await this.o.blobs.delete([upload.blobKey]);
    throw invalid(
      'x-goog-upload-offset: another request wrote to this upload at the same time; send x-goog-upload-command: query and resume',
    );
  }

  private remember(uploadId: string, hash: Hash | undefined, offset: number): void {
    this.hashes.delete(uploadId);
    if (!hash) return;
    if (this.hashes.size >= MAX_RUNNING_HASHES)
      this.hashes.delete(this.hashes.keys().next().value!);
    this.hashes.set(uploadId, { hash, offset });
  }

  private async hashStored(upload: UploadRecord): Promise<string> {
    const hash = createHash('sha256');
    for await (const chunk of this.o.blobs.read(upload.blobKey, upload.sizeBytes))
      hash.update(chunk);
    return hash.digest('hex');
  }

  /** `cancel`: the session and its bytes are gone; later requests on it get 404. */
  async cancel(uploadId: string, project: string | undefined): Promise<void> {
    const upload = await this.session(uploadId, project);
    if (upload.state === 'final') {
      throw new UploadStateError(upload, 'x-goog-upload-command: the upload is already finalized');
    }
    this.hashes.delete(uploadId);
    const key = await this.o.store.deleteUpload(uploadId);
    if (key) await this.o.blobs.delete([key]);
  }
}

/**
 * A request the session refuses; it carries the session so the response can still say where
 * the upload stands (`x-goog-upload-status`, `x-goog-upload-size-received`).
 */
export class UploadStateError extends ApiError {
  constructor(
    readonly upload: UploadRecord,
    message: string,
  ) {
    super('invalid_request', message);
  }
}
