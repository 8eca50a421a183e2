import type { EmbeddingModelV3 } from '@ai-sdk/provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/store/database.js';
import { createSearchIndex, type SearchIndex } from '../../src/store/search-index/index.js';
import { SqlStore } from '../../src/store/sql-store.js';
import { STORE_KINDS, createTestDatabase, type TestDatabase } from '../support/databases.js';
import { startFakeEmbeddings, type FakeEmbeddings } from '../support/fake-embeddings.js';
import {
  embeddingModel,
  indexCorpus,
  loadCorpus,
  measureRecall,
} from '../support/file-search-corpus.js';

// Retrieval quality on the corpus written for these tests (test/fixtures/file-search/), with
// embeddings from the scripted OpenAI-compatible server through the AI SDK. The figures of every
// mode are in BENCHMARKS.md ("File search"); this pins the hybrid one.
describe.each(STORE_KINDS)('file search retrieval quality (%s)', (kind) => {
  const corpus = loadCorpus();
  let db: TestDatabase;
  let handle: DatabaseHandle;
  let index: SearchIndex;
  let embeddings: FakeEmbeddings;
  let model: EmbeddingModelV3;

  beforeAll(async () => {
    embeddings = await startFakeEmbeddings();
    model = embeddingModel(embeddings.url);
    db = await createTestDatabase(kind);
    handle = openDatabase(db.url);
    await new SqlStore(handle).migrate();
    index = createSearchIndex(handle);
    await indexCorpus(index, model, corpus, 'quality');
  });
  afterAll(async () => {
    await handle.db.destroy();
    await db.drop();
    await embeddings.close();
  });

  it('has at least 50 documents and 20 questions, each answered by one of them', () => {
    expect(corpus.documents.length).toBeGreaterThanOrEqual(50);
    expect(corpus.questions.length).toBeGreaterThanOrEqual(20);
    const ids = new Set(corpus.documents.map((d) => d.id));
    expect(ids.size).toBe(corpus.documents.length);
    for (const q of corpus.questions) expect(ids, q.question).toContain(q.answer);
    // The embeddings really came from the server, in batches.
    expect(embeddings.requests[0]!.input).toHaveLength(corpus.documents.length);
  });

  it('finds the answering document in the first five for at least 90% of the questions (hybrid)', async () => {
    const recall = await measureRecall(index, model, corpus, 'quality', 'hybrid');
    expect(recall.at5, `missed:\n${recall.misses.join('\n')}`).toBeGreaterThanOrEqual(0.9);
  });
});
