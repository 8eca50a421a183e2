/**
 * File search retrieval: recall and query latency of the search index on SQLite and PostgreSQL.
 *
 *   npx tsx bench/file-search-retrieval.ts [--db sqlite|postgres|both] [--sizes 10000,100000]
 *                                          [--dims 384] [--queries 20] [--skip-recall]
 *                                          [--skip-latency]
 *
 * Recall: the corpus of test/fixtures/file-search/ (documents and questions written for the
 * tests), embedded by the scripted OpenAI-compatible server of test/support/fake-embeddings.ts
 * through the AI SDK; recall@1 and @5 for vector-only, words-only and hybrid retrieval, and
 * hybrid with other RRF k values.
 *
 * Latency: a store of N chunks (documents of 100 chunks, random unit vectors of `--dims`, text
 * of 40–80 words drawn from a 5,000-word Zipf vocabulary, seeded), written through
 * `addDocument`; then `--queries` searches per mode (3 warm-up searches first), each with a
 * random vector and 6 random words, topK 5. "filtered" adds a metadata_filter that selects 10%
 * of the documents. PostgreSQL ranks vectors with the exact scan in SQL unless pgvector is
 * installed (the table says which). Each size gets a fresh database. Progress goes to stderr.
 */
import type { EmbeddingModelV3 } from '@ai-sdk/provider';
import { parseArgs } from 'node:util';
import { parseMetadataFilter } from '../src/files/metadata-filter.js';
import { openDatabase } from '../src/store/database.js';
import {
  createSearchIndex,
  type RetrievalMode,
  type SearchIndex,
  type SearchQuery,
} from '../src/store/search-index/index.js';
import { PostgresSearchIndex } from '../src/store/search-index/postgres-search-index.js';
import { SqlStore } from '../src/store/sql-store.js';
import { createTestDatabase, type StoreKind } from '../test/support/databases.js';
import { startFakeEmbeddings } from '../test/support/fake-embeddings.js';
import {
  embeddingModel,
  indexCorpus,
  loadCorpus,
  measureRecall,
  type Corpus,
} from '../test/support/file-search-corpus.js';
import { fmtMs, summarize } from './support/stats.js';

const { values: argv } = parseArgs({
  options: {
    db: { type: 'string', default: 'both' },
    sizes: { type: 'string', default: '10000,100000' },
    dims: { type: 'string', default: '384' },
    queries: { type: 'string', default: '20' },
    'skip-recall': { type: 'boolean', default: false },
    'skip-latency': { type: 'boolean', default: false },
  },
});
const kinds: StoreKind[] = argv.db === 'both' ? ['sqlite', 'postgres'] : [argv.db as StoreKind];
const sizes = argv.sizes.split(',').map(Number);
const dims = Number(argv.dims);
const queryCount = Number(argv.queries);
const log = (msg: string) => process.stderr.write(`[file-search] ${msg}\n`);
const out = (line = '') => process.stdout.write(`${line}\n`);

/** mulberry32: a small seeded generator, so every run indexes the same chunks. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function withIndex<T>(
  kind: StoreKind,
  work: (index: SearchIndex) => Promise<T>,
  options: { fusionK?: number } = {},
): Promise<T> {
  const db = await createTestDatabase(kind);
  const handle = openDatabase(db.url);
  try {
    await new SqlStore(handle).migrate();
    return await work(createSearchIndex(handle, options));
  } finally {
    await handle.db.destroy();
    await db.drop();
  }
}

async function recallTables(model: EmbeddingModelV3, corpus: Corpus): Promise<void> {
  out(`### Recall (${corpus.documents.length} documents, ${corpus.questions.length} questions)`);
  out();
  out('| store | mode | recall@1 | recall@5 |');
  out('| --- | --- | ---: | ---: |');
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
  const fusion: string[] = [];
  for (const kind of kinds) {
    for (const k of [60, 20, 5]) {
      await withIndex(
        kind,
        async (index) => {
          await indexCorpus(index, model, corpus, 'bench');
          const modes: RetrievalMode[] = k === 60 ? ['vector', 'words', 'hybrid'] : ['hybrid'];
          for (const mode of modes) {
            const r = await measureRecall(index, model, corpus, 'bench', mode);
            if (k === 60) out(`| ${kind} | ${mode} | ${pct(r.at1)} | ${pct(r.at5)} |`);
            if (mode === 'hybrid') {
              fusion.push(`| ${kind} | hybrid, RRF k = ${k} | ${pct(r.at1)} | ${pct(r.at5)} |`);
            }
            log(`${kind} k=${k} ${mode}: misses ${JSON.stringify(r.misses)}`);
          }
        },
        { fusionK: k },
      );
    }
  }
  out();
  out('| store | fusion | recall@1 | recall@5 |');
  out('| --- | --- | ---: | ---: |');
  for (const row of fusion) out(row);
  out();
}

const VOCABULARY = (() => {
  const next = random(7);
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  const words = new Set<string>();
  while (words.size < 5000) {
    const length = 3 + Math.floor(next() * 7);
    let w = '';
    for (let i = 0; i < length; i++) w += letters[Math.floor(next() * 26)];
    words.add(w);
  }
  return [...words];
})();

/** A Zipf-distributed word (rank r with weight 1/r). */
function zipfWord(next: () => number): string {
  const harmonic = Math.log(VOCABULARY.length) + 0.5772;
  const target = next() * harmonic;
  const rank = Math.min(VOCABULARY.length, Math.max(1, Math.round(Math.exp(target - 0.5772))));
  return VOCABULARY[rank - 1]!;
}

function unitVector(next: () => number): Float32Array {
  const v = new Float32Array(dims);
  let norm = 0;
  for (let i = 0; i < dims; i++) {
    // Sum of uniforms: roughly normal, enough for directions spread over the sphere.
    v[i] = next() + next() + next() - 1.5;
    norm += v[i]! * v[i]!;
  }
  norm = Math.sqrt(norm);
  return v.map((x) => x / norm);
}

const CHUNKS_PER_DOCUMENT = 100;

async function fill(index: SearchIndex, size: number): Promise<number> {
  const next = random(size);
  const started = performance.now();
  for (let d = 0; d < size / CHUNKS_PER_DOCUMENT; d++) {
    const chunks = Array.from({ length: CHUNKS_PER_DOCUMENT }, (_, position) => {
      const length = 40 + Math.floor(next() * 40);
      const text = Array.from({ length }, () => zipfWord(next)).join(' ');
      return { position, text, tokenCount: length, embedding: unitVector(next) };
    });
    await index.addDocument(
      {
        project: 'bench',
        storeId: 'big',
        documentId: `doc${d}`,
        displayName: `doc${d}.txt`,
        documentName: `fileSearchStores/big/documents/doc${d}`,
        mimeType: 'text/plain',
        customMetadata: [{ key: 'shard', numericValue: d % 10 }],
      },
      chunks,
    );
    if (d % 100 === 99) log(`  ${(d + 1) * CHUNKS_PER_DOCUMENT} chunks`);
  }
  return (size / (performance.now() - started)) * 1000;
}

async function latencyTables(): Promise<void> {
  const rows: string[] = [];
  for (const kind of kinds) {
    for (const size of sizes) {
      await withIndex(kind, async (index) => {
        log(`${kind}: writing ${size} chunks of ${dims} dimensions`);
        const rate = await fill(index, size);
        const path =
          index instanceof PostgresSearchIndex ? await index.vectorPath() : ('sqlite-vec' as const);
        const next = random(size + 1);
        const filter = parseMetadataFilter('shard = 3', 'bench');
        const variants: Array<[string, Partial<SearchQuery>]> = [
          ['vector', { mode: 'vector' }],
          ['words', { mode: 'words' }],
          ['hybrid', { mode: 'hybrid' }],
          ['hybrid, filtered', { mode: 'hybrid', filter }],
        ];
        for (const [name, variant] of variants) {
          const times: number[] = [];
          for (let i = 0; i < queryCount + 3; i++) {
            const query: SearchQuery = {
              project: 'bench',
              storeIds: ['big'],
              vector: unitVector(next),
              text: Array.from({ length: 6 }, () => zipfWord(next)).join(' '),
              topK: 5,
              ...variant,
            };
            const started = performance.now();
            const hits = await index.search(query);
            if (i >= 3) times.push(performance.now() - started);
            if (hits.length === 0 && variant.mode !== 'words') throw new Error('no hits');
          }
          const s = summarize(times);
          rows.push(
            `| ${kind} (${path}) | ${size} | ${name} | ${fmtMs(s.p50)} | ${fmtMs(s.p99)} | ${rate.toFixed(0)} |`,
          );
          log(rows.at(-1)!);
        }
      });
    }
  }
  out(`### Query latency (topK 5, ${dims} dimensions, ${queryCount} queries per row)`);
  out();
  out('| store (vector path) | chunks | mode | p50 | p99 | index writes, chunks/s |');
  out('| --- | ---: | --- | ---: | ---: | ---: |');
  for (const row of rows) out(row);
  out();
}

if (!argv['skip-recall']) {
  const embeddings = await startFakeEmbeddings();
  try {
    await recallTables(embeddingModel(embeddings.url), loadCorpus());
  } finally {
    await embeddings.close();
  }
}
if (!argv['skip-latency']) await latencyTables();
