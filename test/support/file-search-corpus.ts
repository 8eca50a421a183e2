/**
 * The retrieval corpus of test/fixtures/file-search/corpus.json (documents written for the tests,
 * questions each answerable from exactly one of them), indexed through an embedding model the
 * way ingestion does it, and recall@k measured per retrieval mode. Shared by the retrieval test
 * and bench/file-search-retrieval.ts.
 */
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import type { EmbeddingModelV3 } from '@ai-sdk/provider';
import { readFileSync } from 'node:fs';
import type { RetrievalMode, SearchIndex } from '../../src/store/search-index/types.js';

export interface Corpus {
  documents: { id: string; title: string; text: string }[];
  questions: { question: string; answer: string }[];
}

export function loadCorpus(): Corpus {
  const url = new URL('../fixtures/file-search/corpus.json', import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')) as Corpus;
}

/** The OpenAI-compatible embedding model of the AI SDK, as production builds it. */
export function embeddingModel(baseURL: string): EmbeddingModelV3 {
  return createOpenAICompatible({ name: 'fake', baseURL }).embeddingModel('fake-embedding');
}

export async function embed(model: EmbeddingModelV3, values: string[]): Promise<Float32Array[]> {
  const { embeddings } = await model.doEmbed({ values });
  return embeddings.map((e) => Float32Array.from(e));
}

export const CORPUS_STORE = 'corpus';

/** Indexes every document as one chunk of store `CORPUS_STORE` in `project`. */
export async function indexCorpus(
  index: SearchIndex,
  model: EmbeddingModelV3,
  corpus: Corpus,
  project: string,
): Promise<void> {
  const vectors = await embed(
    model,
    corpus.documents.map((d) => `${d.title}\n${d.text}`),
  );
  for (const [i, doc] of corpus.documents.entries()) {
    await index.addDocument(
      {
        project,
        storeId: CORPUS_STORE,
        documentId: doc.id,
        displayName: `${doc.id}.txt`,
        documentName: `fileSearchStores/${CORPUS_STORE}/documents/${doc.id}`,
        mimeType: 'text/plain',
        customMetadata: [],
      },
      [
        {
          position: 0,
          text: `${doc.title}\n${doc.text}`,
          tokenCount: doc.text.split(/\s+/).length,
          embedding: vectors[i]!,
        },
      ],
    );
  }
}

export interface Recall {
  mode: RetrievalMode;
  at1: number;
  at5: number;
  /** Questions whose document was not among the first five. */
  misses: string[];
}

/** Recall@1 and @5 of `mode` over the corpus's questions. */
export async function measureRecall(
  index: SearchIndex,
  model: EmbeddingModelV3,
  corpus: Corpus,
  project: string,
  mode: RetrievalMode,
): Promise<Recall> {
  const vectors = await embed(
    model,
    corpus.questions.map((q) => q.question),
  );
  let at1 = 0;
  let at5 = 0;
  const misses: string[] = [];
  for (const [i, { question, answer }] of corpus.questions.entries()) {
    const hits = await index.search({
      project,
      storeIds: [CORPUS_STORE],
      vector: vectors[i]!,
      text: question,
      topK: 5,
      mode,
    });
    const rank = hits.findIndex((h) => h.document.documentId === answer);
    if (rank === 0) at1++;
    if (rank >= 0) at5++;
    else misses.push(question);
  }
  const n = corpus.questions.length;
  return { mode, at1: at1 / n, at5: at5 / n, misses };
}
