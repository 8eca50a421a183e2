/**
 * Ingests one pending document: read its bytes → parse (the parser pool) → chunk → embed in
 * batches → index, reporting progress in its operation's metadata. The last step is one
 * transaction: the document becomes STATE_ACTIVE, its operation done, and the search index gets
 * every chunk at once, so nothing half-indexed is ever searchable; a document that fails at any
 * step gets no index rows at all.
 *
 * Memory: the document's bytes are dropped once parsed; chunks are cut lazily from the text and
 * embedded a batch at a time. What stays is the text and the embedded chunks the index takes in
 * one call (bounded by `maxDocumentChunks`).
 */
import type { Logger } from 'pino';
import type { IngestionMetadata, IngestionStage } from '../protocol/file-search.js';
import type { FileStatus } from '../protocol/files.js';
import type { BlobStore } from '../store/blob-store.js';
import type { FileStore } from '../store/file-store.js';
import type {
  ClaimedDocument,
  DocumentRecord,
  FileSearchStore,
} from '../store/file-search-store.js';
import type { IndexedChunk, IndexedDocument, SearchIndex } from '../store/search-index/types.js';
import { chunkPages, countChunks, type TextChunk, type TextPage } from './chunking.js';
import {
  IngestionError,
  RPC,
  type DocumentReader,
  type EmbeddingModels,
} from './ingestion-ports.js';
import { iso } from './uploads.js';

export interface IngestionLimits {
  /** Chunks one document may have (its embeddings are held until it is indexed). */
  maxDocumentChunks: number;
  /** Passages per call of the embedding model. */
  embedBatchChunks: number;
}

export interface DocumentIngestorOptions {
  store: FileSearchStore;
  files: FileStore;
  blobs: BlobStore;
  reader: DocumentReader;
  embeddings: EmbeddingModels;
  index: SearchIndex;
  limits: IngestionLimits;
  clock?: () => number;
  log?: Logger;
}

/** How an attempt ended. */
export type IngestOutcome =
  | { kind: 'active' }
  | { kind: 'failed'; error: FileStatus }
  /** Not the document's fault (busy parser, embedding backend down): try again later. */
  | { kind: 'retry'; error: FileStatus }
  /** The signal was aborted (shutdown, or the lease was lost), or the document is gone. */
  | { kind: 'interrupted' };

export const documentName = (doc: { storeId: string; id: string }) =>
  `fileSearchStores/${doc.storeId}/documents/${doc.id}`;

export class DocumentIngestor {
  private readonly clock: () => number;

  constructor(private readonly o: DocumentIngestorOptions) {
    this.clock = o.clock ?? Date.now;
  }

  metadata(
    doc: DocumentRecord,
    stage: IngestionStage,
    progress?: { total: number; embedded: number },
  ): IngestionMetadata {
    return {
      documentName: documentName(doc),
      stage,
      ...(progress
        ? { chunksTotal: String(progress.total), chunksEmbedded: String(progress.embedded) }
        : {}),
      createTime: doc.createTime,
      updateTime: iso(this.clock()),
    };
  }

  async ingest(claim: ClaimedDocument, signal: AbortSignal): Promise<IngestOutcome> {
    try {
      return await this.run(claim, signal);
    } catch (err) {
      if (signal.aborted || err instanceof LeaseLost) return { kind: 'interrupted' };
      if (IngestionError.isInstance(err)) {
        const error = { code: err.rpcCode, message: err.message };
        return err.retryable ? { kind: 'retry', error } : { kind: 'failed', error };
      }
      this.o.log?.error({ err, document: documentName(claim.document) }, 'ingestion failed');
      return {
        kind: 'retry',
        error: { code: RPC.INTERNAL, message: `internal error: ${(err as Error).message}` },
      };
    }
  }

  /** Ends a document as STATE_FAILED with `error` as its operation's reason. */
  async fail(claim: ClaimedDocument, error: FileStatus): Promise<void> {
    const { document: doc } = claim;
    const done = await this.o.store.finishDocument(
      claim,
      { state: 'STATE_FAILED', error },
      this.metadata(doc, 'FAILED'),
      iso(this.clock()),
    );
    if (done.finished) {
      this.o.log?.info(
        { document: documentName(doc), reason: error.message },
        'document ingestion failed',
      );
      await this.dropBytes(done.blobKey);
    }
  }

  private async run(claim: ClaimedDocument, signal: AbortSignal): Promise<IngestOutcome> {
    const { document: doc, store } = claim;
    const progress = async (stage: IngestionStage, p?: { total: number; embedded: number }) => {
      const held = await this.o.store.recordProgress(
        claim,
        this.metadata(doc, stage, p),
        iso(this.clock()),
      );
      if (!held) throw new LeaseLost();
    };

    await progress('PARSING');
    const model = this.o.embeddings.resolve(store.embeddingModel);
    if (!model) {
      throw new IngestionError(
        `the store's embedding model '${store.embeddingModel}' is no longer configured (embedding_models:)`,
        false,
        RPC.FAILED_PRECONDITION,
      );
    }
    const pages = await this.readPages(doc, signal);
    const chunking = doc.chunking;
    const total = countChunks(pages, chunking);
    if (total === 0) {
      throw new IngestionError('the document has no text to index', false);
    }
    const { maxDocumentChunks, embedBatchChunks } = this.o.limits;
    if (total > maxDocumentChunks) {
      throw new IngestionError(
        `the document's text makes ${total} chunks of ${chunking.maxTokensPerChunk} words; at most ${maxDocumentChunks} are indexed per document (file_search.max_document_chunks)`,
        false,
        RPC.RESOURCE_EXHAUSTED,
      );
    }

    await progress('EMBEDDING', { total, embedded: 0 });
    let dimensions = store.embeddingDimensions ?? model.dimensions;
    const chunks: IndexedChunk[] = [];
    let batch: TextChunk[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      const vectors = await this.embed(model.publicName, batch, signal);
      if (dimensions === undefined) {
        dimensions = await this.o.store.settleDimensions(
          store.project,
          store.id,
          vectors[0]!.length,
        );
      }
      batch.forEach((chunk, i) => {
        const vector = vectors[i]!;
        if (vector.length !== dimensions) {
          throw new IngestionError(
            `the embedding model returned vectors of ${vector.length} dimensions; the store's are ${dimensions}`,
            false,
            RPC.FAILED_PRECONDITION,
          );
        }
        chunks.push({ ...chunk, embedding: Float32Array.from(vector) });
      });
      batch = [];
      await progress('EMBEDDING', { total, embedded: chunks.length });
    };
    for (const chunk of chunkPages(pages, chunking)) {
      batch.push(chunk);
      if (batch.length >= embedBatchChunks) await flush();
    }
    await flush();
    signal.throwIfAborted();

    const indexed: IndexedDocument = {
      project: doc.project,
      storeId: doc.storeId,
      documentId: doc.id,
      displayName: doc.displayName,
      documentName: documentName(doc),
      mimeType: doc.mimeType,
      customMetadata: doc.customMetadata,
    };
    const done = await this.o.store.finishDocument(
      claim,
      { state: 'STATE_ACTIVE' },
      this.metadata(doc, 'DONE', { total, embedded: total }),
      iso(this.clock()),
      (trx) => this.o.index.addDocument(indexed, chunks, trx),
    );
    if (!done.finished) return { kind: 'interrupted' };
    this.o.log?.info({ document: indexed.documentName, chunks: total }, 'document ingested');
    await this.dropBytes(done.blobKey);
    return { kind: 'active' };
  }

  private async embed(
    publicName: string,
    batch: { text: string }[],
    signal: AbortSignal,
  ): Promise<ArrayLike<number>[]> {
    let vectors: ArrayLike<number>[];
    try {
      vectors = await this.o.embeddings.embedDocuments(
        publicName,
        batch.map((c) => c.text),
        { signal },
      );
    } catch (err) {
      if (signal.aborted || IngestionError.isInstance(err)) throw err;
      // An embedding backend that fails (down, overloaded, timing out) is worth another attempt.
      throw new IngestionError(
        `embedding failed: ${(err as Error).message}`,
        true,
        RPC.UNAVAILABLE,
        {
          cause: err,
        },
      );
    }
    if (vectors.length !== batch.length || vectors.some((v) => !v || v.length === 0)) {
      throw new IngestionError(
        `the embedding model returned ${vectors.length} vectors for ${batch.length} passages`,
        true,
        RPC.INTERNAL,
      );
    }
    return vectors;
  }

  /** The document's bytes, read whole (the parser takes one buffer), then its pages of text. */
  private async readPages(doc: DocumentRecord, signal: AbortSignal): Promise<TextPage[]> {
    const source = await this.source(doc);
    const bytes = Buffer.allocUnsafe(doc.sizeBytes);
    let at = 0;
    try {
      for await (const chunk of this.o.blobs.read(source, doc.sizeBytes)) {
        bytes.set(chunk, at);
        at += chunk.length;
      }
    } catch (err) {
      if (doc.sourceFile !== null && !(await this.fileAlive(doc))) throw fileGone(doc);
      throw new IngestionError(
        `could not read the document's bytes: ${(err as Error).message}`,
        true,
        RPC.UNAVAILABLE,
        { cause: err },
      );
    }
    const parsed = await this.o.reader.read({ bytes, mimeType: doc.mimeType }, { signal });
    const pages = parsed.pages?.length ? parsed.pages : [{ text: parsed.text }];
    return pages;
  }

  private async source(doc: DocumentRecord): Promise<string> {
    if (doc.blobKey !== null) return doc.blobKey;
    const file =
      doc.sourceFile === null
        ? undefined
        : await this.o.files.getFile(doc.project, doc.sourceFile, iso(this.clock()));
    if (!file) throw fileGone(doc);
    return file.blobKey;
  }

  private async fileAlive(doc: DocumentRecord): Promise<boolean> {
    return (
      (await this.o.files.getFile(doc.project, doc.sourceFile!, iso(this.clock()))) !== undefined
    );
  }

  private async dropBytes(blobKey: string | null): Promise<void> {
    if (!blobKey) return;
    // The row no longer names the bytes; a failed delete is found by the orphan sweep.
    await this.o.blobs
      .delete([blobKey])
      .catch((err: unknown) => this.o.log?.warn({ err }, 'could not delete ingested bytes'));
  }
}

function fileGone(doc: DocumentRecord): IngestionError {
  return new IngestionError(
    `fileName: files/${doc.sourceFile} was deleted or expired before it was ingested`,
    false,
    RPC.NOT_FOUND,
  );
}

/** Another node took the document over (this one stalled past its lease), or it was deleted. */
class LeaseLost extends Error {}
