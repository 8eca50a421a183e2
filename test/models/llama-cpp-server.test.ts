import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { noRetry, startHarness, type Harness } from '../support/harness.js';

const GGUF = process.env.OI_TEST_GGUF ?? '../shared/models/llama-2-tiny-random.gguf';

/**
 * The seed's examples on a server whose only model is the fixture GGUF (random weights: the text
 * is gibberish, so these assert mechanics — statuses, streaming, usage, cache reuse, valid JSON).
 */
describe('embedded llama.cpp backend through the server', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      store: 'sqlite',
      config: {
        models: [
          {
            name: '*',
            backend: 'llama-cpp',
            path: GGUF,
            gpu: false,
            context_size: 1024,
            max_sequences: 2,
            threads: 1,
          },
        ],
      },
    });
  });
  afterAll(async () => {
    await h.close();
  });

  it('generates text (seed example)', async () => {
    const r = await h.client().interactions.create(
      {
        model: 'gemini-3.5-flash',
        input: 'Explain how AI works in a few words',
        generation_config: { max_output_tokens: 24 },
      },
      noRetry,
    );
    expect(['completed', 'incomplete']).toContain(r.status);
    expect(r.output_text!.length).toBeGreaterThan(0);
    expect(r.usage!.total_output_tokens).toBeGreaterThan(0);
    expect(r.usage!.total_output_tokens).toBeLessThanOrEqual(24);
    expect(r.usage!.total_tokens).toBe(
      r.usage!.total_input_tokens! + r.usage!.total_output_tokens! + r.usage!.total_thought_tokens!,
    );
  });

  it('streams text (seed example) and stops at max_output_tokens with status incomplete', async () => {
    const stream = await h.client().interactions.create(
      {
        model: 'gemini-3.5-flash',
        input: 'Tell me a story',
        stream: true,
        generation_config: { max_output_tokens: 12 },
      },
      noRetry,
    );
    // How many deltas carry the text depends on the machine's load (the worker joins tokens
    // every `stream_batch_ms`, the event log joins a burst): the streamed text must be the
    // stored text, however it was cut.
    let deltas = 0;
    let streamed = '';
    let status = '';
    let id = '';
    for await (const e of stream) {
      if (e.event_type === 'interaction.created') id = e.interaction.id!;
      if (e.event_type === 'step.delta' && e.delta.type === 'text') {
        deltas += 1;
        streamed += e.delta.text;
      }
      if (e.event_type === 'interaction.completed') status = e.interaction.status;
    }
    expect(deltas).toBeGreaterThanOrEqual(1);
    expect(status).toBe('incomplete');
    const stored = await h.client().interactions.get(id, undefined, noRetry);
    expect(streamed.length).toBeGreaterThan(0);
    expect(streamed).toBe(stored.output_text);
  });

  it('continues a conversation and evaluates only the new tokens on turn 2 (KV-cache reuse)', async () => {
    const ai = h.client();
    const t1 = await ai.interactions.create(
      {
        model: 'gemini-3.5-flash',
        input: 'Hi, my name is Phil.',
        generation_config: { max_output_tokens: 8 },
      },
      noRetry,
    );
    const t2 = await ai.interactions.create(
      {
        model: 'gemini-3.5-flash',
        input: 'What is my name?',
        previous_interaction_id: t1.id,
        generation_config: { max_output_tokens: 8 },
      },
      noRetry,
    );
    expect(t2.usage!.total_input_tokens).toBeGreaterThan(t1.usage!.total_input_tokens!);
    // the whole of turn 1 (its prompt and answer) came from the cache
    expect(t2.usage!.total_cached_tokens).toBeGreaterThanOrEqual(t1.usage!.total_input_tokens!);
    // branch from turn 1 again: still correct, still reusing the shared prefix
    const branch = await ai.interactions.create(
      {
        model: 'gemini-3.5-flash',
        input: 'Something else.',
        previous_interaction_id: t1.id,
        generation_config: { max_output_tokens: 8 },
      },
      noRetry,
    );
    expect(['completed', 'incomplete']).toContain(branch.status);
    expect(branch.usage!.total_cached_tokens).toBeGreaterThan(0);
  });

  it('produces a valid function call with grammar-constrained generation', async () => {
    const r = await h.client().interactions.create(
      {
        model: 'gemini-3.5-flash',
        input: 'What is the weather in Paris?',
        tools: [
          {
            type: 'function',
            name: 'get_weather',
            parameters: {
              type: 'object',
              properties: { city: { type: 'string', enum: ['Paris', 'Rome', 'Oslo'] } },
              required: ['city'],
            },
          },
        ],
        generation_config: { tool_choice: 'any', max_output_tokens: 64 },
      },
      noRetry,
    );
    expect(r.status).toBe('requires_action');
    const call = r.steps!.find((s) => s.type === 'function_call') as unknown as {
      name: string;
      arguments: { city: string };
    };
    expect(call.name).toBe('get_weather');
    expect(['Paris', 'Rome', 'Oslo']).toContain(call.arguments.city);
  });

  it('produces JSON that satisfies a bounded response_format schema', async () => {
    const r = await h.client().interactions.create(
      {
        model: 'gemini-3.5-flash',
        input: 'Rate this.',
        response_format: {
          type: 'text',
          mime_type: 'application/json',
          schema: {
            type: 'object',
            properties: {
              mood: { type: 'string', enum: ['happy', 'sad'] },
              score: { type: 'integer', enum: [1, 2, 3] },
            },
            required: ['mood', 'score'],
          },
        },
        generation_config: { max_output_tokens: 64 },
      },
      noRetry,
    );
    expect(r.status).toBe('completed');
    const value = JSON.parse(r.output_text!) as { mood: string; score: number };
    expect(['happy', 'sad']).toContain(value.mood);
    expect([1, 2, 3]).toContain(value.score);
  });

  it('answers 503 with Retry-After when every sequence is busy and the queue is full', async () => {
    const busy = await startHarness({
      store: 'sqlite',
      config: {
        models: [
          {
            name: '*',
            backend: 'llama-cpp',
            path: GGUF,
            gpu: false,
            context_size: 1024,
            max_sequences: 1,
            max_queue: 0,
            threads: 1,
          },
        ],
      },
    });
    try {
      const create = (body: object) =>
        busy.fetch('/v1beta/interactions', {
          method: 'POST',
          body: JSON.stringify({ model: 'm', ...body }),
        });
      await create({ input: 'warm up', generation_config: { max_output_tokens: 2 } });
      const long = await create({
        input: 'a long one',
        background: true,
        generation_config: { max_output_tokens: 900 },
      });
      const { id } = (await long.json()) as { id: string };
      let refused: Response | undefined;
      for (let i = 0; i < 200 && !refused; i++) {
        const res = await create({ input: 'me too', generation_config: { max_output_tokens: 1 } });
        if (res.status === 503) refused = res;
        const state = (await (await busy.fetch(`/v1beta/interactions/${id}`)).json()) as {
          status: string;
        };
        if (state.status !== 'in_progress') break;
      }
      expect(refused?.status).toBe(503);
      expect(refused!.headers.get('retry-after')).toBe('1');
      const { error } = (await refused!.json()) as { error: { code: string; message: string } };
      expect(error.code).toBe('unavailable');
      expect(error.message).toMatch(/^model: .* at capacity/);
    } finally {
      await busy.close();
    }
  });
});
