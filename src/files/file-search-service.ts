/**
 * File Search stores, documents and operations (spec §9.3) as the SDK's `ai.fileSearchStores`
 * speaks them. A document arrives by `uploadToFileSearchStore` (the resumable protocol of
 * uploads.ts, upload kind `document`: its finalizer creates the pending document and its
 * operation in the transaction that ends the session) or by `importFile` (a Files API file of
 * the caller's project). Either way it starts STATE_PENDING and the ingestion queue takes it;
 * clients poll the operation until it is done.
 *
 * Every lookup takes the caller's project: another project's store, document or operation is
 * not found, whatever its name.
 */
import { ApiError, invalid, notFound, preconditionFailed } from '../protocol/errors.js';
import {
  CHUNKING,
  IMPORT_RESPONSE_TYPE,
  RESOURCE_ID,
  UPLOAD_RESPONSE_TYPE,
  createStoreSchema,
  importFileSchema,
  startDocumentUploadSchema,
  type ChunkingConfig,
  type DocumentResource,
  type FileSearchStoreResource,
  type OperationResource,
} from '../protocol/file-search.js';
import { FILE_ID } from '../protocol/files.js';
import { parseWith } from '../protocol/validate.js';
import type { BlobStore } from '../store/blob-store.js';
import type { FileStore, ProjectUsage, UploadRecord } from '../store/file-store.js';
import {
  StoreGoneError,
  type Chunking,
  type DocumentRecord,
  type FileSearchStore,
  type OperationKind,
  type OperationRecord,
  type StoreWithCounts,
} from '../store/file-search-store.js';
import type { SearchIndex } from '../store/search-index/types.js';
import { MIME_TYPE, parseSize } from './file-service.js';
import { newDocumentBlobKey, newOperationId, newResourceId } from './ids.js';
import type { DocumentReader, EmbeddingModels } from './ingestion-ports.js';
import type { IngestionQueue } from './ingestion-runner.js';
import { documentName, type DocumentIngestor } from './ingestion.js';
import { decodePageToken, toPage } from './paging.js';
import { iso, type UploadService } from './uploads.js';
import { fileIdFromUri } from './uri.js';

export interface FileSearchLimits {
  /** Bytes of one document (upload or imported file). */
  maxDocumentBytes: number;
  /** Bytes a project may hold in files and unfinished uploads (`files.max_project_bytes`). */
  maxProjectBytes: number;
  /** How long an unfinished upload lives (`files.ttl_hours`). */
  uploadTtlMs: number;
}

export interface FileSearchServiceOptions {
  store: FileSearchStore;
  files: FileStore;
  blobs: BlobStore;
  uploads: UploadService;
  reader: DocumentReader;
  embeddings: EmbeddingModels;
  index: SearchIndex;
  queue: IngestionQueue;
  ingestor: DocumentIngestor;
  limits: FileSearchLimits;
  clock?: () => number;
  onWarning?: (obj: object, msg: string) => void;
}

/** What the start request of a store upload says, from its headers and JSON body. */
export interface StartDocumentUploadRequest {
  body: unknown;
  /** `x-goog-upload-header-content-length` */
  sizeHeader?: string;
  /** `x-goog-upload-header-content-type` */
  mimeTypeHeader?: string;
  /** `x-goog-upload-file-name` (path uploads): the document's name when none is given. */
  fileNameHeader?: string;
}

/** Google's list defaults for stores and documents: 10 per page, at most 20. */
const DEFAULT_PAGE_SIZE = 10;
const MAX_PAGE_SIZE = 20;

export const storeName = (id: string) => `fileSearchStores/${id}`;

export function operationName(op: { storeId: string; id: string; kind: OperationKind }): string {
  return op.kind === 'upload'
    ? `fileSearchStores/${op.storeId}/upload/operations/${op.id}`
    : `fileSearchStores/${op.storeId}/operations/${op.id}`;
}

/** `fileSearchStores/{s}/(upload/)?operations/{op}` → its parts (names an upload's result). */
export function parseOperationName(
  name: string,
): { storeId: string; id: string; kind: OperationKind } | undefined {
  const m = /^fileSearchStores\/([^/]+)\/(upload\/)?operations\/([^/]+)$/.exec(name);
  return m ? { storeId: m[1]!, id: m[3]!, kind: m[2] ? 'upload' : 'import' } : undefined;
}

/** The chunking a request asks for, with our defaults filled in. */
function chunkingOf(config: ChunkingConfig): Chunking {
  const max = config?.whiteSpaceConfig?.maxTokensPerChunk ?? CHUNKING.maxTokensPerChunk.default;
  const overlap =
    config?.whiteSpaceConfig?.maxOverlapTokens ??
    Math.min(CHUNKING.maxOverlapTokens.default, max - 1);
  return { maxTokensPerChunk: max, maxOverlapTokens: overlap };
}

const pageSizeOf = (pageSize: number | undefined) =>
  Math.min(pageSize ?? DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);

export class FileSearchService {
  private readonly clock: () => number;

  constructor(private readonly o: FileSearchServiceOptions) {
    this.clock = o.clock ?? Date.now;
    o.uploads.register('document', (upload, _sha256, now) => this.completeUpload(upload, now));
  }

  // ---- stores

  async createStore(project: string, body: unknown): Promise<StoreWithCounts> {
    const request = parseWith(createStoreSchema, body ?? {});
    const model = this.o.embeddings.resolve(request.embeddingModel);
    if (!model) {
      throw invalid(
        request.embeddingModel === undefined
          ? 'embeddingModel: no embedding model is configured on this server (embedding_models:)'
          : `embeddingModel: '${request.embeddingModel!.slice(0, 120)}' is not an embedding model of this server (embedding_models:)`,
      );
    }
    const now = iso(this.clock());
    const record = {
      project,
      id: newResourceId(request.displayName),
      displayName: request.displayName ?? null,
      embeddingModel: model.publicName,
      embeddingDimensions: model.dimensions ?? null,
      createTime: now,
      updateTime: now,
    };
    await this.o.store.createStore(record);
    return { ...record, counts: { active: 0, pending: 0, failed: 0, sizeBytes: 0 } };
  }

  async getStore(project: string, id: string): Promise<StoreWithCounts> {
    const store = RESOURCE_ID.test(id) ? await this.o.store.getStore(project, id) : undefined;
    if (!store) throw notFound(`name: file search store '${storeName(id)}' not found`);
    return store;
  }

  async listStores(project: string, pageSize: number | undefined, pageToken: string | undefined) {
    const size = pageSizeOf(pageSize);
    const cursor = pageToken ? decodePageToken(pageToken) : undefined;
    return toPage(await this.o.store.listStores(project, size + 1, cursor), size);
  }

  async deleteStore(project: string, id: string, force: boolean): Promise<void> {
    const result = RESOURCE_ID.test(id)
      ? await this.o.store.deleteStore(project, id, force, (trx) =>
          this.o.index.removeStore(project, id, trx),
        )
      : { outcome: 'not_found' as const };
    if (result.outcome === 'not_found') {
      throw notFound(`name: file search store '${storeName(id)}' not found`);
    }
    if (result.outcome === 'not_empty') {
      throw preconditionFailed(
        `force: the file search store '${storeName(id)}' holds ${result.documents} documents; delete them first or pass force=true`,
      );
    }
    await this.dropBytes(result.blobKeys);
  }

  toStoreResource(s: StoreWithCounts): FileSearchStoreResource {
    return {
      name: storeName(s.id),
      ...(s.displayName !== null ? { displayName: s.displayName } : {}),
      embeddingModel: s.embeddingModel,
      createTime: s.createTime,
      updateTime: s.updateTime,
      activeDocumentsCount: String(s.counts.active),
      pendingDocumentsCount: String(s.counts.pending),
      failedDocumentsCount: String(s.counts.failed),
      sizeBytes: String(s.counts.sizeBytes),
    };
  }

  // ---- documents in

  /** Checks the store and the request, then opens the upload session of a document. */
  async startUpload(
    project: string,
    storeId: string,
    request: StartDocumentUploadRequest,
  ): Promise<UploadRecord> {
    await this.getStore(project, storeId);
    const body = parseWith(startDocumentUploadSchema, request.body ?? {});
    const sizeName = 'x-goog-upload-header-content-length';
    const size = parseSize(request.sizeHeader, sizeName);
    if (size === undefined) throw invalid(`${sizeName}: required (the size of the file in bytes)`);
    if (size === 0) throw invalid(`${sizeName}: the file is empty`);
    this.checkSize(size, sizeName);
    const mimeField = body.mimeType ? 'mimeType' : 'x-goog-upload-header-content-type';
    const mimeType = body.mimeType ?? request.mimeTypeHeader?.trim();
    if (!mimeType) {
      throw invalid(
        "x-goog-upload-header-content-type: required (the file's MIME type), or mimeType",
      );
    }
    this.checkType(mimeType, mimeField);
    const displayName = body.displayName ?? request.fileNameHeader?.trim() ?? null;
    const { maxProjectBytes } = this.o.limits;
    return this.o.uploads.start({
      project,
      kind: 'document',
      target: {
        storeId,
        displayName: displayName || null,
        customMetadata: body.customMetadata ?? [],
        chunking: { ...chunkingOf(body.chunkingConfig) },
      },
      mimeType,
      sizeBytes: size,
      blobKey: newDocumentBlobKey(),
      admit: (usage: ProjectUsage) => {
        if (usage.bytes + size > maxProjectBytes) {
          throw new ApiError(
            'resource_exhausted',
            `files: the project holds ${usage.bytes} bytes in files and unfinished uploads; ${size} more would pass the limit of ${maxProjectBytes} bytes (files.max_project_bytes)`,
          );
        }
      },
    });
  }

  /** The finalizer of upload kind `document`: a pending document, its operation, a wake-up. */
  private async completeUpload(upload: UploadRecord, now: number): Promise<string | undefined> {
    const target = upload.target as unknown as {
      storeId: string;
      displayName: string | null;
      customMetadata: DocumentRecord['customMetadata'];
      chunking: Chunking;
    };
    const { doc, op } = this.newDocument(upload.project, target.storeId, 'upload', now, {
      displayName: target.displayName,
      mimeType: upload.mimeType,
      sizeBytes: upload.sizeBytes,
      customMetadata: target.customMetadata,
      chunking: target.chunking,
      blobKey: upload.blobKey,
      sourceFile: null,
    });
    let outcome: 'created' | 'moved' | 'no_store';
    try {
      outcome = await this.o.store.completeUploadAsDocument(
        upload.uploadId,
        upload.receivedBytes,
        doc,
        op,
        iso(now + this.o.limits.uploadTtlMs),
      );
    } catch (err) {
      if (!(err instanceof StoreGoneError)) throw err;
      throw notFound(`name: file search store '${storeName(target.storeId)}' not found`);
    }
    if (outcome !== 'created') return undefined;
    this.o.queue.enqueue();
    return operationName(op);
  }

  async importFile(project: string, storeId: string, body: unknown): Promise<OperationRecord> {
    await this.getStore(project, storeId);
    const request = parseWith(importFileSchema, body ?? {});
    const fileId = fileIdFromUri(request.fileName);
    const file =
      fileId !== undefined && FILE_ID.test(fileId)
        ? await this.o.files.getFile(project, fileId, iso(this.clock()))
        : undefined;
    if (!file) throw notFound(`fileName: file '${request.fileName.slice(0, 120)}' not found`);
    if (file.state !== 'ACTIVE') {
      throw preconditionFailed(`fileName: file 'files/${file.id}' is ${file.state}, not ACTIVE`);
    }
    this.checkSize(file.sizeBytes, 'fileName');
    this.checkType(file.mimeType, 'fileName');
    const { doc, op } = this.newDocument(project, storeId, 'import', this.clock(), {
      displayName: file.displayName ?? file.id,
      mimeType: file.mimeType,
      sizeBytes: file.sizeBytes,
      customMetadata: request.customMetadata ?? [],
      chunking: chunkingOf(request.chunkingConfig),
      blobKey: null,
      sourceFile: file.id,
    });
    if (!(await this.o.store.addDocument(doc, op))) {
      throw notFound(`name: file search store '${storeName(storeId)}' not found`);
    }
    this.o.queue.enqueue();
    return op;
  }

  private checkSize(size: number, field: string): void {
    const { maxDocumentBytes } = this.o.limits;
    if (size > maxDocumentBytes) {
      throw new ApiError(
        'payload_too_large',
        `${field}: ${size} bytes is more than the limit of ${maxDocumentBytes} bytes per document (file_search.max_document_bytes)`,
      );
    }
  }

  private checkType(mimeType: string, field: string): void {
    if (!MIME_TYPE.test(mimeType)) {
      throw invalid(`${field}: '${mimeType.slice(0, 80)}' is not a MIME type`);
    }
    if (!this.o.reader.accepts(mimeType)) {
      throw invalid(
        `${field}: File Search cannot read ${mimeType.split(';')[0]!.trim().slice(0, 80)} documents (it reads text, Markdown, HTML, PDF, JSON and the other formats docs/file-search.md lists)`,
      );
    }
  }

  private newDocument(
    project: string,
    storeId: string,
    kind: OperationKind,
    nowMs: number,
    fields: Pick<
      DocumentRecord,
      | 'displayName'
      | 'mimeType'
      | 'sizeBytes'
      | 'customMetadata'
      | 'chunking'
      | 'blobKey'
      | 'sourceFile'
    >,
  ): { doc: DocumentRecord; op: OperationRecord } {
    const now = iso(nowMs);
    const doc: DocumentRecord = {
      project,
      storeId,
      id: newResourceId(fields.displayName),
      ...fields,
      state: 'STATE_PENDING',
      error: null,
      operationId: newOperationId(),
      createTime: now,
      updateTime: now,
    };
    const op: OperationRecord = {
      project,
      storeId,
      id: doc.operationId,
      kind,
      documentId: doc.id,
      done: false,
      error: null,
      metadata: this.o.ingestor.metadata(doc, 'QUEUED'),
      createTime: now,
      updateTime: now,
    };
    return { doc, op };
  }

  // ---- documents

  async getDocument(project: string, storeId: string, id: string): Promise<DocumentRecord> {
    const doc =
      RESOURCE_ID.test(storeId) && RESOURCE_ID.test(id)
        ? await this.o.store.getDocument(project, storeId, id)
        : undefined;
    if (!doc) throw notFound(`name: document '${documentName({ storeId, id })}' not found`);
    return doc;
  }

  async listDocuments(
    project: string,
    storeId: string,
    pageSize: number | undefined,
    pageToken: string | undefined,
  ) {
    await this.getStore(project, storeId);
    const size = pageSizeOf(pageSize);
    const cursor = pageToken ? decodePageToken(pageToken) : undefined;
    return toPage(await this.o.store.listDocuments(project, storeId, size + 1, cursor), size);
  }

  async deleteDocument(project: string, storeId: string, id: string, force: boolean) {
    const name = documentName({ storeId, id });
    const result =
      RESOURCE_ID.test(storeId) && RESOURCE_ID.test(id)
        ? await this.o.store.deleteDocument(project, storeId, id, force, (trx) =>
            this.o.index.removeDocument(project, storeId, id, trx),
          )
        : { outcome: 'not_found' as const };
    if (result.outcome === 'not_found') throw notFound(`name: document '${name}' not found`);
    if (result.outcome === 'not_empty') {
      throw preconditionFailed(
        `force: the document '${name}' is indexed (it has chunks); pass force=true to delete it with its chunks`,
      );
    }
    await this.dropBytes(result.blobKeys);
  }

  toDocumentResource(d: DocumentRecord): DocumentResource {
    return {
      name: documentName(d),
      ...(d.displayName !== null ? { displayName: d.displayName } : {}),
      mimeType: d.mimeType,
      sizeBytes: String(d.sizeBytes),
      state: d.state,
      ...(d.customMetadata.length > 0 ? { customMetadata: d.customMetadata } : {}),
      createTime: d.createTime,
      updateTime: d.updateTime,
    };
  }

  // ---- operations

  async getOperation(
    project: string,
    storeId: string,
    id: string,
    kind: OperationKind,
  ): Promise<OperationRecord> {
    const op =
      RESOURCE_ID.test(storeId) && RESOURCE_ID.test(id)
        ? await this.o.store.getOperation(project, storeId, id, kind)
        : undefined;
    if (!op) throw notFound(`name: operation '${operationName({ storeId, id, kind })}' not found`);
    return op;
  }

  /** The operation a finished store upload produced (`upload.result` names it). */
  async uploadOperation(upload: UploadRecord): Promise<OperationRecord> {
    const ref = parseOperationName(upload.result ?? '');
    if (!ref) throw notFound('upload_id: this upload did not produce an operation');
    return this.getOperation(upload.project, ref.storeId, ref.id, ref.kind);
  }

  toOperationResource(op: OperationRecord): OperationResource {
    const resource: OperationResource = {
      name: operationName(op),
      done: op.done,
      metadata: op.metadata,
    };
    if (op.done && op.error) resource.error = op.error;
    else if (op.done) {
      resource.response = {
        '@type': op.kind === 'upload' ? UPLOAD_RESPONSE_TYPE : IMPORT_RESPONSE_TYPE,
        parent: storeName(op.storeId),
        documentName: documentName({ storeId: op.storeId, id: op.documentId }),
      };
    }
    return resource;
  }

  // ---- bytes

  private async dropBytes(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.o.blobs
      .delete(keys)
      .catch((err: unknown) =>
        this.o.onWarning?.({ err }, 'could not delete the bytes of documents'),
      );
  }

  /** Deletes document bytes no row owns (a process died between a row's change and the delete). */
  async sweepOrphans(): Promise<number> {
    const keys: string[] = [];
    for await (const key of this.o.blobs.list('documents/')) keys.push(key);
    let deleted = 0;
    for (let i = 0; i < keys.length; i += 500) {
      const orphans = await this.o.store.unownedBlobKeys(keys.slice(i, i + 500));
      await this.o.blobs.delete(orphans);
      deleted += orphans.length;
    }
    return deleted;
  }
}
