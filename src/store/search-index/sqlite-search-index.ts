/**
 * The search index on SQLite: words in the FTS5 table `search_words` (porter stemming, BM25),
 * vectors in sqlite-vec's vec0 tables `search_vectors_{dimension}` (cosine distance, the store
 * as partition key, so a query reads only its stores' vectors). Both are keyed by the chunk's
 * `chunk_key` and written and deleted in the transaction that writes or deletes the chunk row.
 *
 * A metadata filter restricts the vector KNN itself (`chunk_key IN (…)` inside the vec0 query),
 * so a filtered search still returns the best `k` of the documents it selects, not fewer.
 */
import { sql, type Kysely } from 'kysely';
import { byScore, type Ranked } from './fusion.js';
import {
  SqlSearchIndex,
  ownedBy,
  type CandidateScope,
  type ChunkOwner,
  type ChunkToWrite,
  type SearchSchema,
} from './sql-search-index.js';
import { vectorBytes } from './vectors.js';

/** The vec0 table of one dimension (an integer the index checked, never caller text). */
function vectorTable(dimension: number) {
  if (!Number.isInteger(dimension) || dimension < 1) throw new Error(`bad dimension ${dimension}`);
  return sql.table(`search_vectors_${dimension}`);
}

export class SqliteSearchIndex extends SqlSearchIndex {
  protected override async insertChunks(
    trx: Kysely<SearchSchema>,
    storeKey: number,
    docKey: number,
    dimension: number,
    chunks: ChunkToWrite[],
  ): Promise<void> {
    const vectors = vectorTable(dimension);
    await sql`create virtual table if not exists ${vectors} using vec0(chunk_key integer primary key, store_key integer partition key, embedding float[${sql.raw(String(dimension))}] distance_metric=cosine)`.execute(
      trx,
    );
    for (const chunk of chunks) {
      const { chunk_key } = await trx
        .insertInto('search_chunks')
        .values({
          doc_key: docKey,
          store_key: storeKey,
          position: chunk.position,
          text: chunk.text,
          page_number: chunk.pageNumber ?? null,
          token_count: chunk.tokenCount,
        })
        .returning('chunk_key')
        .executeTakeFirstOrThrow();
      await sql`insert into search_words (rowid, text) values (${chunk_key}, ${chunk.text})`.execute(
        trx,
      );
      // vec0 takes only integers as keys; better-sqlite3 binds a JS number as a real.
      await sql`insert into ${vectors} (chunk_key, store_key, embedding) values (cast(${chunk_key} as integer), cast(${storeKey} as integer), ${vectorBytes(chunk.embedding)})`.execute(
        trx,
      );
    }
  }

  protected override async deleteChunks(
    trx: Kysely<SearchSchema>,
    dimension: number,
    of: ChunkOwner,
  ): Promise<void> {
    const { rows } = await sql<{
      chunk_key: number;
    }>`select chunk_key from search_chunks where ${ownedBy(of)}`.execute(trx);
    if (rows.length === 0) return;
    const vectors = vectorTable(dimension);
    // Point deletes: both virtual tables find a row by its key.
    for (const { chunk_key } of rows) {
      await sql`delete from ${vectors} where chunk_key = cast(${chunk_key} as integer)`.execute(
        trx,
      );
      await sql`delete from search_words where rowid = ${chunk_key}`.execute(trx);
    }
    await sql`delete from search_chunks where ${ownedBy(of)}`.execute(trx);
  }

  protected override async vectorCandidates(
    scope: CandidateScope,
    vector: Float32Array,
  ): Promise<Ranked[]> {
    const stores = sql.join(scope.storeKeys);
    const filtered =
      scope.filter === undefined
        ? sql``
        : sql`and v.chunk_key in (select c.chunk_key from search_chunks c where c.store_key in (${stores}) and ${this.documentScope(scope, 'c')})`;
    // `k` nearest per store (the partition), then the best `limit` of them all, merged here:
    // vec0 accepts neither a LIMIT beside `k` nor a second ORDER BY term for ties.
    const { rows } = await sql<{ chunk_key: number; distance: number }>`
      select v.chunk_key, v.distance from ${vectorTable(scope.dimension)} v
      where v.embedding match ${vectorBytes(vector)} and v.k = cast(${scope.limit} as integer)
        and v.store_key in (${stores}) ${filtered}`.execute(this.db);
    return rows
      .map((r) => ({ chunkKey: r.chunk_key, score: 1 - r.distance }))
      .sort(byScore)
      .slice(0, scope.limit);
  }

  protected override async wordCandidates(
    scope: CandidateScope,
    words: string[],
  ): Promise<Ranked[]> {
    // Any of the words (each quoted: queryWords() keeps letters and digits only).
    const match = words.map((w) => `"${w}"`).join(' OR ');
    const { rows } = await sql<{ chunk_key: number; rank: number }>`
      select search_words.rowid as chunk_key, bm25(search_words) as rank
      from search_words join search_chunks c on c.chunk_key = search_words.rowid
      where search_words match ${match} and c.store_key in (${sql.join(scope.storeKeys)})
        and ${this.documentScope(scope, 'c')}
      order by rank, chunk_key limit ${scope.limit}`.execute(this.db);
    // BM25 is negative in FTS5 (lower is better).
    return rows.map((r) => ({ chunkKey: r.chunk_key, score: -r.rank }));
  }
}
