/**
 * A local GGUF through the registry: node-llama-cpp on the embedding model's worker thread.
 * `stories260K.gguf` is a tiny story-writing model, not an embedding model: its 64-dimension
 * vectors are real and deterministic, but carry no useful meaning (in shared/models/README.md
 * "cat" is closer to "stocks" than to "kitten"), so these tests assert the mechanics only.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { requireStoriesGguf } from '../../../test/support/gguf.js';
import { embedAll } from './embed-all.js';
import { EmbeddingRegistry } from './registry.js';

const STORIES = requireStoriesGguf();
const cosine = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i]!, 0);

describe('llama-cpp embeddings (stories260K.gguf on a worker thread)', () => {
  const registry = new EmbeddingRegistry([
    {
      name: 'local',
      backend: 'llama-cpp',
      path: STORIES,
      threads: 1,
      context_size: 128,
      gpu: false,
    },
  ]);
  afterAll(() => registry.dispose());
  const local = () => registry.resolve('models/local')!;

  it('vectors of the model size, unit length, the same for the same text', async () => {
    const texts = [
      'Once upon a time there was a little girl named Lily.',
      'The dog ran to the park to play with a ball.',
      'Once upon a time there was a little girl named Lily.',
    ];
    const first = await embedAll(local(), texts, { kind: 'document' });
    const again = await embedAll(local(), texts.slice(0, 1), { kind: 'query' });
    expect(first.map((v) => v.length)).toEqual([64, 64, 64]);
    for (const v of first) {
      expect(v.every(Number.isFinite)).toBe(true);
      expect(Math.sqrt(cosine(v, v))).toBeCloseTo(1, 5);
    }
    expect(Array.from(first[2]!)).toEqual(Array.from(first[0]!));
    expect(Array.from(again[0]!)).toEqual(Array.from(first[0]!)); // no prefix for this model
    expect(cosine(first[0]!, first[1]!)).toBeLessThan(0.9999);
  });

  it('batches of 16 texts with progress, in order', async () => {
    const texts = Array.from({ length: 40 }, (_, i) => `The ${i}th bird sang a song.`);
    const progress: number[] = [];
    const vectors = await embedAll(local(), texts, {
      kind: 'document',
      onProgress: (done) => progress.push(done),
    });
    expect(progress).toEqual([16, 32, 40]);
    const [single] = await embedAll(local(), [texts[37]!], { kind: 'document' });
    expect(Array.from(vectors[37]!)).toEqual(Array.from(single!));
  });

  it('a text longer than the context is cut to it, with a warning (no failure)', async () => {
    const head = 'the cat sat on the mat and looked at the moon. '.repeat(30);
    const { embeddings, warnings, usage } = await local().model.doEmbed({
      values: [`${head}It was happy.`, `${head}It was very sad and cried all day.`],
    });
    // both were cut within the shared beginning, so they are the same text to the model
    expect(embeddings[0]).toEqual(embeddings[1]);
    expect(warnings).toEqual([
      {
        type: 'other',
        message: '2 text(s) were longer than the embedding context (128 tokens) and were cut to it',
      },
    ]);
    expect(usage!.tokens).toBe(2 * 125);
  });

  it('a text without tokens gets a zero vector of the same length', async () => {
    const [empty, word] = await embedAll(local(), ['', 'tree'], { kind: 'document' });
    expect(empty).toHaveLength(64);
    expect(empty!.every((v) => v === 0)).toBe(true);
    expect(word!.some((v) => v !== 0)).toBe(true);
  });

  it('an abort stops between calls', async () => {
    const controller = new AbortController();
    const texts = Array.from({ length: 64 }, (_, i) => `Story ${i}.`);
    const progress: number[] = [];
    const run = embedAll(local(), texts, {
      kind: 'document',
      signal: controller.signal,
      onProgress: (done) => {
        progress.push(done);
        controller.abort(new Error('store deleted'));
      },
    });
    await expect(run).rejects.toThrow('store deleted');
    expect(progress).toEqual([16]);
  });

  it('dispose ends a running call and refuses later ones with a clear error; other models go on', async () => {
    const own = new EmbeddingRegistry([
      { name: '*', backend: 'llama-cpp', path: STORIES, threads: 1, context_size: 64, gpu: false },
    ]);
    const model = own.default()!;
    const [before] = await embedAll(model, ['A small boat.'], { kind: 'document' });
    const running = Promise.resolve(
      model.model.doEmbed({
        values: Array.from({ length: 200 }, (_, i) => `Boat number ${i} sailed away.`),
      }),
    ).catch((e: unknown) => e);
    await own.dispose();
    expect(await running).toMatchObject({
      message: 'llama-cpp model "stories260K" was disposed',
    });
    await expect(embedAll(model, ['A small boat.'], { kind: 'document' })).rejects.toThrow(
      'llama-cpp model "stories260K" was disposed',
    );
    const [after] = await embedAll(local(), ['A small boat.'], { kind: 'document' });
    expect(after).toHaveLength(before!.length);
  });
});
