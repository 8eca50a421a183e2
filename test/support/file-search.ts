/**
 * File Search under test: a server whose embedding model is the scripted `/embeddings` server,
 * and what tests read back from the tables (documents, the index's chunks, orphans).
 */
import { sql, type Kysely } from 'kysely';
import { openDatabase } from '../../src/store/database.js';
import { createSearchIndex, type SearchIndex } from '../../src/store/search-index/index.js';
import type { StoreKind, TestDatabase } from './databases.js';
import { createTestDatabase } from './databases.js';
import { startFakeEmbeddings, type FakeEmbeddings } from './fake-embeddings.js';
import type { UpstreamScript } from './fake-upstream.js';
import { startHarness, type Harness } from './harness.js';

/** The `embedding_models:` entry of the scripted server (`models/embed-test`). */
export const embeddingModels = (url: string) => [
  { name: 'embed-test', backend: 'openai-compatible', base_url: url, model: 'fake-embed' },
];

export interface FileSearchHarness {
  h: Harness;
  db: TestDatabase;
  embeddings: FakeEmbeddings;
  index: SearchIndex;
  /** A connection of the test's own, to read the tables. */
  rows: Kysely<unknown>;
  close(): Promise<void>;
}

export async function startFileSearchHarness(
  store: StoreKind,
  options: {
    db?: TestDatabase;
    config?: Record<string, unknown>;
    /** The scripted chat model (default: echo). */
    script?: UpstreamScript;
    /** `embedding_models:` instead of the scripted `/embeddings` server's entry (given its URL). */
    embeddingModels?: (url: string) => Record<string, unknown>[];
  } = {},
): Promise<FileSearchHarness> {
  const db = options.db ?? (await createTestDatabase(store));
  const embeddings = await startFakeEmbeddings();
  const h = await startHarness({
    store,
    db,
    script: options.script,
    config: {
      embedding_models: (options.embeddingModels ?? embeddingModels)(embeddings.url),
      ...options.config,
    },
  });
  const handle = openDatabase(db.url);
  return {
    h,
    db,
    embeddings,
    index: createSearchIndex(handle),
    rows: handle.db as unknown as Kysely<unknown>,
    async close() {
      await h.close();
      await embeddings.close();
      await handle.db.destroy();
      if (!options.db) await db.drop();
    },
  };
}

/** The chunks the index holds for a store: document id, position, page, text. */
export async function indexedChunks(rows: Kysely<unknown>, project: string, storeId: string) {
  const { rows: chunks } = await sql<{
    document_id: string;
    position: number;
    page_number: number | null;
    text: string;
  }>`select d.document_id, c.position, c.page_number, c.text
       from search_chunks c
       join search_documents d on d.doc_key = c.doc_key
       join search_stores s on s.store_key = d.store_key
      where s.project = ${project} and s.store_id = ${storeId}
      order by d.document_id, c.position`.execute(rows);
  return chunks.map((c) => ({ ...c, position: Number(c.position) }));
}

/**
 * Index rows that belong to no active document (of any store): there must never be any, even
 * after a crash mid-ingestion.
 */
export async function orphanChunks(rows: Kysely<unknown>): Promise<number> {
  const { rows: found } = await sql<{ n: number | string }>`
    select count(*) as n
      from search_chunks c
      join search_documents d on d.doc_key = c.doc_key
      join search_stores s on s.store_key = d.store_key
     where not exists (
       select 1 from file_search_documents f
        where f.project = s.project and f.store_id = s.store_id and f.id = d.document_id
          and f.state = 'STATE_ACTIVE')`.execute(rows);
  return Number(found[0]!.n);
}
