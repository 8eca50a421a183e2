import { afterAll, describe, expect, it } from 'vitest';
import { createLlamaCppEmbeddingModel } from './embedding.js';

const GGUF = process.env.OI_TEST_GGUF ?? '../shared/models/llama-2-tiny-random.gguf';

describe('GGUF embeddings (EmbeddingModelV3)', () => {
  const model = createLlamaCppEmbeddingModel({
    modelPath: GGUF,
    gpu: false,
    contextSize: 256,
    threads: 1,
  });
  afterAll(() => model.dispose());

  it('embeds a batch into fixed-size vectors, deterministically, with token usage', async () => {
    const texts = [
      'vacation days per year',
      'the cafeteria opens at nine',
      'vacation days per year',
    ];
    const { embeddings, usage } = await model.doEmbed({ values: texts });
    expect(embeddings).toHaveLength(3);
    const size = embeddings[0]!.length;
    expect(size).toBeGreaterThan(0);
    for (const e of embeddings) {
      expect(e).toHaveLength(size);
      expect(e.every(Number.isFinite)).toBe(true);
    }
    expect(embeddings[2]).toEqual(embeddings[0]);
    expect(embeddings[1]).not.toEqual(embeddings[0]);
    expect(usage!.tokens).toBeGreaterThan(texts.length);
  });

  it('honours an aborted signal', async () => {
    await expect(
      model.doEmbed({ values: ['x'], abortSignal: AbortSignal.abort() }),
    ).rejects.toThrow();
  });
});
