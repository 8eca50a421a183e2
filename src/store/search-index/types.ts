/**
 * The contract between File Search ingestion (`src/files/`, which owns stores, documents and
 * operations) and the search index (`src/store/search-index/`, which owns chunks, their vectors
 * and their words, on SQLite and on PostgreSQL).
 *
 * The rule both sides keep: **nothing half-indexed is ever searchable.** A document's chunks,
 * vectors and words are written by one `addDocument` call in one transaction, together with the
 * metadata that filters see; until it commits, no search can return any of them. Removal is one
 * transaction as well. Callers that must change their own rows in the same transaction (e.g. a
 * document's state becoming `STATE_ACTIVE`) pass `trx`.
 */
import type { Kysely } from 'kysely';

/** A `customMetadata` entry of a document (camelCase, as on the wire, spec §9.3). */
export interface CustomMetadata {
  key: string;
  stringValue?: string;
  numericValue?: number;
  stringListValue?: { values: string[] };
}

/** Who a document is, as search results and `file_citation` annotations show it. */
export interface IndexedDocument {
  project: string;
  /** The store's id (the part after `fileSearchStores/`). */
  storeId: string;
  /** The document's id (the part after `documents/`). */
  documentId: string;
  /** The document's display name (the file name a citation shows). */
  displayName: string | null;
  /** What a citation's `document_uri` is built from: `fileSearchStores/{s}/documents/{d}`. */
  documentName: string;
  mimeType: string;
  customMetadata: CustomMetadata[];
}

/** One passage of a document, with its embedding. */
export interface IndexedChunk {
  /** Position in the document, from 0. */
  position: number;
  text: string;
  /** 1-based page of a paged source (PDF) where the chunk starts. */
  pageNumber?: number;
  tokenCount: number;
  /** Unit-length or not: the index compares by cosine similarity. Length = the store's dimension. */
  embedding: Float32Array;
}

/**
 * The metadata filter after parsing (`metadata_filter`, Google's filter syntax): build it with
 * `parseMetadataFilter()` of `src/files/metadata-filter.ts`, which bounds its size and depth.
 * Semantics: `src/store/search-index/filter-sql.ts`.
 */
export type MetadataFilter =
  | { op: 'and' | 'or'; args: MetadataFilter[] }
  | { op: 'not'; arg: MetadataFilter }
  | {
      op: 'compare';
      key: string;
      comparator: '=' | '!=' | '<' | '<=' | '>' | '>=';
      value: string | number;
    }
  /** `key : "v"`: membership in a string list (equality for a scalar); any of `values`. */
  | { op: 'has'; key: string; values: Array<string | number> };

export type RetrievalMode = 'hybrid' | 'vector' | 'words';

export interface SearchQuery {
  project: string;
  storeIds: string[];
  /**
   * The query's embedding (same model and dimension as the stores': another dimension is a 400
   * `failed_precondition`). All zeros: no vector ranking (hybrid ranks by words alone).
   */
  vector: Float32Array;
  /** The query's words, for full-text ranking (any of them; English stop words are ignored). */
  text: string;
  /** 1 to `MAX_TOP_K` (100); validate caller input before (the index throws a plain Error). */
  topK: number;
  filter?: MetadataFilter;
  /** Default `hybrid`: vector and word ranks fused by reciprocal rank fusion. */
  mode?: RetrievalMode;
}

export interface SearchHit {
  document: IndexedDocument;
  chunk: Omit<IndexedChunk, 'embedding'>;
  /** Fused score (higher is better); only its order is meaningful. */
  score: number;
}

export interface SearchIndex {
  /**
   * Writes a document's chunks, vectors, words and filter metadata atomically; a document of
   * the same id in the store is replaced. The first document with chunks fixes the store's
   * dimension. Throws (writing nothing) on a vector of another dimension (`ApiError`
   * `failed_precondition`), a zero vector or a non-finite component (`Error`): the message is
   * fit for a document's failure reason.
   */
  addDocument(
    document: IndexedDocument,
    chunks: IndexedChunk[],
    trx?: Kysely<unknown>,
  ): Promise<void>;
  removeDocument(
    project: string,
    storeId: string,
    documentId: string,
    trx?: Kysely<unknown>,
  ): Promise<void>;
  removeStore(project: string, storeId: string, trx?: Kysely<unknown>): Promise<void>;
  /** Chunks of the caller's project in the named stores, best first, at most `topK`. */
  search(query: SearchQuery): Promise<SearchHit[]>;
  /** Number of chunks of a store (bench and tests). */
  countChunks(project: string, storeId: string): Promise<number>;
}
