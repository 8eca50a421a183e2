import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAnthropicBackend } from '../../src/models/anthropic.js';
import { createGoogleBackend } from '../../src/models/google.js';
import {
  startFakeAnthropic,
  type AnthropicContentBlock,
  type AnthropicReply,
  type AnthropicRequest,
  type FakeAnthropic,
} from '../support/fake-anthropic.js';
import {
  startFakeGoogle,
  type FakeGoogle,
  type GooglePart,
  type GoogleReply,
  type GoogleRequest,
} from '../support/fake-google.js';
import { noRetry, startHarness, type Harness } from '../support/harness.js';

const weatherTool = {
  type: 'function' as const,
  name: 'get_current_temperature',
  description: 'Gets the current temperature for a given location.',
  parameters: {
    type: 'object',
    properties: { location: { type: 'string', description: 'The city name, e.g. San Francisco' } },
    required: ['location'],
  },
};

const CALL_ID = /^[a-z0-9]{8}$/;

function parseJson(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

/** A reply in provider-neutral terms; each case translates it to its wire format. */
interface Reply {
  thinking?: string[];
  text?: string[];
  calls?: { name: string; args: Record<string, unknown>; chunks?: string[] }[];
  /** Usage; `output` excludes thinking, `thought` is the thinking tokens. */
  usage?: { input: number; output: number; thought?: number };
  maxTokens?: boolean;
  status?: number;
}

/** What a request carried, read back from the provider's format. */
interface Seen {
  calls: { id: string; name: string; args: unknown }[];
  results: { id: string; name?: string; content: unknown }[];
  /** Reasoning replayed in the model's earlier turns. */
  thoughts: string[];
}

interface ProviderCase {
  backend: 'anthropic' | 'google';
  upstreamModel: string;
  start(): Promise<void>;
  close(): Promise<void>;
  url(): string;
  program(script: (seen: Seen, index: number) => Reply): void;
  /** Number of requests the fake has seen. */
  count(): number;
  seen(index: number): Seen;
  /** Checks the provider-format history of a request that carries a call and its result. */
  expectRoundTrip(index: number, call: { name: string; args: unknown }, result: unknown): void;
  /** Checks how a request asked for thinking (`undefined`: not at all). */
  expectThinking(index: number, level: string | undefined): void;
  /** The API key header the fake received. */
  apiKey(index: number): string | undefined;
  extraEntry?: Record<string, unknown>;
}

function anthropicCase(): ProviderCase {
  let fake: FakeAnthropic;
  const toWire = (r: Reply): AnthropicReply => ({
    thinking: r.thinking,
    text: r.text,
    toolCalls: r.calls?.map((c) => ({ name: c.name, input: c.args, jsonChunks: c.chunks })),
    stopReason: r.maxTokens ? 'max_tokens' : undefined,
    usage: r.usage && {
      input_tokens: r.usage.input,
      output_tokens: r.usage.output + (r.usage.thought ?? 0),
      ...(r.usage.thought !== undefined ? { thinking_tokens: r.usage.thought } : {}),
    },
    status: r.status,
  });
  const blocks = (body: AnthropicRequest, role: 'user' | 'assistant') =>
    body.messages
      .filter((m) => m.role === role)
      .flatMap((m) => (typeof m.content === 'string' ? [] : m.content));
  const seenOf = (body: AnthropicRequest): Seen => ({
    calls: blocks(body, 'assistant')
      .filter((b) => b.type === 'tool_use')
      .map((b) => ({ id: b.id!, name: b.name!, args: b.input })),
    results: blocks(body, 'user')
      .filter((b) => b.type === 'tool_result')
      .map((b) => ({ id: b.tool_use_id!, content: parseJson(b.content) })),
    thoughts: blocks(body, 'assistant')
      .filter((b) => b.type === 'thinking')
      .map((b) => b.thinking ?? ''),
  });
  return {
    backend: 'anthropic',
    upstreamModel: 'claude-sonnet-4-5',
    extraEntry: { max_output_tokens_default: 4000 },
    async start() {
      fake = await startFakeAnthropic();
    },
    close: () => fake.close(),
    url: () => fake.url,
    program(script) {
      fake.script = (body, index) => toWire(script(seenOf(body), index));
    },
    count: () => fake.requests.length,
    seen: (index) => seenOf(fake.requests[index]!),
    expectRoundTrip(index, call, result) {
      const body = fake.requests[index]!;
      expect(body.stream).toBe(true);
      // user question → assistant tool_use → user tool_result (same id)
      expect(body.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
      const toolUse = (body.messages[1]!.content as AnthropicContentBlock[]).find(
        (b) => b.type === 'tool_use',
      )!;
      expect(toolUse).toMatchObject({ type: 'tool_use', name: call.name, input: call.args });
      expect(toolUse.id).toMatch(CALL_ID);
      const toolResult = (body.messages[2]!.content as AnthropicContentBlock[])[0]!;
      expect(toolResult).toMatchObject({ type: 'tool_result', tool_use_id: toolUse.id });
      expect(JSON.parse(toolResult.content as string)).toEqual(result);
      expect(body.tools?.map((t) => t.name)).toEqual([call.name]);
    },
    expectThinking(index, level) {
      const body = fake.requests[index]!;
      if (level === undefined) {
        expect(body.thinking).toBeUndefined();
        expect(body.max_tokens).toBe(4000); // max_output_tokens_default
        return;
      }
      const budget = { minimal: 1024, low: 2048, medium: 8192, high: 16384 }[level]!;
      expect(body.thinking).toEqual({ type: 'enabled', budget_tokens: budget });
      expect(body.max_tokens).toBe(4000 + budget);
    },
    apiKey: (index) => fake.headers[index]!['x-api-key'] as string | undefined,
  };
}

function googleCase(): ProviderCase {
  let fake: FakeGoogle;
  const toWire = (r: Reply): GoogleReply => ({
    thinking: r.thinking,
    text: r.text,
    functionCalls: r.calls?.map((c) => ({ name: c.name, args: c.args })),
    finishReason: r.maxTokens ? 'MAX_TOKENS' : undefined,
    usage: r.usage && {
      promptTokenCount: r.usage.input,
      candidatesTokenCount: r.usage.output,
      ...(r.usage.thought !== undefined ? { thoughtsTokenCount: r.usage.thought } : {}),
    },
    status: r.status,
  });
  const parts = (body: GoogleRequest, role: 'user' | 'model') =>
    body.contents.filter((c) => c.role === role).flatMap((c) => c.parts);
  const seenOf = (body: GoogleRequest): Seen => ({
    calls: parts(body, 'model')
      .filter((p) => p.functionCall)
      .map((p) => ({
        id: p.functionCall!.id!,
        name: p.functionCall!.name,
        args: p.functionCall!.args,
      })),
    results: parts(body, 'user')
      .filter((p) => p.functionResponse)
      .map((p) => ({
        id: p.functionResponse!.id!,
        name: p.functionResponse!.name,
        content: p.functionResponse!.response.content,
      })),
    thoughts: parts(body, 'model')
      .filter((p) => p.thought)
      .map((p) => p.text ?? ''),
  });
  return {
    backend: 'google',
    upstreamModel: 'gemini-3-flash-preview',
    async start() {
      fake = await startFakeGoogle();
    },
    close: () => fake.close(),
    url: () => fake.url,
    program(script) {
      fake.script = (body, index) => toWire(script(seenOf(body), index));
    },
    count: () => fake.requests.length,
    seen: (index) => seenOf(fake.requests[index]!),
    expectRoundTrip(index, call, result) {
      const request = fake.calls[index]!;
      expect(request).toMatchObject({
        model: 'gemini-3-flash-preview',
        method: 'streamGenerateContent',
        query: 'alt=sse',
      });
      const body = request.body;
      // user question → model functionCall → user functionResponse (same id and name)
      expect(body.contents.map((c) => c.role)).toEqual(['user', 'model', 'user']);
      const callPart = body.contents[1]!.parts.find((p) => p.functionCall) as GooglePart;
      expect(callPart.functionCall).toMatchObject({ name: call.name, args: call.args });
      expect(callPart.functionCall!.id).toMatch(CALL_ID);
      // the stored steps do not carry Gemini's signature: the provider sends its documented
      // placeholder so Gemini 3 accepts the replayed call
      expect(callPart.thoughtSignature).toBe('skip_thought_signature_validator');
      const responsePart = body.contents[2]!.parts[0]!;
      expect(responsePart.functionResponse).toEqual({
        id: callPart.functionCall!.id,
        name: call.name,
        response: { name: call.name, content: result },
      });
      expect(body.tools?.[0]?.functionDeclarations?.map((f) => f.name)).toEqual([call.name]);
    },
    expectThinking(index, level) {
      const config = fake.requests[index]!.generationConfig?.thinkingConfig;
      expect(config).toEqual(
        level === undefined
          ? { includeThoughts: true }
          : { thinkingLevel: level, includeThoughts: true },
      );
    },
    apiKey: (index) => fake.calls[index]!.headers['x-goog-api-key'] as string | undefined,
  };
}

/** First turn: call the tool for each city; then answer with the results it was given. */
function weatherScript(cities: string[], chunked = false) {
  return (seen: Seen): Reply => {
    if (seen.results.length === 0) {
      return {
        calls: cities.map((c) => ({
          name: 'get_current_temperature',
          args: { location: c },
          chunks: chunked ? ['{"location":', JSON.stringify(c), '}'] : undefined,
        })),
        usage: { input: 30, output: 8 },
      };
    }
    const temps = seen.results.map((r) => (r.content as { temperature: string }).temperature);
    return { text: ['It is ', `${temps.join(' and ')}.`], usage: { input: 50, output: 6 } };
  };
}

const temperature = (location: string) => ({ temperature: location === 'London' ? '15C' : '25C' });

describe.each([anthropicCase(), googleCase()])('$backend backend', (pc) => {
  let h: Harness;
  beforeAll(async () => {
    await pc.start();
    h = await startHarness({
      store: 'sqlite',
      config: {
        models: [
          {
            name: 'gemini-*',
            backend: pc.backend,
            base_url: pc.url(),
            model: pc.upstreamModel,
            api_key: `${pc.backend}-secret`,
            ...pc.extraEntry,
          },
        ],
      },
    });
  });
  afterAll(async () => {
    await h?.close();
    await pc.close();
  });
  beforeEach(() => {
    pc.program(() => ({ text: ['hello'] }));
  });

  it("runs the seed's function-calling example (non-streaming); turn 2 carries the call and its result", async () => {
    pc.program(weatherScript(['London']));
    const ai = h.client();
    const interaction = await ai.interactions.create(
      {
        model: 'gemini-3.5-flash',
        input: "What's the temperature in London?",
        tools: [weatherTool],
      },
      noRetry,
    );
    expect(interaction.status).toBe('requires_action');
    expect(interaction.model).toBe('gemini-3.5-flash');
    const calls = (interaction.steps ?? []).filter((s) => s.type === 'function_call');
    expect(calls).toHaveLength(1);
    const call = calls[0] as unknown as {
      id: string;
      name: string;
      arguments: { location: string };
    };
    expect(call).toMatchObject({
      name: 'get_current_temperature',
      arguments: { location: 'London' },
    });
    expect(call.id).toMatch(CALL_ID);
    const first = pc.count() - 1;
    expect(pc.apiKey(first)).toBe(`${pc.backend}-secret`);
    expect(pc.seen(first)).toEqual({ calls: [], results: [], thoughts: [] });
    pc.expectThinking(first, undefined);

    const next = await ai.interactions.create(
      {
        model: 'gemini-3.5-flash',
        previous_interaction_id: interaction.id,
        input: [
          {
            type: 'function_result',
            call_id: call.id,
            name: call.name,
            result: temperature(call.arguments.location),
          },
        ],
        tools: [weatherTool],
      },
      noRetry,
    );
    expect(next.status).toBe('completed');
    expect(next.output_text).toBe('It is 15C.');
    pc.expectRoundTrip(
      pc.count() - 1,
      { name: 'get_current_temperature', args: { location: 'London' } },
      { temperature: '15C' },
    );
    expect(next.usage).toMatchObject({ total_input_tokens: 50, total_output_tokens: 6 });
  });

  it('streams the function call: step.start (id, name, arguments {}), arguments_delta fragments, requires_action', async () => {
    pc.program(weatherScript(['London'], true));
    const ai = h.client();
    const stream = await ai.interactions.create(
      {
        model: 'gemini-3.5-flash',
        input: "What's the temperature in London?",
        tools: [weatherTool],
        stream: true,
      },
      noRetry,
    );
    let id = '';
    let status = '';
    const starts: { id: string; name: string; arguments: unknown }[] = [];
    const fragments: string[] = [];
    for await (const event of stream) {
      if (event.event_type === 'interaction.created') id = event.interaction.id;
      if (event.event_type === 'step.start' && event.step.type === 'function_call')
        starts.push(event.step);
      if (event.event_type === 'step.delta' && event.delta.type === 'arguments_delta')
        fragments.push(event.delta.arguments ?? '');
      if (event.event_type === 'interaction.completed') status = event.interaction.status;
    }
    expect(status).toBe('requires_action');
    expect(starts).toHaveLength(1);
    expect(starts[0]).toMatchObject({
      type: 'function_call',
      name: 'get_current_temperature',
      arguments: {},
    });
    expect(starts[0]!.id).toMatch(CALL_ID);
    expect(fragments.length).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(fragments.join(''))).toEqual({ location: 'London' });
    // the stored interaction folds the fragments into the arguments
    const got = await ai.interactions.get(id, undefined, noRetry);
    expect(got.status).toBe('requires_action');
    expect(got.steps?.find((s) => s.type === 'function_call')).toMatchObject({
      id: starts[0]!.id,
      arguments: { location: 'London' },
    });

    const next = await ai.interactions.create(
      {
        model: 'gemini-3.5-flash',
        previous_interaction_id: id,
        input: [
          {
            type: 'function_result',
            call_id: starts[0]!.id,
            name: 'get_current_temperature',
            result: temperature('London'),
          },
        ],
        tools: [weatherTool],
        stream: true,
      },
      noRetry,
    );
    let text = '';
    let final = '';
    for await (const event of next) {
      if (event.event_type === 'step.delta' && event.delta.type === 'text')
        text += event.delta.text;
      if (event.event_type === 'interaction.completed') final = event.interaction.status;
    }
    expect(final).toBe('completed');
    expect(text).toBe('It is 15C.');
    pc.expectRoundTrip(
      pc.count() - 1,
      { name: 'get_current_temperature', args: { location: 'London' } },
      { temperature: '15C' },
    );
  });

  it('answers parallel calls (two in one turn) in one turn', async () => {
    pc.program(weatherScript(['London', 'Paris']));
    const ai = h.client();
    const t1 = await ai.interactions.create(
      { model: 'gemini-3.5-flash', input: 'London and Paris?', tools: [weatherTool] },
      noRetry,
    );
    expect(t1.status).toBe('requires_action');
    const calls = (t1.steps ?? []).filter((s) => s.type === 'function_call') as unknown as {
      id: string;
      name: string;
      arguments: { location: string };
    }[];
    expect(calls.map((c) => c.arguments.location)).toEqual(['London', 'Paris']);
    expect(new Set(calls.map((c) => c.id)).size).toBe(2);
    for (const c of calls) expect(c.id).toMatch(CALL_ID);

    const t2 = await ai.interactions.create(
      {
        model: 'gemini-3.5-flash',
        previous_interaction_id: t1.id,
        input: calls.map((c) => ({
          type: 'function_result' as const,
          call_id: c.id,
          name: c.name,
          result: temperature(c.arguments.location),
        })),
        tools: [weatherTool],
      },
      noRetry,
    );
    expect(t2.status).toBe('completed');
    expect(t2.output_text).toBe('It is 15C and 25C.');
    const seen = pc.seen(pc.count() - 1);
    expect(seen.calls.map((c) => [c.id, c.args])).toEqual(
      calls.map((c) => [c.id, { location: c.arguments.location }]),
    );
    expect(seen.results.map((r) => r.id)).toEqual(calls.map((c) => c.id));
  });

  it('maps thinking and text to a thought step then model_output; thinking_level reaches the provider; usage adds up', async () => {
    pc.program(() => ({
      thinking: ['Let me think ', 'about London.'],
      text: ['London is ', 'rainy.'],
      usage: { input: 20, output: 18, thought: 12 },
    }));
    const ai = h.client();
    const r = await ai.interactions.create(
      {
        model: 'gemini-3.5-flash',
        input: 'Weather in London?',
        generation_config: { thinking_level: 'low', thinking_summaries: 'auto' },
      },
      noRetry,
    );
    expect(r.status).toBe('completed');
    expect(r.steps?.map((s) => s.type)).toEqual(['thought', 'model_output']);
    const thought = r.steps![0] as {
      summary?: { type: string; text: string }[];
      signature?: string;
    };
    // one summary item per thought, however many chunks the reasoning came in
    expect(thought.summary).toEqual([{ type: 'text', text: 'Let me think about London.' }]);
    expect(thought.signature).toEqual(expect.any(String));
    expect(r.output_text).toBe('London is rainy.');
    expect(r.usage).toMatchObject({
      total_input_tokens: 20,
      total_output_tokens: 18,
      total_thought_tokens: 12,
      total_tokens: 50,
    });
    pc.expectThinking(pc.count() - 1, 'low');
  });

  it('streams thinking then a function call: the thought step is closed (with its signature) before the call starts', async () => {
    pc.program((seen) =>
      seen.results.length === 0
        ? {
            thinking: ['I should call the tool.'],
            calls: [{ name: 'get_current_temperature', args: { location: 'London' } }],
          }
        : { text: ['It is 15C.'] },
    );
    const ai = h.client();
    const stream = await ai.interactions.create(
      {
        model: 'gemini-3.5-flash',
        input: 'London?',
        tools: [weatherTool],
        generation_config: { thinking_level: 'high' },
        stream: true,
      },
      noRetry,
    );
    const order: string[] = [];
    let id = '';
    let status = '';
    for await (const event of stream) {
      if (event.event_type === 'interaction.created') id = event.interaction.id;
      if (event.event_type === 'step.start') order.push(`start:${event.step.type}`);
      if (event.event_type === 'step.delta') order.push(`delta:${event.delta.type}`);
      if (event.event_type === 'step.stop') order.push('stop');
      if (event.event_type === 'interaction.completed') status = event.interaction.status;
    }
    expect(status).toBe('requires_action');
    // thinking_summaries defaults to none, as Google's does: no summary, only the signature
    expect(order).toEqual([
      'start:thought',
      'delta:thought_signature',
      'stop',
      'start:function_call',
      'delta:arguments_delta',
      'stop',
    ]);
    const got = await ai.interactions.get(id, undefined, noRetry);
    const call = got.steps!.find((s) => s.type === 'function_call') as { id: string };
    const t2 = await ai.interactions.create(
      {
        model: 'gemini-3.5-flash',
        previous_interaction_id: id,
        input: [{ type: 'function_result', call_id: call.id, result: { temperature: '15C' } }],
        tools: [weatherTool],
        generation_config: { thinking_level: 'high' },
      },
      noRetry,
    );
    expect(t2.status).toBe('completed');
    expect(t2.output_text).toBe('It is 15C.');
    // The thought step's signature carries the provider's own (Anthropic's thinking-block
    // signature), so turn 2 replays the signed thinking block and keeps thinking on; the
    // Anthropic fake answers 400 to a thinking continuation without it, as the real API does.
    pc.expectThinking(pc.count() - 2, 'high');
    pc.expectThinking(pc.count() - 1, 'high');
    // Without a summary a signed thought still replays its reasoning verbatim (Anthropic checks
    // the text against its signature, and its fake answers 400 otherwise): the text rides in the
    // step's signature. Gemini signs its function calls, not its thoughts.
    if (pc.backend === 'anthropic')
      expect(pc.seen(pc.count() - 1).thoughts).toEqual(['I should call the tool.']);
  });

  it('reports a max-tokens stop as incomplete', async () => {
    pc.program(() => ({ text: ['cut o'], maxTokens: true }));
    const r = await h
      .client()
      .interactions.create(
        { model: 'gemini-3.5-flash', input: 'long', generation_config: { max_output_tokens: 5 } },
        noRetry,
      );
    expect(r.status).toBe('incomplete');
    expect(r.output_text).toBe('cut o');
  });

  it('records an HTTP 500 from the provider as a failed interaction with errors', async () => {
    pc.program(() => ({ status: 500 }));
    const ai = h.client();
    const r = await ai.interactions.create({ model: 'gemini-3.5-flash', input: 'boom' }, noRetry);
    expect(r.status).toBe('failed');
    const got = await ai.interactions.get(r.id, undefined, noRetry);
    expect(got.status).toBe('failed');
    expect(got.errors?.[0]).toMatchObject({ code: 'unavailable' });
    expect(got.errors?.[0]?.message).toMatch(/model backend 'gemini-\*' failed \(HTTP 500\)/);
  });

  it('maps an HTTP 429 from the provider to resource_exhausted', async () => {
    pc.program(() => ({ status: 429 }));
    const ai = h.client();
    const r = await ai.interactions.create({ model: 'gemini-3.5-flash', input: 'busy' }, noRetry);
    expect(r.status).toBe('failed');
    const got = await ai.interactions.get(r.id, undefined, noRetry);
    expect(got.errors?.[0]?.code).toBe('resource_exhausted');
  });
});

describe('backend factories against the fakes (non-streaming doGenerate)', () => {
  it('anthropic: config defaults, max_output_tokens_default, a JSON message with thinking, text and tool_use', async () => {
    const fake = await startFakeAnthropic(() => ({
      thinking: ['hmm'],
      text: ['Calling.'],
      toolCalls: [{ name: 'get_current_temperature', input: { location: 'Oslo' } }],
      usage: { input_tokens: 9, output_tokens: 7, thinking_tokens: 2 },
    }));
    try {
      const backend = createAnthropicBackend(
        {
          name: 'claude',
          backend: 'anthropic',
          model: 'claude-sonnet-4-5',
          base_url: fake.url,
          api_key: 'k',
          headers: { 'x-extra': 'yes' },
          max_output_tokens_default: 1234,
        },
        {},
      );
      expect([...backend.inputModalities]).toEqual(['text', 'image', 'document']);
      expect(backend.providerOptions({})).toEqual({});
      expect(backend.providerOptions({ thinkingLevel: 'medium' })).toEqual({
        anthropic: { thinking: { type: 'enabled', budgetTokens: 8192 } },
      });
      const result = await backend.model.doGenerate({
        prompt: [{ role: 'user', content: [{ type: 'text', text: 'Oslo?' }] }],
        tools: [
          {
            type: 'function',
            name: 'get_current_temperature',
            inputSchema: weatherTool.parameters as never,
          },
        ],
      });
      expect(fake.requests[0]).toMatchObject({ model: 'claude-sonnet-4-5', max_tokens: 1234 });
      expect(fake.requests[0]!.stream).toBeFalsy();
      expect(fake.headers[0]).toMatchObject({ 'x-api-key': 'k', 'x-extra': 'yes' });
      expect(result.content.map((c) => c.type)).toEqual(['reasoning', 'text', 'tool-call']);
      expect(result.finishReason.unified).toBe('tool-calls');
      expect(result.usage.outputTokens).toMatchObject({ total: 7, reasoning: 2, text: 5 });
    } finally {
      await fake.close();
    }
  });

  it('google: config defaults, thinking styles by model id, a JSON response with thought, text and functionCall', async () => {
    const fake = await startFakeGoogle(() => ({
      thinking: ['hmm'],
      text: ['Calling.'],
      functionCalls: [{ name: 'get_current_temperature', args: { location: 'Oslo' } }],
      usage: { promptTokenCount: 9, candidatesTokenCount: 5, thoughtsTokenCount: 2 },
    }));
    try {
      const entry = { name: 'g', backend: 'google', base_url: fake.url, api_key: 'k' };
      const backend = createGoogleBackend({ ...entry, model: 'gemini-3-pro-preview' }, {});
      expect(backend.providerOptions({ thinkingLevel: 'high' })).toEqual({
        google: { thinkingConfig: { includeThoughts: true, thinkingLevel: 'high' } },
      });
      const flash25 = createGoogleBackend({ ...entry, model: 'gemini-2.5-flash' }, {});
      expect(flash25.providerOptions({ thinkingLevel: 'low' })).toEqual({
        google: { thinkingConfig: { includeThoughts: true, thinkingBudget: 2048 } },
      });
      const flash20 = createGoogleBackend({ ...entry, model: 'gemini-2.0-flash' }, {});
      expect(flash20.providerOptions({ thinkingLevel: 'low' })).toEqual({});
      const forced = createGoogleBackend({ ...entry, model: 'my-tuned', thinking: 'budget' }, {});
      expect(forced.providerOptions({ thinkingLevel: 'high' })).toEqual({
        google: { thinkingConfig: { includeThoughts: true, thinkingBudget: 24576 } },
      });
      const result = await backend.model.doGenerate({
        prompt: [{ role: 'user', content: [{ type: 'text', text: 'Oslo?' }] }],
        providerOptions: backend.providerOptions({}),
      });
      expect(fake.calls[0]).toMatchObject({
        model: 'gemini-3-pro-preview',
        method: 'generateContent',
        headers: { 'x-goog-api-key': 'k' },
      });
      expect(result.content.map((c) => c.type)).toEqual(['reasoning', 'text', 'tool-call']);
      expect(result.usage.outputTokens).toMatchObject({ total: 7, reasoning: 2, text: 5 });
    } finally {
      await fake.close();
    }
  });
});
