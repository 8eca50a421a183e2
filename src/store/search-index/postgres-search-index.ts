/**
 * The search index on PostgreSQL: words in a generated `tsvector` column with a GIN index
 * (English stemming, `ts_rank`), vectors in a `real[]` column of the chunk row, so a chunk,
 * its vector and its words are one row and can never disagree.
 *
 * Vector ranking has two paths, chosen once per process and logged:
 * - `pgvector` when the `vector` extension is installed (or can be): the column is cast to
 *   `vector` and ordered by pgvector's cosine distance `<=>`.
 * - `exact-sql` otherwise (pgvector cannot be installed everywhere): the dot product of the
 *   unit-length vectors, i.e. their cosine, computed by SQL over `unnest`. Exact, and linear in
 *   the chunks of the searched stores: see the numbers in BENCHMARKS.md ("File search").
 */
import { sql, type Kysely } from 'kysely';
import type { Ranked } from './fusion.js';
import {
  SqlSearchIndex,
  ownedBy,
  type CandidateScope,
  type ChunkOwner,
  type ChunkToWrite,
  type SearchSchema,
} from './sql-search-index.js';

export type VectorPath = 'pgvector' | 'exact-sql';

export interface SearchIndexLogger {
  info(details: object, message: string): void;
}

/** Rows per INSERT (7 parameters each, far below PostgreSQL's 65535). */
const INSERT_BATCH = 200;

/**
 * A `real[]` literal. Nine significant digits give back the same float32 exactly, and are half
 * the text of the doubles that `pg` would send for a JS array.
 */
function realArray(vector: Float32Array): string {
  return `{${Array.from(vector, (x) => x.toPrecision(9)).join(',')}}`;
}

export class PostgresSearchIndex extends SqlSearchIndex {
  private path?: Promise<VectorPath>;

  constructor(
    db: Kysely<SearchSchema>,
    private readonly logger?: SearchIndexLogger,
    fusionK?: number,
  ) {
    super(db, fusionK);
  }

  /** Which vector path this index uses (detected on first use, then kept). */
  vectorPath(): Promise<VectorPath> {
    this.path ??= this.detectVectorPath().catch((err: unknown) => {
      this.path = undefined; // a failed probe (database down) is retried by the next search
      throw err;
    });
    return this.path;
  }

  private async detectVectorPath(): Promise<VectorPath> {
    const { rows } = await sql<{ installed: boolean; available: boolean }>`
      select exists (select 1 from pg_extension where extname = 'vector') as installed,
             exists (select 1 from pg_available_extensions where name = 'vector') as available`.execute(
      this.db,
    );
    let path: VectorPath = 'exact-sql';
    let reason: string;
    if (rows[0]?.installed) {
      path = 'pgvector';
      reason = 'the vector extension is installed';
    } else if (!rows[0]?.available) {
      reason = 'the vector extension is not available on this server';
    } else {
      try {
        await sql`create extension if not exists vector`.execute(this.db);
        path = 'pgvector';
        reason = 'created the vector extension';
      } catch (err) {
        reason = `could not create the vector extension: ${(err as Error).message}`;
      }
    }
    this.logger?.info(
      { search_index: { database: 'postgres', vector_search: path, reason } },
      `file search ranks vectors with ${path === 'pgvector' ? 'pgvector' : 'an exact scan in SQL'}`,
    );
    return path;
  }

  protected override async insertChunks(
    trx: Kysely<SearchSchema>,
    storeKey: number,
    docKey: number,
    _dimension: number,
    chunks: ChunkToWrite[],
  ): Promise<void> {
    for (let i = 0; i < chunks.length; i += INSERT_BATCH) {
      const rows = chunks
        .slice(i, i + INSERT_BATCH)
        .map(
          (c) =>
            sql`(${docKey}, ${storeKey}, ${c.position}, ${c.text}, ${c.pageNumber ?? null}, ${c.tokenCount}, ${realArray(c.embedding)}::real[])`,
        );
      await sql`insert into search_chunks (doc_key, store_key, position, text, page_number, token_count, embedding)
        values ${sql.join(rows)}`.execute(trx);
    }
  }

  protected override async deleteChunks(
    trx: Kysely<SearchSchema>,
    _dimension: number,
    of: ChunkOwner,
  ): Promise<void> {
    await sql`delete from search_chunks where ${ownedBy(of)}`.execute(trx);
  }

  protected override async vectorCandidates(
    scope: CandidateScope,
    vector: Float32Array,
  ): Promise<Ranked[]> {
    const query = realArray(vector);
    const similarity =
      (await this.vectorPath()) === 'pgvector'
        ? sql`1 - (c.embedding::vector <=> ${query}::real[]::vector)`
        : sql`(select sum(a::float8 * b::float8) from unnest(c.embedding, ${query}::real[]) as t(a, b))`;
    const { rows } = await sql<{ chunk_key: string; similarity: number }>`
      select c.chunk_key, ${similarity} as similarity from search_chunks c
      where c.store_key in (${sql.join(scope.storeKeys)}) and ${this.documentScope(scope, 'c')}
      order by similarity desc, c.chunk_key limit ${scope.limit}`.execute(this.db);
    return rows.map((r) => ({ chunkKey: Number(r.chunk_key), score: Number(r.similarity) }));
  }

  protected override async wordCandidates(
    scope: CandidateScope,
    words: string[],
  ): Promise<Ranked[]> {
    // websearch_to_tsquery never rejects its input; "a or b" is a | b. The words are letters
    // and digits only and "or" is not among them (queryWords()).
    const anyWord = words.join(' or ');
    const { rows } = await sql<{ chunk_key: string; rank: number }>`
      select c.chunk_key, ts_rank(c.words, q) as rank
      from search_chunks c, websearch_to_tsquery('english', ${anyWord}) q
      where c.words @@ q and c.store_key in (${sql.join(scope.storeKeys)})
        and ${this.documentScope(scope, 'c')}
      order by rank desc, c.chunk_key limit ${scope.limit}`.execute(this.db);
    return rows.map((r) => ({ chunkKey: Number(r.chunk_key), score: Number(r.rank) }));
  }
}
