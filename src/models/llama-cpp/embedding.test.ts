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

  it('embed() gives the same vectors as Float32Array, and cuts a text longer than the context', async () => {
    const long = 'vacation days per year '.repeat(200);
    const { embeddings, warnings, tokens } = await model.embed(['vacation days per year', long]);
    const { embeddings: plain } = await model.doEmbed({ values: ['vacation days per year'] });
    expect(embeddings[0]).toBeInstanceOf(Float32Array);
    expect(Array.from(embeddings[0]!)).toEqual(Array.from(Float32Array.from(plain[0]!)));
    const short = await model.embed(['vacation days per year']);
    expect(tokens).toBe(short.tokens + 256 - 3); // room for the begin/end tokens
    expect(warnings).toEqual([
      {
        type: 'other',
        message: '1 text(s) were longer than the embedding context (256 tokens) and were cut to it',
      },
    ]);
  });

  it('honours an aborted signal', async () => {
    await expect(
      model.doEmbed({ values: ['x'], abortSignal: AbortSignal.abort() }),
    ).rejects.toThrow();
  });
});
