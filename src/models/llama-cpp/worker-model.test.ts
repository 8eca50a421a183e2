/**
 * The llama-cpp model on its own worker thread (the server's backend), on the real fixture GGUF:
 * same output as the in-process model, paced deltas, and every failure path crossing the thread
 * boundary with its status intact.
 */
import type { LanguageModelV3CallOptions, LanguageModelV3StreamPart } from '@ai-sdk/provider';
import { APICallError } from '@ai-sdk/provider';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { createLlamaCppModel, createLlamaCppWorkerModel } from './index.js';
import type { LlamaCppLanguageModel } from './model.js';

const run = promisify(execFile);
const GGUF = process.env.OI_TEST_GGUF ?? '/work/shared/models/llama-2-tiny-random.gguf';
const base = { modelPath: GGUF, contextSize: 1024, threads: 1, gpu: false } as const;
const prompt: LanguageModelV3CallOptions['prompt'] = [
  { role: 'system', content: 'You are a helpful assistant.' },
  { role: 'user', content: [{ type: 'text', text: 'Tell me a long story.' }] },
];

async function read(stream: ReadableStream<LanguageModelV3StreamPart>) {
  const parts: LanguageModelV3StreamPart[] = [];
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return parts;
    parts.push(value);
  }
}

async function collect(model: LlamaCppLanguageModel, options: LanguageModelV3CallOptions) {
  return read((await model.doStream(options)).stream);
}

const textOf = (parts: LanguageModelV3StreamPart[]) =>
  parts.map((p) => (p.type === 'text-delta' ? p.delta : '')).join('');
const count = (parts: LanguageModelV3StreamPart[], type: string) =>
  parts.filter((p) => p.type === type).length;
const finishOf = (parts: LanguageModelV3StreamPart[]) => {
  const finish = parts.find((p) => p.type === 'finish');
  if (finish?.type !== 'finish') throw new Error('no finish part');
  return finish;
};

/** The rejection of a call that must fail. */
async function failure(call: PromiseLike<unknown>): Promise<unknown> {
  try {
    await call;
  } catch (e) {
    return e;
  }
  throw new Error('expected the call to fail');
}

async function until(check: () => boolean) {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
}

describe('llama-cpp model on a worker thread', () => {
  const models: LlamaCppLanguageModel[] = [];
  const make = (options: Parameters<typeof createLlamaCppWorkerModel>[0]) => {
    const m = createLlamaCppWorkerModel(options);
    models.push(m);
    return m;
  };
  afterAll(async () => {
    await Promise.all(models.map((m) => m.dispose()));
  });

  it('generates what the in-process model generates (greedy), with the same usage', async () => {
    const local = createLlamaCppModel(base);
    const worker = make({ ...base, streamBatchMs: 0 });
    try {
      const a = await collect(local, { prompt, maxOutputTokens: 40 });
      const b = await collect(worker, { prompt, maxOutputTokens: 40 });
      expect(textOf(b)).toBe(textOf(a));
      expect(textOf(b).length).toBeGreaterThan(0);
      expect(finishOf(b).usage.outputTokens.total).toBe(40);
      expect(finishOf(b).usage.inputTokens.total).toBe(finishOf(a).usage.inputTokens.total);
      expect(finishOf(b).finishReason.unified).toBe('length');
      // streamBatchMs 0: a part per token, as in-process
      expect(count(b, 'text-delta')).toBe(count(a, 'text-delta'));
      expect(b.map((p) => p.type).filter((t) => t !== 'text-delta')).toEqual(
        a.map((p) => p.type).filter((t) => t !== 'text-delta'),
      );
    } finally {
      await local.dispose();
    }
  });

  it('paces deltas: a long window hands the text over in few parts, the first at once', async () => {
    const worker = make({ ...base, streamBatchMs: 1000 });
    const parts = await collect(worker, { prompt, maxOutputTokens: 60 });
    expect(finishOf(parts).usage.outputTokens.total).toBe(60);
    // the first delta leaves at once; the rest wait for the window or the end of the stream
    expect(count(parts, 'text-delta')).toBeGreaterThanOrEqual(1);
    expect(count(parts, 'text-delta')).toBeLessThanOrEqual(3);
    const unpaced = await collect(make({ ...base, streamBatchMs: 0 }), {
      prompt,
      maxOutputTokens: 60,
    });
    expect(textOf(parts)).toBe(textOf(unpaced));
  });

  it('the next turn reuses the KV state kept on the worker', async () => {
    const worker = make(base);
    const first = await collect(worker, { prompt, maxOutputTokens: 8 });
    const next = await collect(worker, {
      prompt: [
        ...prompt,
        { role: 'assistant', content: [{ type: 'text', text: textOf(first) }] },
        { role: 'user', content: [{ type: 'text', text: 'And then?' }] },
      ],
      maxOutputTokens: 4,
    });
    const usage = finishOf(next).usage;
    expect(usage.inputTokens.cacheRead).toBeGreaterThan(0);
    expect(usage.inputTokens.noCache).toBeLessThan(usage.inputTokens.total! / 2);
    await until(() => worker.stats().requests === 2);
    expect(worker.stats()).toMatchObject({ requests: 2, loaded: true });
  });

  it('a forced function call crosses the thread boundary as a valid tool call', async () => {
    const worker = make(base);
    const parts = await collect(worker, {
      prompt: [{ role: 'user', content: [{ type: 'text', text: 'Weather in Paris?' }] }],
      tools: [
        {
          type: 'function',
          name: 'get_weather',
          inputSchema: {
            type: 'object',
            properties: { city: { type: 'string', maxLength: 12 } },
            required: ['city'],
            additionalProperties: false,
          },
        },
      ],
      toolChoice: { type: 'tool', toolName: 'get_weather' },
      maxOutputTokens: 80,
    });
    const call = parts.find((p) => p.type === 'tool-call');
    if (call?.type !== 'tool-call') throw new Error('no tool call');
    expect(call.toolName).toBe('get_weather');
    expect(typeof (JSON.parse(call.input) as { city: unknown }).city).toBe('string');
    expect(finishOf(parts).finishReason.unified).toBe('tool-calls');
  });

  it('aborting mid-stream ends the stream with AbortError and frees the sequence', async () => {
    const worker = make({ ...base, maxSequences: 1, streamBatchMs: 0 });
    const controller = new AbortController();
    const { stream } = await worker.doStream({
      prompt,
      maxOutputTokens: 900,
      abortSignal: controller.signal,
    });
    const reader = stream.getReader();
    let deltas = 0;
    const error = await (async () => {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return undefined;
          if (value.type === 'text-delta' && ++deltas === 3) controller.abort();
        }
      } catch (e) {
        return e;
      }
    })();
    expect((error as Error | undefined)?.name).toBe('AbortError');
    expect(deltas).toBeLessThan(900);
    await until(() => worker.stats().sequencesInUse === 0);
    expect(worker.stats()).toMatchObject({ sequencesInUse: 0, failed: 1 });
    const after = await collect(worker, { prompt, maxOutputTokens: 2 });
    expect(finishOf(after).finishReason.unified).toBe('length');
  });

  it('cancelling the reader stops generation on the worker', async () => {
    const worker = make({ ...base, maxSequences: 1 });
    const { stream } = await worker.doStream({ prompt, maxOutputTokens: 900 });
    const reader = stream.getReader();
    await reader.read();
    await reader.cancel();
    await until(() => worker.stats().sequencesInUse === 0 && worker.stats().failed === 1);
    expect(worker.stats()).toMatchObject({ sequencesInUse: 0, failed: 1 });
    expect(worker.stats().generatedTokens).toBeLessThan(900);
  });

  it('keeps the status of refusals: 503 with Retry-After when full, 400 for a prompt too long', async () => {
    const worker = make({ ...base, contextSize: 256, maxSequences: 1, maxQueue: 0 });
    const controller = new AbortController();
    const running = await worker.doStream({
      prompt,
      maxOutputTokens: 200,
      abortSignal: controller.signal,
    });
    const full = await failure(worker.doStream({ prompt, maxOutputTokens: 2 }));
    expect(APICallError.isInstance(full)).toBe(true);
    expect(full).toMatchObject({
      statusCode: 503,
      isRetryable: true,
      responseHeaders: { 'retry-after': '1' },
    });
    controller.abort();
    await read(running.stream).catch(() => undefined);

    const long = 'word '.repeat(400);
    const tooLong = await failure(
      worker.doStream({ prompt: [{ role: 'user', content: [{ type: 'text', text: long }] }] }),
    );
    expect(APICallError.isInstance(tooLong)).toBe(true);
    expect(tooLong).toMatchObject({ statusCode: 400, isRetryable: false });
    expect((tooLong as Error).message).toMatch(/does not fit the context window of 256 tokens/);
  });

  it('call options that cannot cross to the worker fail that call only', async () => {
    const worker = make(base);
    const bad = await failure(
      worker.doStream({
        prompt,
        maxOutputTokens: 2,
        providerOptions: { 'llama-cpp': { minP: (() => 0.1) as never } },
      }),
    );
    expect((bad as Error).name).toBe('DataCloneError');
    const after = await collect(worker, { prompt, maxOutputTokens: 2 });
    expect(finishOf(after).finishReason.unified).toBe('length');
  });

  it('a missing model file fails with the in-process message', async () => {
    const worker = make({ ...base, modelPath: '/nonexistent/model.gguf' });
    await expect(worker.doGenerate({ prompt })).rejects.toThrow(
      /GGUF file not found at \/nonexistent\/model\.gguf/,
    );
  });

  it('dispose keeps the process alive until the worker has freed llama.cpp and ended', async () => {
    // nothing else keeps this child process alive: without that, it would end mid-dispose
    const { stdout } = await run(process.execPath, [
      '--import',
      'tsx',
      'test/support/worker-model-exit.ts',
      GGUF,
    ]);
    expect(stdout.trim()).toBe('disposed');
  });

  it('dispose ends a running request, stops the thread and refuses later calls with 503', async () => {
    const worker = createLlamaCppWorkerModel(base);
    const { stream } = await worker.doStream({ prompt, maxOutputTokens: 900 });
    const pending = read(stream).then(
      () => undefined,
      (e: unknown) => e,
    );
    await worker.dispose();
    expect(await pending).toBeInstanceOf(Error);
    const later = await failure(worker.doStream({ prompt }));
    expect(later).toMatchObject({ statusCode: 503 });
  });
});
