/**
 * The File Search index on the server's database (see types.ts for the contract with
 * ingestion). One factory for both stores, like the other stores of src/store/.
 */
import type { Kysely } from 'kysely';
import type { DatabaseHandle } from '../database.js';
import { PostgresSearchIndex, type SearchIndexLogger } from './postgres-search-index.js';
import type { SearchSchema } from './sql-search-index.js';
import { SqliteSearchIndex } from './sqlite-search-index.js';
import type { SearchIndex } from './types.js';

export type * from './types.js';
export { MAX_TOP_K } from './sql-search-index.js';
export { RRF_K } from './fusion.js';
export type { SearchIndexLogger, VectorPath } from './postgres-search-index.js';

export interface SearchIndexOptions {
  /** Told once which vector path PostgreSQL uses (pgvector or the exact scan in SQL). */
  logger?: SearchIndexLogger;
  /** The k of reciprocal rank fusion; default `RRF_K` (60). */
  fusionK?: number;
}

export function createSearchIndex(
  handle: DatabaseHandle,
  options: SearchIndexOptions = {},
): SearchIndex {
  const db = handle.db as unknown as Kysely<SearchSchema>;
  return handle.kind === 'postgres'
    ? new PostgresSearchIndex(db, options.logger, options.fusionK)
    : new SqliteSearchIndex(db, options.fusionK);
}
