/**
 * What the SQLite and PostgreSQL search indexes share: the catalog (stores with their fixed
 * dimension, documents, their metadata rows), the transactions that keep a document whole, and
 * retrieval — vector and word candidates from the subclass, fused here. Only the chunk rows
 * (where vectors and words live) and the two candidate queries differ per store.
 *
 * Every query reaches chunks through `store_key`s resolved from (project, store id), so another
 * project's store, even one with the same id, is never read.
 */
import { sql, type Generated, type Kysely, type RawBuilder, type SqlBool } from 'kysely';
import { ApiError } from '../../protocol/errors.js';
import { filterCondition } from './filter-sql.js';
import { byScore, fuseRankings, RRF_K, type Ranked } from './fusion.js';
import type {
  CustomMetadata,
  IndexedChunk,
  IndexedDocument,
  MetadataFilter,
  SearchHit,
  SearchIndex,
  SearchQuery,
} from './types.js';
import { MAX_DIMENSION, toUnitVector } from './vectors.js';

/** Keys are bigint on PostgreSQL (the driver returns strings): always read through Number(). */
type Key = number | string;
type SerialKey = Generated<Key>;

interface SearchStoresTable {
  store_key: SerialKey;
  project: string;
  store_id: string;
  dimension: number;
}

interface SearchDocumentsTable {
  doc_key: SerialKey;
  store_key: Key;
  document_id: string;
  display_name: string | null;
  document_name: string;
  mime_type: string;
  custom_metadata: string;
}

interface SearchMetadataTable {
  doc_key: Key;
  key: string;
  string_value: string | null;
  numeric_value: number | null;
}

interface SearchChunksTable {
  chunk_key: SerialKey;
  doc_key: Key;
  store_key: Key;
  position: number;
  text: string;
  page_number: number | null;
  token_count: number;
}

export interface SearchSchema {
  search_stores: SearchStoresTable;
  search_documents: SearchDocumentsTable;
  search_metadata: SearchMetadataTable;
  search_chunks: SearchChunksTable;
}

/** The largest `topK` a search may ask for. */
export const MAX_TOP_K = 100;
/** How deep each ranking goes before fusion (at least `topK`). */
const FUSION_DEPTH = 50;
/** Query words used for word ranking (the rest are ignored: a query is a question, not a page). */
const MAX_QUERY_WORDS = 32;

/** Restricts candidates to the named stores and, with a filter, to the documents it selects. */
export interface CandidateScope {
  storeKeys: number[];
  dimension: number;
  filter?: MetadataFilter;
  limit: number;
}

export type ChunkOwner = { docKey: number } | { storeKey: number };

/** The condition on search_chunks (alias-free) that selects the chunks of `of`. */
export function ownedBy(of: ChunkOwner): RawBuilder<SqlBool> {
  return 'docKey' in of
    ? sql<SqlBool>`doc_key = ${of.docKey}`
    : sql<SqlBool>`store_key = ${of.storeKey}`;
}

export interface ChunkToWrite extends Omit<IndexedChunk, 'embedding'> {
  /** Unit length, of the store's dimension. */
  embedding: Float32Array;
}

export abstract class SqlSearchIndex implements SearchIndex {
  constructor(
    protected readonly db: Kysely<SearchSchema>,
    /** The k of reciprocal rank fusion (the retrieval bench compares values). */
    private readonly fusionK = RRF_K,
  ) {}

  /** Writes the chunk rows, their vectors and their words. */
  protected abstract insertChunks(
    trx: Kysely<SearchSchema>,
    storeKey: number,
    docKey: number,
    dimension: number,
    chunks: ChunkToWrite[],
  ): Promise<void>;

  /** Deletes the chunks of one document or of a whole store, with their vectors and words. */
  protected abstract deleteChunks(
    trx: Kysely<SearchSchema>,
    dimension: number,
    of: ChunkOwner,
  ): Promise<void>;

  /** Chunk keys by cosine similarity to `vector` (unit length), best first. */
  protected abstract vectorCandidates(
    scope: CandidateScope,
    vector: Float32Array,
  ): Promise<Ranked[]>;

  /** Chunk keys by how well their words match `words` (any of them), best first. */
  protected abstract wordCandidates(scope: CandidateScope, words: string[]): Promise<Ranked[]>;

  async addDocument(
    document: IndexedDocument,
    chunks: IndexedChunk[],
    trx?: Kysely<unknown>,
  ): Promise<void> {
    const dimension = chunks[0]?.embedding.length;
    if (dimension !== undefined && !(dimension >= 1 && dimension <= MAX_DIMENSION)) {
      throw new Error(`embeddings of ${dimension} dimensions are not supported`);
    }
    const rows = chunks.map((chunk, i) => ({
      ...chunk,
      // PostgreSQL text cannot hold NUL; both stores drop it so they index the same words.
      text: chunk.text.replaceAll('\u0000', ''),
      embedding: toUnitVector(chunk.embedding, dimension!, `the embedding of chunk ${i}`),
    }));
    await this.inTransaction(trx, async (t) => {
      const store = await this.storeFor(t, document, dimension);
      await this.removeDocumentRows(t, store, document.documentId);
      const inserted = await t
        .insertInto('search_documents')
        .values({
          store_key: store.key,
          document_id: document.documentId,
          display_name: document.displayName,
          document_name: document.documentName,
          mime_type: document.mimeType,
          custom_metadata: JSON.stringify(document.customMetadata),
        })
        .returning('doc_key')
        .executeTakeFirstOrThrow();
      const docKey = Number(inserted.doc_key);
      const metadata = metadataRows(docKey, document.customMetadata);
      if (metadata.length > 0) await t.insertInto('search_metadata').values(metadata).execute();
      if (rows.length > 0) await this.insertChunks(t, store.key, docKey, store.dimension, rows);
    });
  }

  async removeDocument(
    project: string,
    storeId: string,
    documentId: string,
    trx?: Kysely<unknown>,
  ): Promise<void> {
    await this.inTransaction(trx, async (t) => {
      const store = await this.findStore(t, project, storeId);
      if (store !== undefined) await this.removeDocumentRows(t, store, documentId);
    });
  }

  async removeStore(project: string, storeId: string, trx?: Kysely<unknown>): Promise<void> {
    await this.inTransaction(trx, async (t) => {
      const store = await this.findStore(t, project, storeId);
      if (store === undefined) return;
      await this.deleteChunks(t, store.dimension, { storeKey: store.key });
      // Documents and their metadata rows go with the store (foreign keys, on delete cascade).
      await t.deleteFrom('search_stores').where('store_key', '=', store.key).execute();
    });
  }

  async countChunks(project: string, storeId: string): Promise<number> {
    const row = await this.db
      .selectFrom('search_chunks as c')
      .innerJoin('search_stores as s', 's.store_key', 'c.store_key')
      .where('s.project', '=', project)
      .where('s.store_id', '=', storeId)
      .select((eb) => eb.fn.countAll().as('count'))
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }

  async search(query: SearchQuery): Promise<SearchHit[]> {
    const mode = query.mode ?? 'hybrid';
    if (!['hybrid', 'vector', 'words'].includes(mode)) throw new Error(`unknown mode ${mode}`);
    if (!Number.isInteger(query.topK) || query.topK < 1 || query.topK > MAX_TOP_K) {
      throw new Error(`topK must be an integer from 1 to ${MAX_TOP_K}; got ${query.topK}`);
    }
    if (query.storeIds.length === 0) return [];
    const stores = await this.db
      .selectFrom('search_stores')
      .select(['store_key', 'store_id', 'dimension'])
      .where('project', '=', query.project)
      .where('store_id', 'in', query.storeIds)
      .orderBy('store_key')
      .execute();
    // A store whose documents are all empty (dimension 0) has no chunks to rank.
    const searched = stores.filter((s) => s.dimension > 0);
    if (searched.length === 0) return [];
    const dimension = searched[0]!.dimension;
    for (const store of searched) {
      if (mode !== 'words' && store.dimension !== query.vector.length) {
        throw new ApiError(
          'failed_precondition',
          `fileSearchStores/${store.store_id} holds ${store.dimension}-dimensional embeddings; the query's has ${query.vector.length}`,
        );
      }
    }
    const scope: CandidateScope = {
      storeKeys: searched.map((s) => Number(s.store_key)),
      dimension,
      filter: query.filter,
      limit: mode === 'hybrid' ? Math.max(query.topK, FUSION_DEPTH) : query.topK,
    };
    const words = mode === 'vector' ? [] : queryWords(query.text);
    const vector = mode === 'words' ? undefined : unitOrUndefined(query.vector);
    const [byVector, byWords] = await Promise.all([
      vector === undefined ? [] : this.vectorCandidates(scope, vector),
      words.length === 0 ? [] : this.wordCandidates(scope, words),
    ]);
    const ranked =
      mode === 'hybrid'
        ? fuseRankings([byVector, byWords], this.fusionK)
        : [...(mode === 'vector' ? byVector : byWords)].sort(byScore);
    return this.hits(ranked.slice(0, query.topK));
  }

  /** The condition that keeps candidate chunk `chunk` (an alias with doc_key) in scope. */
  protected documentScope(scope: CandidateScope, chunkAlias: string): RawBuilder<SqlBool> {
    if (scope.filter === undefined) return sql<SqlBool>`1 = 1`;
    return sql<SqlBool>`${sql.ref(`${chunkAlias}.doc_key`)} in (select d.doc_key from search_documents d where d.store_key in (${sql.join(scope.storeKeys)}) and ${filterCondition(scope.filter, sql.ref('d.doc_key'))})`;
  }

  private async hits(ranked: Ranked[]): Promise<SearchHit[]> {
    if (ranked.length === 0) return [];
    const rows = await this.db
      .selectFrom('search_chunks as c')
      .innerJoin('search_documents as d', 'd.doc_key', 'c.doc_key')
      .innerJoin('search_stores as s', 's.store_key', 'd.store_key')
      .select([
        'c.chunk_key',
        'c.position',
        'c.text',
        'c.page_number',
        'c.token_count',
        's.project',
        's.store_id',
        'd.document_id',
        'd.display_name',
        'd.document_name',
        'd.mime_type',
        'd.custom_metadata',
      ])
      .where(
        'c.chunk_key',
        'in',
        ranked.map((r) => r.chunkKey),
      )
      .execute();
    const byKey = new Map(rows.map((row) => [Number(row.chunk_key), row]));
    const hits: SearchHit[] = [];
    // A chunk removed since it was ranked is left out: it is no longer searchable.
    for (const { chunkKey, score } of ranked) {
      const row = byKey.get(chunkKey);
      if (row === undefined) continue;
      hits.push({
        document: {
          project: row.project,
          storeId: row.store_id,
          documentId: row.document_id,
          displayName: row.display_name,
          documentName: row.document_name,
          mimeType: row.mime_type,
          customMetadata: JSON.parse(row.custom_metadata) as CustomMetadata[],
        },
        chunk: {
          position: row.position,
          text: row.text,
          ...(row.page_number === null ? {} : { pageNumber: row.page_number }),
          tokenCount: row.token_count,
        },
        score,
      });
    }
    return hits;
  }

  private async inTransaction(
    trx: Kysely<unknown> | undefined,
    work: (t: Kysely<SearchSchema>) => Promise<void>,
  ): Promise<void> {
    if (trx !== undefined) await work(trx as Kysely<SearchSchema>);
    else await this.db.transaction().execute(work);
  }

  private async findStore(t: Kysely<SearchSchema>, project: string, storeId: string) {
    const row = await t
      .selectFrom('search_stores')
      .select(['store_key', 'dimension'])
      .where('project', '=', project)
      .where('store_id', '=', storeId)
      .executeTakeFirst();
    return row && { key: Number(row.store_key), dimension: row.dimension };
  }

  /**
   * The store's row, created by its first document. The first document with chunks fixes the
   * store's dimension (0 until then: an empty file has no vectors); a document of another
   * dimension is refused.
   */
  private async storeFor(
    t: Kysely<SearchSchema>,
    document: IndexedDocument,
    dimension: number | undefined,
  ): Promise<{ key: number; dimension: number }> {
    let store = await this.findStore(t, document.project, document.storeId);
    if (store === undefined) {
      // A concurrent first document may win the insert; either way the row then exists.
      await t
        .insertInto('search_stores')
        .values({
          project: document.project,
          store_id: document.storeId,
          dimension: dimension ?? 0,
        })
        .onConflict((oc) => oc.columns(['project', 'store_id']).doNothing())
        .execute();
      store = await this.findStore(t, document.project, document.storeId);
      if (store === undefined) throw new Error('the search store row vanished');
    }
    if (dimension === undefined || dimension === store.dimension) return store;
    if (store.dimension === 0) {
      const updated = await t
        .updateTable('search_stores')
        .set({ dimension })
        .where('store_key', '=', store.key)
        .where('dimension', '=', 0)
        .executeTakeFirst();
      if (updated.numUpdatedRows > 0n) return { key: store.key, dimension };
      return this.storeFor(t, document, dimension); // a concurrent document fixed it first
    }
    throw new ApiError(
      'failed_precondition',
      `fileSearchStores/${document.storeId} holds ${store.dimension}-dimensional embeddings; this document's have ${dimension}`,
    );
  }

  private async removeDocumentRows(
    t: Kysely<SearchSchema>,
    store: { key: number; dimension: number },
    documentId: string,
  ): Promise<void> {
    const doc = await t
      .selectFrom('search_documents')
      .select('doc_key')
      .where('store_key', '=', store.key)
      .where('document_id', '=', documentId)
      .executeTakeFirst();
    if (doc === undefined) return;
    const docKey = Number(doc.doc_key);
    await this.deleteChunks(t, store.dimension, { docKey });
    await t.deleteFrom('search_metadata').where('doc_key', '=', docKey).execute();
    await t.deleteFrom('search_documents').where('doc_key', '=', docKey).execute();
  }
}

/** One row per scalar value and per list element (see filter-sql.ts for how filters read them). */
function metadataRows(docKey: number, metadata: CustomMetadata[]): SearchMetadataTable[] {
  const rows: SearchMetadataTable[] = [];
  for (const entry of metadata) {
    const row = { doc_key: docKey, key: entry.key, string_value: null, numeric_value: null };
    if (entry.stringValue !== undefined) rows.push({ ...row, string_value: entry.stringValue });
    if (entry.numericValue !== undefined) rows.push({ ...row, numeric_value: entry.numericValue });
    for (const value of entry.stringListValue?.values ?? []) {
      rows.push({ ...row, string_value: value });
    }
  }
  return rows;
}

/**
 * English words too common to rank by. PostgreSQL's 'english' configuration drops its own list
 * from both sides; FTS5 has none, and a question's "what is the" would otherwise match, and make
 * BM25 score, nearly every chunk.
 */
const STOP_WORDS = new Set(
  (
    'a about an and are as at be been but by can could did do does for from had has have how i ' +
    'if in into is it its me my no not of on or our she so than that the their them then there ' +
    'these they this those to was we were what when where which who whom why will with would you your'
  ).split(' '),
);

/**
 * The distinct lower-cased words of a query, stop words left out (letters and digits only, so
 * they are safe in any full-text query syntax).
 */
export function queryWords(text: string): string[] {
  const words = (text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).filter(
    (w) => !STOP_WORDS.has(w),
  );
  return [...new Set(words)].slice(0, MAX_QUERY_WORDS);
}

/** A zero query vector ranks nothing (every similarity would be 0); other bad vectors throw. */
function unitOrUndefined(vector: Float32Array): Float32Array | undefined {
  if (vector.every((x) => x === 0)) return undefined;
  return toUnitVector(vector, vector.length, "the query's embedding");
}
