/**
 * Integration tests on a real GGUF (random weights, llama-2 vocab, no chat
 * template → node-llama-cpp's General wrapper). Assertions are on mechanics
 * (finish reasons, token counts, parse-ability), never on wording.
 */
import type {
  LanguageModelV3CallOptions,
  LanguageModelV3Prompt,
  LanguageModelV3StreamPart,
  LanguageModelV3Usage,
} from '@ai-sdk/provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QwenChatWrapper } from 'node-llama-cpp';
import { z } from 'zod';
import { requireTestGguf } from '../../../test/support/gguf.js';
import { createLlamaCppBackend, createLlamaCppModel, type LlamaCppLanguageModel } from './index.js';

const GGUF = requireTestGguf();

// One thread: on small CI machines the tiny model is much faster single-threaded.
const base = { modelPath: GGUF, contextSize: 1024, threads: 1 } as const;

async function collect(model: LlamaCppLanguageModel, options: LanguageModelV3CallOptions) {
  const { stream } = await model.doStream(options);
  const parts: LanguageModelV3StreamPart[] = [];
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
  }
  return parts;
}

function textOf(parts: LanguageModelV3StreamPart[]): string {
  return parts.map((p) => (p.type === 'text-delta' ? p.delta : '')).join('');
}

function finishOf(parts: LanguageModelV3StreamPart[]) {
  const finish = parts.find((p) => p.type === 'finish');
  if (finish?.type !== 'finish') throw new Error('no finish part');
  return finish;
}

function num(n: number | undefined): number {
  if (n === undefined) throw new Error('missing usage number');
  return n;
}

function decoded(usage: LanguageModelV3Usage): number {
  return (usage.raw as { decodedTokens: number }).decodedTokens;
}

const system = 'You are a helpful assistant.';
const user = (text: string) => ({
  role: 'user' as const,
  content: [{ type: 'text' as const, text }],
});
const assistant = (text: string) => ({
  role: 'assistant' as const,
  content: [{ type: 'text' as const, text }],
});
const turn1: LanguageModelV3Prompt = [
  { role: 'system', content: system },
  user('Hello there, who are you?'),
];

describe('llama-cpp backend', () => {
  let model: LlamaCppLanguageModel;

  beforeAll(async () => {
    model = createLlamaCppModel({ ...base, maxSequences: 2 });
  });
  afterAll(async () => {
    await model?.dispose();
  });

  it('implements the LanguageModelV3 surface', () => {
    expect(model.specificationVersion).toBe('v3');
    expect(model.provider).toBe('llama-cpp');
    expect(model.modelId).toBe('llama-2-tiny-random');
    expect(model.supportedUrls).toEqual({});
  });

  it('streams text deltas and reports usage', async () => {
    const parts = await collect(model, { prompt: turn1, maxOutputTokens: 12 });
    expect(parts[0]?.type).toBe('stream-start');
    expect(parts[1]?.type).toBe('response-metadata');
    const deltas = parts.filter((p) => p.type === 'text-delta');
    expect(deltas.length).toBeGreaterThan(1);
    const types = parts.map((p) => p.type);
    expect(types.indexOf('text-start')).toBeLessThan(types.indexOf('text-delta'));
    expect(types.indexOf('text-end')).toBeGreaterThan(types.lastIndexOf('text-delta'));
    const finish = finishOf(parts);
    expect(finish.finishReason).toEqual({ unified: 'length', raw: 'maxTokens' });
    expect(num(finish.usage.inputTokens.total)).toBeGreaterThan(10);
    expect(finish.usage.outputTokens.total).toBe(12);
    expect(num(finish.usage.inputTokens.noCache) + num(finish.usage.inputTokens.cacheRead)).toBe(
      finish.usage.inputTokens.total,
    );
  });

  it('doGenerate returns content, finish reason and usage', async () => {
    const res = await model.doGenerate({ prompt: turn1, maxOutputTokens: 8 });
    expect(res.content.length).toBe(1);
    expect(res.content[0]?.type).toBe('text');
    expect(res.finishReason.unified).toBe('length');
    expect(res.usage.outputTokens.total).toBe(8);
    expect(res.response?.modelId).toBe('llama-2-tiny-random');
  });

  it('honours stop sequences (finish reason stop, stop text not emitted)', async () => {
    // Greedy decoding is deterministic: find a piece of text the model
    // produces, then ask it to stop there.
    const probe = await collect(model, { prompt: turn1, maxOutputTokens: 12 });
    const deltas = probe.flatMap((p) => (p.type === 'text-delta' ? [p.delta] : []));
    const stop = deltas
      .slice(2)
      .find((d) => d.trim().length >= 2 && !deltas.slice(0, 2).join('').includes(d.trim()));
    expect(stop).toBeDefined();
    const stopText = (stop as string).trim();
    const before = deltas.join('').split(stopText)[0] as string;

    const parts = await collect(model, {
      prompt: turn1,
      maxOutputTokens: 12,
      stopSequences: [stopText],
    });
    const finish = finishOf(parts);
    expect(finish.finishReason).toEqual({ unified: 'stop', raw: 'customStopTrigger' });
    expect(textOf(parts)).not.toContain(stopText);
    expect(textOf(parts).trim()).toBe(before.trim());
    expect(num(finish.usage.outputTokens.total)).toBeLessThan(12);
  });

  it('maps maxOutputTokens to finish reason length', async () => {
    const parts = await collect(model, { prompt: turn1, maxOutputTokens: 3 });
    expect(finishOf(parts).finishReason.unified).toBe('length');
    expect(finishOf(parts).usage.outputTokens.total).toBe(3);
  });

  it('passes sampling settings through (seeded sampling is reproducible)', async () => {
    const settings = { temperature: 1.2, topP: 0.95, topK: 40, seed: 1234, maxOutputTokens: 10 };
    const a = await collect(model, { prompt: turn1, ...settings });
    const b = await collect(model, { prompt: turn1, ...settings });
    expect(finishOf(a).usage.outputTokens.total).toBe(10);
    expect(textOf(a)).toBe(textOf(b));
  });

  it('aborts mid-stream promptly and frees the sequence', async () => {
    const controller = new AbortController();
    const { stream } = await model.doStream({
      prompt: turn1,
      maxOutputTokens: 900,
      abortSignal: controller.signal,
    });
    const reader = stream.getReader();
    let deltas = 0;
    let error: unknown;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (value.type === 'text-delta' && ++deltas === 3) controller.abort();
      }
    } catch (e) {
      error = e;
    }
    expect(error).toBeDefined();
    expect((error as Error).name).toBe('AbortError');
    expect(deltas).toBeLessThan(50);
    // the sequence is back in the pool
    await new Promise((r) => setTimeout(r, 0));
    expect(model.stats().sequencesInUse).toBe(0);
    const after = await collect(model, { prompt: turn1, maxOutputTokens: 2 });
    expect(finishOf(after).finishReason.unified).toBe('length');
  });

  it('cancelling the stream stops generation', async () => {
    const { stream } = await model.doStream({ prompt: turn1, maxOutputTokens: 900 });
    const reader = stream.getReader();
    await reader.read();
    await reader.read();
    await reader.cancel();
    for (let i = 0; i < 100 && model.stats().sequencesInUse > 0; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(model.stats().sequencesInUse).toBe(0);
  });

  it('rejects an already-aborted signal', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(
      model.doStream({ prompt: turn1, abortSignal: controller.signal }),
    ).rejects.toThrow();
  });

  const weatherSchema = z.object({
    city: z.string().max(12),
    unit: z.enum(['celsius', 'fahrenheit']),
    detailed: z.boolean(),
  });
  const tools: LanguageModelV3CallOptions['tools'] = [
    {
      type: 'function',
      name: 'get_weather',
      description: 'Get the current weather for a city',
      inputSchema: z.toJSONSchema(weatherSchema) as never,
    },
    {
      type: 'function',
      name: 'get_time',
      description: 'Get the current time in a timezone',
      inputSchema: {
        type: 'object',
        properties: { tz: { type: 'string', enum: ['UTC', 'CET'] } },
        required: ['tz'],
      },
    },
  ];
  const weatherPrompt: LanguageModelV3Prompt = [
    { role: 'system', content: system },
    user('What is the weather in Paris?'),
  ];

  it('function tool call (forced tool): tool-input-* parts and a schema-valid tool-call, not executed', async () => {
    const parts = await collect(model, {
      prompt: weatherPrompt,
      tools,
      toolChoice: { type: 'tool', toolName: 'get_weather' },
      maxOutputTokens: 120,
    });
    const types = parts.map((p) => p.type);
    const start = parts.find((p) => p.type === 'tool-input-start');
    const call = parts.find((p) => p.type === 'tool-call');
    expect(start?.type === 'tool-input-start' && start.toolName).toBe('get_weather');
    expect(types).toContain('tool-input-delta');
    expect(types.indexOf('tool-input-end')).toBeGreaterThan(types.indexOf('tool-input-start'));
    expect(types.indexOf('tool-call')).toBeGreaterThan(types.indexOf('tool-input-end'));
    if (call?.type !== 'tool-call' || start?.type !== 'tool-input-start')
      throw new Error('no tool call');
    expect(call.toolCallId).toBe(start.id);
    expect(call.toolName).toBe('get_weather');
    const input: unknown = JSON.parse(call.input);
    const parsed = weatherSchema.parse(input);
    expect([...parsed.city].length).toBeLessThanOrEqual(12); // JSON Schema counts code points
    // streamed argument text is the same JSON
    const streamed = parts.map((p) => (p.type === 'tool-input-delta' ? p.delta : '')).join('');
    expect(JSON.parse(streamed)).toEqual(input);
    expect(finishOf(parts).finishReason.unified).toBe('tool-calls');
  });

  it("toolChoice 'required' forces a call to one of the tools", async () => {
    const res = await model.doGenerate({
      prompt: weatherPrompt,
      tools,
      toolChoice: { type: 'required' },
      maxOutputTokens: 120,
    });
    const call = res.content.find((c) => c.type === 'tool-call');
    if (call?.type !== 'tool-call') throw new Error('no tool call');
    expect(['get_weather', 'get_time']).toContain(call.toolName);
    const input: unknown = JSON.parse(call.input);
    if (call.toolName === 'get_weather') weatherSchema.parse(input);
    else expect(['UTC', 'CET']).toContain((input as { tz: string }).tz);
    expect(res.finishReason.unified).toBe('tool-calls');
  });

  it('toolChoice naming an unknown tool is a 400 error', async () => {
    await expect(
      model.doGenerate({
        prompt: weatherPrompt,
        tools,
        toolChoice: { type: 'tool', toolName: 'nope' },
      }),
    ).rejects.toMatchObject({ statusCode: 400 });
  });

  it("toolChoice 'none' offers no tools", async () => {
    const res = await model.doGenerate({
      prompt: weatherPrompt,
      tools,
      toolChoice: { type: 'none' },
      maxOutputTokens: 6,
    });
    expect(res.content.every((c) => c.type !== 'tool-call')).toBe(true);
    const withTools = await model.doGenerate({
      prompt: weatherPrompt,
      tools,
      toolChoice: { type: 'none' },
      maxOutputTokens: 1,
    });
    const auto = await model.doGenerate({ prompt: weatherPrompt, tools, maxOutputTokens: 1 });
    // the tool documentation is only in the prompt when tools are offered
    expect(num(auto.usage.inputTokens.total)).toBeGreaterThan(
      num(withTools.usage.inputTokens.total),
    );
  });

  it('tool results round-trip: the next turn reuses the KV state through the call', async () => {
    const first = await model.doGenerate({
      prompt: weatherPrompt,
      tools,
      toolChoice: { type: 'tool', toolName: 'get_weather' },
      maxOutputTokens: 120,
    });
    const call = first.content.find((c) => c.type === 'tool-call');
    if (call?.type !== 'tool-call') throw new Error('no tool call');
    const next: LanguageModelV3Prompt = [
      ...weatherPrompt,
      {
        role: 'assistant',
        content: [
          {
            type: 'tool-call',
            toolCallId: call.toolCallId,
            toolName: call.toolName,
            input: JSON.parse(call.input),
          },
        ],
      },
      {
        role: 'tool',
        content: [
          {
            type: 'tool-result',
            toolCallId: call.toolCallId,
            toolName: call.toolName,
            output: { type: 'json', value: { temperature: 21, sky: 'clear' } },
          },
        ],
      },
    ];
    const second = await model.doGenerate({ prompt: next, tools, maxOutputTokens: 4 });
    // The whole first prompt and the generated call text are reused.
    expect(num(second.usage.inputTokens.cacheRead)).toBeGreaterThanOrEqual(
      num(first.usage.inputTokens.total),
    );
    expect(num(second.usage.inputTokens.total)).toBeGreaterThan(
      num(second.usage.inputTokens.cacheRead),
    );
  });

  it('responseFormat json produces JSON valid against a bounded schema', async () => {
    const schema = z.object({
      mood: z.enum(['happy', 'sad', 'neutral']),
      note: z.string().max(10),
      tags: z.array(z.enum(['a', 'b', 'c'])).max(2),
      ok: z.boolean(),
    });
    const parts = await collect(model, {
      prompt: [{ role: 'system', content: system }, user('Describe your mood as JSON.')],
      responseFormat: { type: 'json', schema: z.toJSONSchema(schema) as never },
      maxOutputTokens: 200,
    });
    const text = textOf(parts);
    const value = schema.parse(JSON.parse(text));
    expect([...value.note].length).toBeLessThanOrEqual(10);
    expect(finishOf(parts).finishReason.unified).toBe('stop');
  });

  it('responseFormat json without a schema produces JSON', async () => {
    const res = await model.doGenerate({
      prompt: [user('Reply with JSON')],
      responseFormat: { type: 'json' },
      maxOutputTokens: 300,
    });
    const first = res.content[0];
    if (res.finishReason.unified === 'stop') {
      expect(first?.type).toBe('text');
      expect(() => JSON.parse(first?.type === 'text' ? first.text : '')).not.toThrow();
    } else {
      // an unconstrained object may not close within the token budget
      expect(res.finishReason.unified).toBe('length');
    }
  });
});

describe('llama-cpp with a native tool-call template (Qwen)', () => {
  // The fixture has no chat template; force Qwen's (ChatML + <tool_call> with
  // parallel calls) to exercise prefix triggers and parallel function calling.
  let model: LlamaCppLanguageModel;
  beforeAll(() => {
    model = createLlamaCppModel({ ...base, contextSize: 2048, chatWrapper: new QwenChatWrapper() });
  });
  afterAll(async () => {
    await model?.dispose();
  });

  it('forced tool calls are valid and the next turn reuses the call tokens', async () => {
    const schema = z.object({ city: z.string().max(12), unit: z.enum(['c', 'f']) });
    const tools: LanguageModelV3CallOptions['tools'] = [
      {
        type: 'function',
        name: 'get_weather',
        description: 'Get weather',
        inputSchema: z.toJSONSchema(schema) as never,
      },
      {
        type: 'function',
        name: 'ping',
        description: 'No arguments',
        inputSchema: { type: 'object', properties: {} },
      },
    ];
    const prompt: LanguageModelV3Prompt = [
      { role: 'system', content: system },
      user('Weather in Oslo?'),
    ];
    const res = await model.doGenerate({
      prompt,
      tools,
      toolChoice: { type: 'tool', toolName: 'get_weather' },
      maxOutputTokens: 80,
    });
    const calls = res.content.filter((c) => c.type === 'tool-call');
    expect(calls.length).toBeGreaterThanOrEqual(1);
    for (const c of calls) {
      if (c.type !== 'tool-call') continue;
      expect(c.toolName).toBe('get_weather');
      schema.parse(JSON.parse(c.input));
    }
    expect(res.finishReason.unified).toBe('tool-calls');

    const noArgs = await model.doGenerate({
      prompt,
      tools,
      toolChoice: { type: 'tool', toolName: 'ping' },
      maxOutputTokens: 20,
    });
    const ping = noArgs.content.find((c) => c.type === 'tool-call');
    expect(ping?.type === 'tool-call' && JSON.parse(ping.input)).toEqual({});

    const first = calls[0];
    if (first?.type !== 'tool-call') throw new Error('no call');
    const next = await model.doGenerate({
      prompt: [
        ...prompt,
        {
          role: 'assistant',
          content: [
            {
              type: 'tool-call',
              toolCallId: first.toolCallId,
              toolName: first.toolName,
              input: JSON.parse(first.input),
            },
          ],
        },
        {
          role: 'tool',
          content: [
            {
              type: 'tool-result',
              toolCallId: first.toolCallId,
              toolName: first.toolName,
              output: { type: 'text', value: 'sunny' },
            },
          ],
        },
      ],
      tools,
      maxOutputTokens: 4,
    });
    expect(num(next.usage.inputTokens.cacheRead)).toBeGreaterThanOrEqual(
      num(noArgs.usage.inputTokens.total) - 1,
    );
  });
});

describe('llama-cpp KV-cache reuse', () => {
  let model: LlamaCppLanguageModel;
  beforeAll(() => {
    // one sequence: every request lands on the same KV state
    model = createLlamaCppModel({ ...base, maxSequences: 1 });
  });
  afterAll(async () => {
    await model?.dispose();
  });

  it('turn 2 evaluates only the new tokens; a branch from turn 1 reuses the common prefix', async () => {
    const r1 = await model.doGenerate({ prompt: turn1, maxOutputTokens: 16 });
    const answer1 = r1.content[0]?.type === 'text' ? r1.content[0].text : '';
    expect(r1.usage.inputTokens.cacheRead).toBe(0);
    const p1 = num(r1.usage.inputTokens.total);
    const o1 = num(r1.usage.outputTokens.total);
    // the sequence holds the prompt and every generated token except the last
    expect(decoded(r1.usage)).toBe(p1 + o1 - 1);

    const statsBefore = model.stats();
    const prompt2: LanguageModelV3Prompt = [
      ...turn1,
      assistant(answer1),
      user('Tell me about the weather today.'),
    ];
    const r2 = await model.doGenerate({ prompt: prompt2, maxOutputTokens: 8 });
    const p2 = num(r2.usage.inputTokens.total);
    const cached2 = num(r2.usage.inputTokens.cacheRead);
    const evaluated2 = num(r2.usage.inputTokens.noCache);
    // Everything from turn 1 (prompt + answer) is reused...
    expect(cached2).toBeGreaterThanOrEqual(p1);
    expect(cached2).toBeLessThanOrEqual(p1 + o1);
    // ...so only the new tokens (the new user message and template glue) are evaluated.
    const newTokens = p2 - (p1 + o1);
    expect(evaluated2).toBeGreaterThanOrEqual(newTokens);
    expect(evaluated2).toBeLessThanOrEqual(newTokens + 2);
    // Evidence from llama.cpp's token meter: decoded = new prompt tokens + generated tokens fed back.
    expect(decoded(r2.usage)).toBe(evaluated2 + num(r2.usage.outputTokens.total) - 1);
    const statsAfter = model.stats();
    expect(statsAfter.reusedTokens - statsBefore.reusedTokens).toBe(cached2);
    expect(statsAfter.evaluatedTokens - statsBefore.evaluatedTokens).toBe(evaluated2);
    expect(statsAfter.requests - statsBefore.requests).toBe(1);

    // Branch from turn 1 while turn 2's state is in the sequence.
    const branch: LanguageModelV3Prompt = [
      ...turn1,
      assistant(answer1),
      user('Write a poem instead.'),
    ];
    const rb = await model.doGenerate({ prompt: branch, maxOutputTokens: 8 });
    const pb = num(rb.usage.inputTokens.total);
    const cachedB = num(rb.usage.inputTokens.cacheRead);
    expect(cachedB).toBeGreaterThanOrEqual(p1); // shared prefix reused
    expect(cachedB).toBeLessThan(p2); // turn 2's user message is not
    expect(num(rb.usage.inputTokens.noCache)).toBe(pb - cachedB);
    expect(decoded(rb.usage)).toBe(pb - cachedB + num(rb.usage.outputTokens.total) - 1);

    // Correctness of the branch: same output as a cold model for the same prompt.
    const cold = createLlamaCppModel({ ...base, maxSequences: 1 });
    try {
      const rc = await cold.doGenerate({ prompt: branch, maxOutputTokens: 8 });
      expect(rc.usage.inputTokens.cacheRead).toBe(0);
      expect(rc.usage.inputTokens.total).toBe(pb);
      expect(rc.usage.outputTokens.total).toBe(rb.usage.outputTokens.total);
    } finally {
      await cold.dispose();
    }
  });

  it('an identical prompt re-evaluates only its last token', async () => {
    const a = await model.doGenerate({ prompt: turn1, maxOutputTokens: 2 });
    const b = await model.doGenerate({ prompt: turn1, maxOutputTokens: 2 });
    expect(b.usage.inputTokens.cacheRead).toBe(num(a.usage.inputTokens.total) - 1);
    expect(b.usage.inputTokens.noCache).toBe(1);
  });
});

describe('llama-cpp concurrency', () => {
  it('runs maxSequences requests in parallel, queues beyond, and rejects with 503 when the queue is full', async () => {
    const model = createLlamaCppModel({ ...base, maxSequences: 1, maxQueue: 1 });
    try {
      const a = new AbortController();
      const first = await model.doStream({
        prompt: turn1,
        maxOutputTokens: 900,
        abortSignal: a.signal,
      });
      expect(model.stats().sequencesInUse).toBe(1);
      const second = await model.doStream({ prompt: turn1, maxOutputTokens: 2 });
      expect(model.stats().queued).toBe(1);
      let rejection: unknown;
      try {
        await model.doStream({ prompt: turn1, maxOutputTokens: 2 });
      } catch (e) {
        rejection = e;
      }
      expect(rejection).toMatchObject({ statusCode: 503, isRetryable: true });
      expect(model.stats().rejected).toBe(1);

      a.abort();
      const firstReader = first.stream.getReader();
      await expect(
        (async () => {
          for (;;) if ((await firstReader.read()).done) break;
        })(),
      ).rejects.toMatchObject({ name: 'AbortError' });
      // the queued request gets the sequence once the first is aborted
      const parts: LanguageModelV3StreamPart[] = [];
      const reader = second.stream.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parts.push(value);
      }
      expect(finishOf(parts).finishReason.unified).toBe('length');
      expect(model.stats()).toMatchObject({ queued: 0, sequencesInUse: 0, requests: 2, failed: 1 });
    } finally {
      await model.dispose();
    }
  });

  it('two sequences generate concurrently', async () => {
    const model = createLlamaCppModel({ ...base, maxSequences: 2, maxQueue: 0 });
    try {
      const [x, y] = await Promise.all([
        model.doStream({ prompt: turn1, maxOutputTokens: 40 }),
        model.doStream({ prompt: [user('Something else entirely')], maxOutputTokens: 40 }),
      ]);
      expect(model.stats()).toMatchObject({ sequencesInUse: 2, queued: 0 });
      await expect(model.doStream({ prompt: turn1, maxOutputTokens: 1 })).rejects.toMatchObject({
        statusCode: 503,
      });
      const read = async (s: ReadableStream<LanguageModelV3StreamPart>) => {
        const parts: LanguageModelV3StreamPart[] = [];
        for await (const p of s as unknown as AsyncIterable<LanguageModelV3StreamPart>)
          parts.push(p);
        return parts;
      };
      const [px, py] = await Promise.all([read(x.stream), read(y.stream)]);
      expect(finishOf(px).usage.outputTokens.total).toBe(40);
      expect(finishOf(py).usage.outputTokens.total).toBe(40);
    } finally {
      await model.dispose();
    }
  });

  it('a prompt longer than the context is rejected with a 400 error', async () => {
    const model = createLlamaCppModel({ ...base, contextSize: 256, maxSequences: 1 });
    try {
      await expect(
        model.doGenerate({ prompt: [user('hello world '.repeat(400))], maxOutputTokens: 1 }),
      ).rejects.toMatchObject({ statusCode: 400, isRetryable: false });
    } finally {
      await model.dispose();
    }
  });

  it('cacheBytes evicts idle KV state (LRU)', async () => {
    const model = createLlamaCppModel({ ...base, maxSequences: 2, cacheBytes: 1 });
    try {
      await model.doGenerate({ prompt: turn1, maxOutputTokens: 2 });
      for (let i = 0; i < 100 && model.stats().cachedTokens > 0; i++)
        await new Promise((r) => setTimeout(r, 5));
      expect(model.stats().cachedTokens).toBe(0);
      expect(model.stats().evictions).toBeGreaterThanOrEqual(1);
      const again = await model.doGenerate({ prompt: turn1, maxOutputTokens: 2 });
      expect(again.usage.inputTokens.cacheRead).toBe(0);
    } finally {
      await model.dispose();
    }
  });

  it('dispose during generation ends running and queued requests with an error', async () => {
    const model = createLlamaCppModel({ ...base, maxSequences: 1, maxQueue: 1 });
    const running = await model.doStream({ prompt: turn1, maxOutputTokens: 900 });
    const queued = await model.doStream({ prompt: turn1, maxOutputTokens: 2 });
    // resolves with the stream's error (handled at once: no unhandled rejection)
    const drain = async (s: ReadableStream<LanguageModelV3StreamPart>): Promise<unknown> => {
      const reader = s.getReader();
      try {
        for (;;) if ((await reader.read()).done) return 'done';
      } catch (e) {
        return e;
      }
    };
    const a = drain(running.stream);
    const b = drain(queued.stream);
    await model.dispose();
    expect(await a).toMatchObject({ statusCode: 503 });
    expect(await b).toMatchObject({ statusCode: 503 });
    await expect(model.doGenerate({ prompt: turn1 })).rejects.toMatchObject({ statusCode: 503 });
  });

  it('a missing model file fails with a clear error', async () => {
    const model = createLlamaCppModel({ modelPath: '/nonexistent/model.gguf' });
    await expect(model.doGenerate({ prompt: [user('hi')] })).rejects.toThrow(
      /GGUF file not found at \/nonexistent\/model\.gguf/,
    );
    await model.dispose();
  });

  it('registry factory: config entry → backend, thinking level → thought budget', async () => {
    const backend = createLlamaCppBackend(
      {
        name: 'local',
        backend: 'llama-cpp',
        path: GGUF,
        context_size: 512,
        max_sequences: 1,
        gpu: false,
        threads: 1,
      },
      {},
    );
    expect(backend.backend).toBe('llama-cpp');
    expect(backend.providerOptions({ thinkingLevel: 'minimal' })).toEqual({
      'llama-cpp': { thoughtBudget: 0 },
    });
    expect(backend.providerOptions({ thinkingLevel: 'high' })).toEqual({});
    const model = backend.model as LlamaCppLanguageModel;
    try {
      const res = await model.doGenerate({
        prompt: [user('hi')],
        maxOutputTokens: 3,
        providerOptions: backend.providerOptions({ thinkingLevel: 'low' }),
      });
      expect(res.usage.outputTokens.total).toBe(3);
      expect(model.stats().contextSize).toBe(512);
    } finally {
      await model.dispose();
    }
    expect(() =>
      createLlamaCppBackend({ name: 'x', backend: 'llama-cpp', bogus: 1 }, {}),
    ).toThrow();
  });
});
