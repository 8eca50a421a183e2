/**
 * embedAll through the registry against real HTTP servers on 127.0.0.1: the scripted
 * OpenAI-compatible `/embeddings` server and a Gemini-shaped one.
 */
import { APICallError, type EmbeddingModelV3 } from '@ai-sdk/provider';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  fakeEmbedding,
  startFakeEmbeddings,
  type FakeEmbeddings,
} from '../../../test/support/fake-embeddings.js';
import {
  startFakeGoogleEmbeddings,
  type FakeGoogleEmbeddings,
} from '../../../test/support/fake-google-embeddings.js';
import type { ModelEntry } from '../types.js';
import { EmbeddingError, embedAll, planBatches } from './embed-all.js';
import { EmbeddingRegistry } from './registry.js';
import type { ResolvedEmbeddingModel } from './types.js';

const cosine = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i]!, 0);
const norm = (a: Float32Array) => Math.sqrt(cosine(a, a));

/** Counts doEmbed calls in flight at once: embedAll starts its runners in one go. */
function counting(target: ResolvedEmbeddingModel) {
  const stats = { inFlight: 0, max: 0, calls: 0 };
  const model: EmbeddingModelV3 = {
    ...target.model,
    specificationVersion: 'v3',
    provider: target.model.provider,
    modelId: target.model.modelId,
    maxEmbeddingsPerCall: target.model.maxEmbeddingsPerCall,
    supportsParallelCalls: target.model.supportsParallelCalls,
    doEmbed: async (options) => {
      stats.calls++;
      stats.max = Math.max(stats.max, ++stats.inFlight);
      try {
        return await target.model.doEmbed(options);
      } finally {
        stats.inFlight--;
      }
    },
  };
  return { target: { ...target, model }, stats };
}

describe('embedAll against an OpenAI-compatible /embeddings server', () => {
  let fake: FakeEmbeddings;
  let registry: EmbeddingRegistry;
  const entry = (fields: Record<string, unknown>): ModelEntry => ({
    name: 'e',
    backend: 'openai-compatible',
    base_url: fake.url,
    model: 'all-minilm',
    api_key: 'sk-embed',
    ...fields,
  });
  beforeAll(async () => {
    fake = await startFakeEmbeddings();
    registry = new EmbeddingRegistry([
      entry({ name: 'small-batches', batch_size: 3, max_parallel_calls: 2 }),
      entry({ name: 'by-bytes', batch_size: 100, max_batch_bytes: 1024 }),
      entry({ name: 'nomic-embed-text', model: 'nomic-embed-text' }),
      entry({ name: 'nomic-plain', model: 'nomic-embed-text', query_prefix: '' }),
      entry({ name: 'shrunk', model: 'text-embedding-3-small', dimensions: 64 }),
      entry({ name: 'serial', batch_size: 2, max_parallel_calls: 1 }),
    ]);
  });
  afterAll(async () => {
    await registry.dispose();
    await fake.close();
  });
  beforeEach(() => {
    fake.requests.length = 0;
    fake.maxInFlight = 0;
  });

  it('embeds in order, in batches of batch_size, with progress after each call', async () => {
    const texts = Array.from({ length: 8 }, (_, i) => `passage number ${i} about topic ${i % 3}`);
    const progress: [number, number][] = [];
    const vectors = await embedAll(registry.resolve('small-batches')!, texts, {
      kind: 'document',
      onProgress: (done, total) => progress.push([done, total]),
    });
    expect(vectors).toHaveLength(8);
    vectors.forEach((v, i) => {
      expect(v).toBeInstanceOf(Float32Array);
      expect(v).toHaveLength(256);
      expect(norm(v)).toBeCloseTo(1, 5);
      expect(Array.from(v)).toEqual(Array.from(Float32Array.from(fakeEmbedding(texts[i]!))));
    });
    expect(fake.requests.map((r) => r.input.length).sort()).toEqual([2, 3, 3]);
    expect(fake.requests.flatMap((r) => r.input).sort()).toEqual([...texts].sort());
    expect(fake.requests[0]!).toMatchObject({ model: 'all-minilm' });
    expect(fake.requests[0]!.headers.authorization).toBe('Bearer sk-embed');
    expect(progress.map(([, total]) => total)).toEqual([8, 8, 8]);
    expect(progress.map(([done]) => done).sort((a, b) => a - b)).toEqual(
      progress.map(([done]) => done),
    );
    expect(progress.at(-1)).toEqual([8, 8]);
  });

  it('similar texts are closer than unrelated ones (the fake is a usable model)', async () => {
    const [q, near, far] = await embedAll(
      registry.resolve('small-batches')!,
      ['how many vacation days do I get', 'Vacation days: 25 per year', 'The cafeteria opens at 9'],
      { kind: 'document' },
    );
    expect(cosine(q!, near!)).toBeGreaterThan(cosine(q!, far!) + 0.2);
  });

  it('a call carries at most max_batch_bytes of text; a longer text goes alone', async () => {
    const texts = ['a'.repeat(400), 'b'.repeat(400), 'c'.repeat(400), 'd'.repeat(3000), 'e'];
    await embedAll(registry.resolve('by-bytes')!, texts, { kind: 'document' });
    expect(fake.requests.map((r) => r.input.map((t) => t[0]).join(''))).toEqual([
      'ab',
      'c',
      'd',
      'e',
    ]);
  });

  it('planBatches: count and byte limits, in order, nothing empty', () => {
    expect(planBatches([], 2, 10)).toEqual([]);
    expect(planBatches(['a', 'b', 'c'], 2, 10)).toEqual([[0, 1], [2]]);
    expect(planBatches(['aaaa', 'bbbb', 'cc'], 10, 8)).toEqual([[0, 1], [2]]);
    expect(planBatches(['é'.repeat(3), 'x'], 10, 6)).toEqual([[0], [1]]); // bytes, not characters
    expect(planBatches(['x'.repeat(20), 'y'], 10, 8)).toEqual([[0], [1]]);
  });

  it('runs at most max_parallel_calls calls at once, and really in parallel', async () => {
    const { target, stats } = counting(registry.resolve('small-batches')!);
    fake.pause();
    const texts = Array.from({ length: 15 }, (_, i) => `text ${i}`);
    const running = embedAll(target, texts, { kind: 'document' });
    await fake.waitForRequests(2); // two requests held by the server at the same time
    fake.resume();
    expect(await running).toHaveLength(15);
    expect(stats.calls).toBe(5);
    expect(stats.max).toBe(2);
    expect(fake.maxInFlight).toBeLessThanOrEqual(2);

    const serial = counting(registry.resolve('serial')!);
    await embedAll(serial.target, texts.slice(0, 6), { kind: 'document' });
    expect(serial.stats).toMatchObject({ calls: 3, max: 1 });
  });

  it('nomic-embed-text gets its search_query: / search_document: prefixes; an entry can turn one off', async () => {
    const nomic = registry.resolve('models/nomic-embed-text')!;
    await embedAll(nomic, ['what is tsne'], { kind: 'query' });
    await embedAll(nomic, ['t-SNE is a method'], { kind: 'document' });
    await embedAll(registry.resolve('nomic-plain')!, ['plain query'], { kind: 'query' });
    await embedAll(registry.resolve('small-batches')!, ['no prefix here'], { kind: 'query' });
    expect(fake.requests.map((r) => r.input[0])).toEqual([
      'search_query: what is tsne',
      'search_document: t-SNE is a method',
      'plain query',
      'no prefix here',
    ]);
  });

  it('dimensions: are asked of the upstream and every vector must have them', async () => {
    const shrunk = registry.resolve('shrunk')!;
    expect(shrunk.dimensions).toBe(64);
    const [v] = await embedAll(shrunk, ['short'], { kind: 'document' });
    expect(fake.requests[0]).toMatchObject({ model: 'text-embedding-3-small', dimensions: 64 });
    expect(v).toHaveLength(64);
    // an upstream that ignores the setting is caught
    const ignoring = { ...registry.resolve('small-batches')!, dimensions: 64 };
    const error = await embedAll(ignoring, ['x'], { kind: 'document' }).catch((e: unknown) => e);
    expect(EmbeddingError.isInstance(error)).toBe(true);
    expect((error as Error).message).toBe(
      'embedding model upstream.embedding/all-minilm returned a vector of 256 dimensions where 64 were expected',
    );
  });

  it('a retryable failure (503, 429) is retried; the answer is still complete and in order', async () => {
    fake.failNext(503);
    fake.failNext(429);
    const texts = ['one', 'two', 'three'];
    const vectors = await embedAll(registry.resolve('serial')!, texts, {
      kind: 'document',
      maxRetries: 2,
      retryDelayMs: 10,
    });
    expect(vectors.map((v) => Array.from(v))).toEqual(
      texts.map((t) => Array.from(Float32Array.from(fakeEmbedding(t)))),
    );
    expect(fake.requests).toHaveLength(4);
  });

  it('a failure that is not retryable (400) fails at once with the upstream error', async () => {
    fake.failNext(400);
    const error = await embedAll(registry.resolve('serial')!, ['a', 'b', 'c'], {
      kind: 'document',
    }).catch((e: unknown) => e);
    expect(APICallError.isInstance(error)).toBe(true);
    expect((error as APICallError).statusCode).toBe(400);
    expect((error as Error).message).toContain('scripted failure 400');
    expect(fake.requests).toHaveLength(1);
  });

  it('retries give up after maxRetries with the last upstream error', async () => {
    fake.failNext(503, 2);
    const error = await embedAll(registry.resolve('serial')!, ['a'], {
      kind: 'document',
      maxRetries: 1,
      retryDelayMs: 10,
    }).catch((e: unknown) => e);
    expect(APICallError.isInstance(error)).toBe(true);
    expect((error as APICallError).statusCode).toBe(503);
    expect(fake.requests).toHaveLength(2);
  });

  it('an abort stops the calls in flight and rejects with the reason', async () => {
    fake.pause();
    const controller = new AbortController();
    const running = embedAll(registry.resolve('small-batches')!, ['a', 'b', 'c', 'd'], {
      kind: 'document',
      signal: controller.signal,
    });
    await fake.waitForRequests(1);
    controller.abort(new Error('ingestion cancelled'));
    await expect(running).rejects.toThrow('ingestion cancelled');
    fake.resume();
    // aborted before it starts: no request at all
    fake.requests.length = 0;
    await expect(
      embedAll(registry.resolve('serial')!, ['a'], {
        kind: 'document',
        signal: AbortSignal.abort(new Error('too late')),
      }),
    ).rejects.toThrow('too late');
    expect(fake.requests).toHaveLength(0);
  });

  it('no texts: no call', async () => {
    expect(await embedAll(registry.resolve('serial')!, [], { kind: 'query' })).toEqual([]);
    expect(fake.requests).toHaveLength(0);
  });
});

describe('embedAll against a Gemini-shaped server (google backend)', () => {
  let fake: FakeGoogleEmbeddings;
  let registry: EmbeddingRegistry;
  beforeAll(async () => {
    fake = await startFakeGoogleEmbeddings();
    registry = new EmbeddingRegistry([
      {
        name: 'gemini-embedding-*',
        backend: 'google',
        base_url: fake.url,
        model: 'models/gemini-embedding-001',
        api_key: 'g-key',
        dimensions: 128,
      },
    ]);
  });
  afterAll(async () => {
    await registry.dispose();
    await fake.close();
  });

  it('documents as RETRIEVAL_DOCUMENT, queries as RETRIEVAL_QUERY, with outputDimensionality', async () => {
    const model = registry.resolve('models/gemini-embedding-001')!;
    const docs = await embedAll(model, ['first passage', 'second passage'], { kind: 'document' });
    const [query] = await embedAll(model, ['which passage'], { kind: 'query' });
    expect(docs.map((v) => v.length)).toEqual([128, 128]);
    expect(query).toHaveLength(128);
    expect(fake.calls.map((c) => [c.model, c.method])).toEqual([
      ['gemini-embedding-001', 'batchEmbedContents'],
      ['gemini-embedding-001', 'embedContent'],
    ]);
    expect(fake.calls[0]!.headers['x-goog-api-key']).toBe('g-key');
    expect(fake.calls[0]!.requests).toEqual([
      {
        model: 'models/gemini-embedding-001',
        content: { role: 'user', parts: [{ text: 'first passage' }] },
        taskType: 'RETRIEVAL_DOCUMENT',
        outputDimensionality: 128,
      },
      {
        model: 'models/gemini-embedding-001',
        content: { role: 'user', parts: [{ text: 'second passage' }] },
        taskType: 'RETRIEVAL_DOCUMENT',
        outputDimensionality: 128,
      },
    ]);
    expect(fake.calls[1]!.requests[0]).toMatchObject({
      content: { parts: [{ text: 'which passage' }] },
      taskType: 'RETRIEVAL_QUERY',
    });
  });

  it('batches of at most 100 texts (the provider limit), several calls at once', async () => {
    fake.calls.length = 0;
    const texts = Array.from({ length: 250 }, (_, i) => `t${i}`);
    const vectors = await embedAll(
      {
        ...registry.resolve()!,
        batching: { maxTexts: 500, maxBytes: 1 << 20, maxParallelCalls: 3 },
      },
      texts,
      { kind: 'document' },
    );
    expect(vectors).toHaveLength(250);
    expect(fake.calls.map((c) => c.requests.length).sort()).toEqual([100, 100, 50]);
  });
});
