import type { EmbeddingModelV3 } from '@ai-sdk/provider';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMetadataFilter } from '../../src/files/metadata-filter.js';
import { ApiError } from '../../src/protocol/errors.js';
import { openDatabase, type DatabaseHandle } from '../../src/store/database.js';
import {
  createSearchIndex,
  type CustomMetadata,
  type IndexedChunk,
  type IndexedDocument,
  type RetrievalMode,
  type SearchIndex,
  type SearchQuery,
} from '../../src/store/search-index/index.js';
import { PostgresSearchIndex } from '../../src/store/search-index/postgres-search-index.js';
import { SqlStore } from '../../src/store/sql-store.js';
import { STORE_KINDS, createTestDatabase, type TestDatabase } from '../support/databases.js';
import {
  FAKE_EMBEDDING_DIMENSIONS,
  startFakeEmbeddings,
  type FakeEmbeddings,
} from '../support/fake-embeddings.js';
import { embed, embeddingModel } from '../support/file-search-corpus.js';

function documentOf(
  project: string,
  storeId: string,
  documentId: string,
  customMetadata: CustomMetadata[] = [],
): IndexedDocument {
  return {
    project,
    storeId,
    documentId,
    displayName: `${documentId}.txt`,
    documentName: `fileSearchStores/${storeId}/documents/${documentId}`,
    mimeType: 'text/plain',
    customMetadata,
  };
}

/** The metadata filter table: documents, then filters and exactly the documents they select. */
const LIBRARY: Record<string, CustomMetadata[]> = {
  graves: [
    { key: 'author', stringValue: 'Robert Graves' },
    { key: 'year', numericValue: 1934 },
    { key: 'tags', stringListValue: { values: ['history', 'rome'] } },
    { key: 'genre', stringValue: 'novel' },
  ],
  beard: [
    { key: 'author', stringValue: 'Mary Beard' },
    { key: 'year', numericValue: 2015 },
    { key: 'tags', stringListValue: { values: ['history', 'rome', 'nonfiction'] } },
  ],
  leguin: [
    { key: 'author', stringValue: 'Ursula K. Le Guin' },
    { key: 'year', numericValue: 1969 },
    { key: 'tags', stringListValue: { values: ['fantasy', 'anthropology'] } },
    { key: 'genre', stringValue: 'novel' },
  ],
  butler: [
    { key: 'author', stringValue: 'Octavia Butler' },
    { key: 'year', numericValue: 1993 },
    { key: 'tags', stringListValue: { values: ['fiction', 'climate'] } },
    { key: 'genre', stringValue: 'novel' },
  ],
  obrien: [
    { key: 'author', stringValue: 'O"Brien \\ Jr' },
    { key: 'year', numericValue: 2021 },
    { key: 'genre', stringValue: 'essay' },
  ],
  beard2: [
    { key: 'author', stringValue: 'Mary Beard' },
    { key: 'year', numericValue: 2023 },
    { key: 'rating', numericValue: 4.5 },
    { key: 'genre', stringValue: 'essay' },
  ],
  untagged: [],
  stringyear: [
    { key: 'year', stringValue: '2020' },
    { key: 'tags', stringListValue: { values: [] } },
  ],
};
const ALL = Object.keys(LIBRARY);
const FILTERS: Array<[filter: string, expected: string[]]> = [
  ['author = "Mary Beard"', ['beard', 'beard2']],
  ['author="Mary Beard"', ['beard', 'beard2']],
  ['year > 2000', ['beard', 'obrien', 'beard2']],
  ['year >= 1969 AND year < 2000', ['leguin', 'butler']],
  ['author = "Mary Beard" AND year > 2020', ['beard2']],
  ['genre = "novel" OR genre = "essay"', ['graves', 'leguin', 'butler', 'obrien', 'beard2']],
  ['tags : "rome"', ['graves', 'beard']],
  ['tags = "history"', ['graves', 'beard']],
  ['NOT tags : "history"', ['leguin', 'butler', 'obrien', 'beard2', 'untagged', 'stringyear']],
  ['author != "Mary Beard"', ['graves', 'leguin', 'butler', 'obrien', 'untagged', 'stringyear']],
  ['genre = novel', ['graves', 'leguin', 'butler']],
  ['year = 1934', ['graves']],
  ['year = "2020"', ['stringyear']],
  ['year = 2020', []],
  ['(tags : "rome" OR tags : "fantasy") AND year < 1970', ['graves', 'leguin']],
  // AIP-160: OR binds tighter than AND, so this is essay AND (after 2022 OR Graves).
  ['genre = "essay" AND year > 2022 OR author = "Robert Graves"', ['beard2']],
  ['NOT (genre = "novel" OR genre = "essay")', ['beard', 'untagged', 'stringyear']],
  ['author = "O\\"Brien \\\\ Jr"', ['obrien']],
  ["author = 'O\"Brien \\\\ Jr'", ['obrien']],
  ['author < "N"', ['beard', 'beard2']],
  ['rating >= 4.5', ['beard2']],
  ['"genre" = "essay"', ['obrien', 'beard2']],
  ['missing = "x"', []],
  ['year > -1e9 AND NOT year = 1934', ['beard', 'leguin', 'butler', 'obrien', 'beard2']],
  ['', ALL],
];

describe.each(STORE_KINDS)('search index (%s)', (kind) => {
  let db: TestDatabase;
  let handle: DatabaseHandle;
  let index: SearchIndex;
  let embeddings: FakeEmbeddings;
  let model: EmbeddingModelV3;
  const logged: object[] = [];

  beforeAll(async () => {
    embeddings = await startFakeEmbeddings();
    model = embeddingModel(embeddings.url);
    db = await createTestDatabase(kind);
    handle = openDatabase(db.url);
    await new SqlStore(handle).migrate();
    index = createSearchIndex(handle, { logger: { info: (details) => logged.push(details) } });
  });
  afterAll(async () => {
    await handle.db.destroy();
    await db.drop();
    await embeddings.close();
  });

  const raw = () => handle.db as unknown as Kysely<unknown>;
  const count = async (query: ReturnType<typeof sql<{ n: number | string }>>) =>
    Number((await query.execute(raw())).rows[0]!.n);

  /** Rows of every table that holds part of a document of (project, store). */
  async function rowsOf(project: string, storeId: string) {
    const storeKeys = sql`(select store_key from search_stores where project = ${project} and store_id = ${storeId})`;
    const chunkKeys = sql`(select chunk_key from search_chunks where store_key in ${storeKeys})`;
    const documents = await count(
      sql`select count(*) as n from search_documents where store_key in ${storeKeys}`,
    );
    const metadata = await count(
      sql`select count(*) as n from search_metadata where doc_key in (select doc_key from search_documents where store_key in ${storeKeys})`,
    );
    const chunks = await count(
      sql`select count(*) as n from search_chunks where store_key in ${storeKeys}`,
    );
    let vectors: number;
    let words: number;
    if (kind === 'sqlite') {
      const tables = await sql<{
        name: string;
      }>`select name from sqlite_master where name like 'search_vectors_%' and type = 'table' and sql like 'CREATE VIRTUAL%'`.execute(
        raw(),
      );
      vectors = 0;
      for (const { name } of tables.rows) {
        vectors += await count(
          sql`select count(*) as n from ${sql.table(name)} where chunk_key in ${chunkKeys}`,
        );
      }
      words = await count(sql`select count(*) as n from search_words where rowid in ${chunkKeys}`);
    } else {
      // On PostgreSQL the vector and the words are columns of the chunk row itself.
      vectors = await count(
        sql`select count(*) as n from search_chunks where store_key in ${storeKeys} and cardinality(embedding) > 0`,
      );
      words = await count(
        sql`select count(*) as n from search_chunks where store_key in ${storeKeys} and words is not null`,
      );
    }
    return { documents, metadata, chunks, vectors, words };
  }

  /** Rows that belong to nothing: vectors or words of no chunk, chunks or metadata of no document. */
  async function orphans(): Promise<number> {
    let n = await count(
      sql`select count(*) as n from search_chunks where doc_key not in (select doc_key from search_documents)`,
    );
    n += await count(
      sql`select count(*) as n from search_metadata where doc_key not in (select doc_key from search_documents)`,
    );
    n += await count(
      sql`select count(*) as n from search_documents where store_key not in (select store_key from search_stores)`,
    );
    if (kind === 'sqlite') {
      const tables = await sql<{
        name: string;
      }>`select name from sqlite_master where name like 'search_vectors_%' and type = 'table' and sql like 'CREATE VIRTUAL%'`.execute(
        raw(),
      );
      for (const { name } of tables.rows) {
        n += await count(
          sql`select count(*) as n from ${sql.table(name)} where chunk_key not in (select chunk_key from search_chunks)`,
        );
      }
      n += await count(
        sql`select count(*) as n from search_words where rowid not in (select chunk_key from search_chunks)`,
      );
    }
    return n;
  }

  async function chunksOf(texts: string[]): Promise<IndexedChunk[]> {
    const vectors = await embed(model, texts);
    return texts.map((text, position) => ({
      position,
      text,
      tokenCount: text.split(' ').length,
      embedding: vectors[position]!,
      ...(position > 0 ? { pageNumber: position + 1 } : {}),
    }));
  }

  async function query(
    project: string,
    storeIds: string[],
    text: string,
    extra: Partial<SearchQuery> = {},
  ): Promise<SearchQuery> {
    const [vector] = await embed(model, [text]);
    return { project, storeIds, vector: vector!, text, topK: 10, ...extra };
  }

  async function searchIds(q: SearchQuery): Promise<string[]> {
    return (await index.search(q)).map((h) => h.document.documentId);
  }

  it('indexes a document whole, finds it in every mode, and removes every row of it', async () => {
    const texts = [
      'Lighthouse keepers trimmed the wicks every evening.',
      'The Fresnel lens focused the lamp into a beam.',
      'Fog signals sounded when the light could not be seen.',
    ];
    await index.addDocument(
      documentOf('p1', 'keep', 'lighthouse', [{ key: 'era', stringValue: 'victorian' }]),
      await chunksOf(texts),
    );
    await index.addDocument(
      documentOf('p1', 'keep', 'other'),
      await chunksOf(['Bees make honey.']),
    );
    expect(await index.countChunks('p1', 'keep')).toBe(4);
    expect(await rowsOf('p1', 'keep')).toEqual({
      documents: 2,
      metadata: 1,
      chunks: 4,
      vectors: 4,
      words: 4,
    });

    for (const mode of ['vector', 'words', 'hybrid'] as RetrievalMode[]) {
      const hits = await index.search(await query('p1', ['keep'], 'Fresnel lens beam', { mode }));
      expect(hits[0]!.document).toEqual(
        documentOf('p1', 'keep', 'lighthouse', [{ key: 'era', stringValue: 'victorian' }]),
      );
      expect(hits[0]!.chunk).toEqual({ position: 1, text: texts[1], pageNumber: 2, tokenCount: 9 });
    }

    // Adding a document again replaces it: no chunk of the first version stays.
    await index.addDocument(
      documentOf('p1', 'keep', 'lighthouse'),
      await chunksOf(['A new lamp.']),
    );
    expect(await rowsOf('p1', 'keep')).toEqual({
      documents: 2,
      metadata: 0,
      chunks: 2,
      vectors: 2,
      words: 2,
    });
    expect(
      await searchIds(await query('p1', ['keep'], 'Fresnel lens beam', { mode: 'words' })),
    ).toEqual([]);

    await index.removeDocument('p1', 'keep', 'lighthouse');
    expect(await rowsOf('p1', 'keep')).toEqual({
      documents: 1,
      metadata: 0,
      chunks: 1,
      vectors: 1,
      words: 1,
    });
    expect(await orphans()).toBe(0);
    expect(await searchIds(await query('p1', ['keep'], 'new lamp'))).toEqual(['other']);

    await index.removeStore('p1', 'keep');
    expect(await rowsOf('p1', 'keep')).toEqual({
      documents: 0,
      metadata: 0,
      chunks: 0,
      vectors: 0,
      words: 0,
    });
    expect(await index.countChunks('p1', 'keep')).toBe(0);
    expect(await orphans()).toBe(0);
    expect(await searchIds(await query('p1', ['keep'], 'bees honey'))).toEqual([]);
    // Removing what is not there is a no-op.
    await index.removeDocument('p1', 'keep', 'lighthouse');
    await index.removeStore('p1', 'nothing-here');
  });

  it('writes nothing of a document whose chunks fail or whose caller rolls back', async () => {
    const chunks = await chunksOf(['Tides follow the moon.', 'Spring tides are the highest.']);
    const zero = { ...chunks[1]!, embedding: new Float32Array(FAKE_EMBEDDING_DIMENSIONS) };
    await expect(
      index.addDocument(documentOf('p1', 'atomic', 'tides'), [chunks[0]!, zero]),
    ).rejects.toThrow(/zero vector/);
    const nan = Float32Array.from(chunks[1]!.embedding, (x, i) => (i === 3 ? NaN : x));
    await expect(
      index.addDocument(documentOf('p1', 'atomic', 'tides'), [
        chunks[0]!,
        { ...chunks[1]!, embedding: nan },
      ]),
    ).rejects.toThrow(/finite/);
    expect(await rowsOf('p1', 'atomic')).toEqual({
      documents: 0,
      metadata: 0,
      chunks: 0,
      vectors: 0,
      words: 0,
    });

    // The caller's transaction (e.g. ingestion marking the document active) fails after the
    // index wrote everything: while it runs another connection sees none of it, and afterwards
    // none of it stays.
    const reader = openDatabase(db.url);
    const readerIndex = createSearchIndex(reader);
    try {
      await expect(
        handle.db.transaction().execute(async (trx) => {
          await index.addDocument(
            documentOf('p1', 'atomic', 'tides', [{ key: 'k', stringValue: 'v' }]),
            chunks,
            trx as unknown as Kysely<unknown>,
          );
          const written = await sql<{
            n: number | string;
          }>`select count(*) as n from search_chunks`.execute(trx);
          expect(Number(written.rows[0]!.n)).toBeGreaterThanOrEqual(2);
          expect(await readerIndex.countChunks('p1', 'atomic')).toBe(0);
          expect(
            await readerIndex.search(await query('p1', ['atomic'], 'spring tides moon')),
          ).toEqual([]);
          throw new Error('the caller failed');
        }),
      ).rejects.toThrow('the caller failed');
    } finally {
      await reader.db.destroy();
    }
    expect(await rowsOf('p1', 'atomic')).toEqual({
      documents: 0,
      metadata: 0,
      chunks: 0,
      vectors: 0,
      words: 0,
    });
    expect(await orphans()).toBe(0);
    expect(await searchIds(await query('p1', ['atomic'], 'spring tides moon'))).toEqual([]);

    await index.addDocument(documentOf('p1', 'atomic', 'tides'), chunks);
    expect(await searchIds(await query('p1', ['atomic'], 'spring tides moon'))).toEqual([
      'tides',
      'tides',
    ]);
    await index.removeStore('p1', 'atomic');
  });

  it('keeps a store to one dimension and refuses a query of another', async () => {
    await index.addDocument(documentOf('p1', 'dims', 'empty'), []);
    await index.addDocument(documentOf('p1', 'dims', 'a'), await chunksOf(['Granite is igneous.']));
    const small = { position: 0, text: 'x', tokenCount: 1, embedding: new Float32Array([1, 0, 0]) };
    const refused = index.addDocument(documentOf('p1', 'dims', 'b'), [small]);
    await expect(refused).rejects.toBeInstanceOf(ApiError);
    await expect(refused).rejects.toThrow(
      `fileSearchStores/dims holds ${FAKE_EMBEDDING_DIMENSIONS}-dimensional embeddings; this document's have 3`,
    );
    const search = index.search({
      ...(await query('p1', ['dims'], 'granite')),
      vector: new Float32Array([1, 0, 0]),
    });
    await expect(search).rejects.toMatchObject({ code: 'failed_precondition', httpStatus: 400 });
    await expect(search).rejects.toThrow(/the query's has 3/);
    expect(await searchIds(await query('p1', ['dims'], 'granite'))).toEqual(['a']);
    await index.removeStore('p1', 'dims');
  });

  it("never returns another project's or another store's chunks", async () => {
    const text = 'The secret recipe uses cardamom and orange peel.';
    await index.addDocument(documentOf('alpha', 'shared', 'mine'), await chunksOf([text]));
    await index.addDocument(documentOf('beta', 'shared', 'theirs'), await chunksOf([text]));
    await index.addDocument(documentOf('alpha', 'second', 'sibling'), await chunksOf([text]));

    for (const mode of ['vector', 'words', 'hybrid'] as RetrievalMode[]) {
      expect(
        await searchIds(await query('alpha', ['shared'], 'cardamom recipe', { mode })),
      ).toEqual(['mine']);
      expect(await searchIds(await query('beta', ['shared'], 'cardamom recipe', { mode }))).toEqual(
        ['theirs'],
      );
      expect(
        (
          await searchIds(await query('alpha', ['shared', 'second'], 'cardamom recipe', { mode }))
        ).sort(),
      ).toEqual(['mine', 'sibling']);
      expect(await searchIds(await query('beta', ['second'], 'cardamom recipe', { mode }))).toEqual(
        [],
      );
      expect(
        await searchIds(await query('gamma', ['shared'], 'cardamom recipe', { mode })),
      ).toEqual([]);
    }
    expect(await index.countChunks('beta', 'second')).toBe(0);
    await index.removeStore('beta', 'shared');
    expect(await searchIds(await query('alpha', ['shared'], 'cardamom'))).toEqual(['mine']);
    await index.removeStore('alpha', 'shared');
    await index.removeStore('alpha', 'second');
  });

  it('ranks by cosine similarity exactly, best first, ties broken the same way every time', async () => {
    const texts = Array.from(
      { length: 30 },
      (_, i) => `Note ${i} about harbours, ships and ${i % 7} cranes.`,
    );
    const chunks = await chunksOf(texts);
    await index.addDocument(documentOf('p1', 'exact', 'notes'), chunks);
    const q = await query('p1', ['exact'], 'harbour cranes and ships', {
      mode: 'vector',
      topK: 12,
    });
    const cosine = (a: Float32Array, b: Float32Array) => {
      let dot = 0;
      let na = 0;
      let nb = 0;
      a.forEach((x, i) => ((dot += x * b[i]!), (na += x * x), (nb += b[i]! * b[i]!)));
      return dot / Math.sqrt(na * nb);
    };
    const similarity = chunks.map((c) => cosine(c.embedding, q.vector));
    const hits = await index.search(q);
    expect(hits).toHaveLength(12);
    // Each score is the chunk's cosine similarity, in order, and nothing left out beats the last.
    hits.forEach((h) => expect(h.score).toBeCloseTo(similarity[h.chunk.position]!, 5));
    hits.slice(1).forEach((h, i) => expect(h.score).toBeLessThanOrEqual(hits[i]!.score));
    const returned = new Set(hits.map((h) => h.chunk.position));
    const bestLeftOut = Math.max(...similarity.filter((_, i) => !returned.has(i)));
    expect(bestLeftOut).toBeLessThanOrEqual(hits[11]!.score + 1e-6);

    // Identical chunks tie in every ranking: the older chunk comes first, in every mode.
    await index.addDocument(
      documentOf('p1', 'ties', 'first'),
      await chunksOf(['Same words here.']),
    );
    await index.addDocument(
      documentOf('p1', 'ties', 'second'),
      await chunksOf(['Same words here.']),
    );
    for (const mode of ['vector', 'words', 'hybrid'] as RetrievalMode[]) {
      for (let i = 0; i < 3; i++) {
        expect(await searchIds(await query('p1', ['ties'], 'same words', { mode }))).toEqual([
          'first',
          'second',
        ]);
      }
    }
    expect((await index.search(await query('p1', ['exact'], 'ships', { topK: 3 }))).length).toBe(3);
    await index.removeStore('p1', 'exact');
    await index.removeStore('p1', 'ties');
  });

  it('treats a query without words or without a direction as what it is', async () => {
    await index.addDocument(
      documentOf('p1', 'odd', 'doc'),
      await chunksOf(['Anchors hold ships.']),
    );
    // No words: ranked by vector only. A zero vector: ranked by words only.
    expect(await searchIds(await query('p1', ['odd'], '?!', { mode: 'words' }))).toEqual([]);
    expect(await searchIds(await query('p1', ['odd'], '?!'))).toEqual(['doc']);
    const zero = new Float32Array(FAKE_EMBEDDING_DIMENSIONS);
    expect(await searchIds({ ...(await query('p1', ['odd'], 'anchors')), vector: zero })).toEqual([
      'doc',
    ]);
    expect(
      await searchIds({ ...(await query('p1', ['odd'], 'anchors')), vector: zero, mode: 'vector' }),
    ).toEqual([]);
    // FTS syntax in the query is just words.
    expect(
      await searchIds(await query('p1', ['odd'], 'anchors" OR NEAR(* -ships:', { mode: 'words' })),
    ).toEqual(['doc']);
    expect(await searchIds(await query('p1', [], 'anchors'))).toEqual([]);
    await expect(index.search(await query('p1', ['odd'], 'anchors', { topK: 0 }))).rejects.toThrow(
      /topK/,
    );
    await expect(
      index.search(await query('p1', ['odd'], 'anchors', { topK: 101 })),
    ).rejects.toThrow(/topK/);
    await index.removeStore('p1', 'odd');
  });

  describe('metadata_filter', () => {
    beforeAll(async () => {
      for (const [id, metadata] of Object.entries(LIBRARY)) {
        await index.addDocument(
          documentOf('p1', 'library', id, metadata),
          await chunksOf([`A library report on the book ${id}.`]),
        );
      }
      // Same metadata elsewhere: never selected.
      await index.addDocument(
        documentOf('p2', 'library', 'foreign', LIBRARY.beard),
        await chunksOf(['A library report on a foreign book.']),
      );
    });

    it.each(FILTERS)('%j selects %j', async (text, expected) => {
      const filter = parseMetadataFilter(text, 'tools[0].metadata_filter');
      for (const mode of ['vector', 'words', 'hybrid'] as RetrievalMode[]) {
        const ids = await searchIds(
          await query('p1', ['library'], 'library report book', { mode, filter, topK: 20 }),
        );
        expect(ids.sort(), mode).toEqual([...expected].sort());
      }
    });

    it('keeps the best k among the selected documents, not fewer', async () => {
      const filter = parseMetadataFilter('genre = "novel"', 'f');
      const hits = await index.search(
        await query('p1', ['library'], 'report on the book leguin', { filter, topK: 2 }),
      );
      expect(hits.map((h) => h.document.documentId)).toHaveLength(2);
      expect(hits[0]!.document.documentId).toBe('leguin');
    });
  });
});

describe('search index on PostgreSQL: the vector path', () => {
  let db: TestDatabase;
  let handle: DatabaseHandle;
  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    handle = openDatabase(db.url);
    await new SqlStore(handle).migrate();
  });
  afterAll(async () => {
    await handle.db.destroy();
    await db.drop();
  });

  it('is the exact scan in SQL where pgvector is missing, and is logged once', async () => {
    const { rows } = await sql<{
      available: boolean;
    }>`select exists (select 1 from pg_available_extensions where name = 'vector') as available`.execute(
      handle.db,
    );
    const logged: object[] = [];
    const index = createSearchIndex(handle, {
      logger: { info: (details) => logged.push(details) },
    });
    const vector = new Float32Array([0.6, 0.8]);
    const chunk = { position: 0, text: 'two dimensions', tokenCount: 2, embedding: vector };
    await index.addDocument(documentOf('p', 's', 'd'), [chunk]);
    for (let i = 0; i < 3; i++) {
      const hits = await index.search({
        project: 'p',
        storeIds: ['s'],
        vector,
        text: 'x',
        topK: 1,
      });
      expect(hits[0]!.score).toBeCloseTo(1 / 61, 6);
    }
    const path = await (index as PostgresSearchIndex).vectorPath();
    expect(path).toBe(rows[0]!.available ? 'pgvector' : 'exact-sql');
    expect(logged).toEqual([
      { search_index: { database: 'postgres', vector_search: path, reason: expect.any(String) } },
    ]);
  });
});
