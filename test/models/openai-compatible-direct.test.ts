import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import {
  APICallError,
  type LanguageModelV3,
  type LanguageModelV3CallOptions,
  type LanguageModelV3StreamPart,
} from '@ai-sdk/provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOpenAICompatibleBackend } from '../../src/models/openai-compatible/backend.js';
import { DirectOpenAICompatibleChatModel } from '../../src/models/openai-compatible/chat-model.js';
import { partBatchesOf } from '../../src/models/part-batches.js';
import { createUpstreamFetch } from '../../src/net/upstream-fetch.js';
import {
  startFakeUpstream,
  type FakeUpstream,
  type UpstreamReply,
} from '../support/fake-upstream.js';

/*
 * The direct streaming path of the openai-compatible backend (src/models/openai-compatible/)
 * against the AI SDK provider it replaces: the same scripted upstream on 127.0.0.1 answers both,
 * and both must produce the same stream parts, the same request body and the same errors.
 */

let reply: UpstreamReply = {};
let upstream: FakeUpstream;

beforeAll(async () => {
  upstream = await startFakeUpstream(() => reply);
});
afterAll(async () => {
  await upstream.close();
});

const entry = (baseUrl: string) => ({
  name: 'm',
  backend: 'openai-compatible',
  model: 'up-model',
  base_url: baseUrl,
  api_key: 'sk-test',
  headers: { 'x-extra': 'yes' },
});

function direct(baseUrl = upstream.url): LanguageModelV3 {
  const model = createOpenAICompatibleBackend(entry(baseUrl), {
    fetch: createUpstreamFetch(),
  }).model;
  expect(model).toBeInstanceOf(DirectOpenAICompatibleChatModel);
  return model;
}

/** The provider as the backend configured it before (its own fetch path). */
function reference(baseUrl = upstream.url): LanguageModelV3 {
  const model = createOpenAICompatibleBackend(entry(baseUrl), { fetch: globalThis.fetch }).model;
  expect(model).not.toBeInstanceOf(DirectOpenAICompatibleChatModel);
  return model;
}

const call = (extra: Partial<LanguageModelV3CallOptions> = {}): LanguageModelV3CallOptions => ({
  prompt: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }],
  ...extra,
});

/** The parts of a stream, with what differs per call by design (generated ids, times) blanked. */
async function parts(model: LanguageModelV3, options = call()): Promise<unknown[]> {
  const { stream } = await model.doStream(options);
  const out: unknown[] = [];
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    out.push(normalise(value));
  }
  return out;
}

/** The same, taken in batches (as the engine's model round takes them) by a slow reader. */
async function batchedParts(model: LanguageModelV3, options = call()): Promise<unknown[]> {
  const { stream } = await model.doStream(options);
  const batches = partBatchesOf(stream);
  expect(batches).toBeDefined();
  const out: unknown[] = [];
  for (;;) {
    await new Promise((r) => setTimeout(r, 1)); // the body arrives meanwhile
    const batch = await batches!.next();
    if (batch === null) break;
    out.push(...batch.map(normalise));
  }
  return out;
}

function normalise(part: LanguageModelV3StreamPart): unknown {
  if (part.type === 'response-metadata') return { ...part, timestamp: 'T', id: 'ID' };
  if (part.type === 'error') {
    const e = part.error as { name?: string; message?: string };
    return { type: 'error', name: e?.name ?? typeof e, message: e?.message };
  }
  return part;
}

async function both(r: UpstreamReply, options = call()) {
  reply = r;
  const first = upstream.requests.length;
  const mine = await parts(direct(), options);
  const theirs = await parts(reference(), options);
  return { mine, theirs, requests: upstream.requests.slice(first) };
}

describe('openai-compatible direct streaming path', () => {
  it('streams text and usage as the provider does, with the same request body and headers', async () => {
    const { mine, theirs, requests } = await both({
      text: ['Hel', 'lo ', 'wörld'],
      usage: { prompt_tokens: 5, completion_tokens: 3 },
    });
    expect(mine).toEqual(theirs);
    expect(mine.filter((p) => (p as { type: string }).type === 'text-delta')).toHaveLength(3);
    expect(mine.at(-1)).toMatchObject({
      type: 'finish',
      finishReason: { unified: 'stop', raw: 'stop' },
      usage: { inputTokens: { total: 5 }, outputTokens: { total: 3 } },
    });
    expect(requests[0]).toEqual(requests[1]);
    expect(requests[0]).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });

  it('streams reasoning, then text, with reasoning tokens in the usage', async () => {
    const { mine, theirs } = await both({
      reasoning: ['think', 'ing'],
      text: ['done'],
      usage: { prompt_tokens: 5, completion_tokens: 1, reasoning_tokens: 4 },
    });
    expect(mine).toEqual(theirs);
    const types = mine.map((p) => (p as { type: string }).type);
    expect(types).toContain('reasoning-start');
    expect(types.indexOf('reasoning-end')).toBeLessThan(types.indexOf('text-start'));
    expect(mine.at(-1)).toMatchObject({ usage: { outputTokens: { reasoning: 4, text: 1 } } });
  });

  it('streams tool calls whose arguments come in pieces across chunks', async () => {
    const { mine, theirs } = await both({
      toolCalls: [
        { name: 'get_weather', arguments: '', argumentChunks: ['{"ci', 'ty":"Pa', 'ris"}'] },
        { name: 'get_time', arguments: '{}' },
      ],
    });
    // the scripted call ids carry the request's number: the same call, two requests
    const ids = (ps: unknown[]) => ps.map((p) => JSON.stringify(p).replace(/call_\d+_/g, 'call_'));
    expect(ids(mine)).toEqual(ids(theirs));
    const calls = mine.filter((p) => (p as { type: string }).type === 'tool-call');
    expect(calls).toEqual([
      expect.objectContaining({ toolName: 'get_weather', input: '{"city":"Paris"}' }),
      expect.objectContaining({ toolName: 'get_time', input: '{}' }),
    ]);
    expect(mine.at(-1)).toMatchObject({ finishReason: { unified: 'tool-calls' } });
  });

  it('sends the structured-output format and the reasoning effort the provider sends', async () => {
    const schema = { type: 'object', properties: { a: { type: 'string' } } };
    const { requests } = await both(
      { text: ['{"a":"b"}'] },
      call({
        responseFormat: { type: 'json', schema: schema as never },
        providerOptions: { openaiCompatible: { reasoningEffort: 'low' } },
      }),
    );
    expect(requests[0]).toEqual(requests[1]);
    expect(requests[0]).toMatchObject({
      reasoning_effort: 'low',
      response_format: { type: 'json_schema', json_schema: { schema } },
    });
  });

  it('reports an error chunk mid-answer as the provider does (the upstream error as data)', async () => {
    const { mine, theirs } = await both({ text: ['a', 'b'], errorAfterChunks: 2 });
    expect(mine).toEqual(theirs);
    expect(mine).toContainEqual(expect.objectContaining({ type: 'error' }));
  });

  it('reports a line that is not JSON and a chunk of the wrong shape as errors', async () => {
    const body =
      'data: {"id":"x","choices":[{"index":0,"delta":{"content":"ok"}}]}\n\n' +
      'data: {not json\n\n' +
      'data: {"choices":"nope"}\n\n' +
      'data: {"choices":[],"error":{"message":"beside choices"}}\n\n' +
      'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n' +
      'data: [DONE]\n\n';
    const { mine, theirs } = await both({ raw: { contentType: 'text/event-stream', body } });
    expect(mine).toEqual(theirs);
    const errors = mine.filter((p) => (p as { type: string }).type === 'error');
    expect(errors.map((e) => (e as { name: string }).name)).toEqual([
      'AI_JSONParseError',
      'AI_TypeValidationError',
      'object', // the upstream's error, passed on as data
    ]);
    expect(mine.at(-1)).toMatchObject({ type: 'finish', finishReason: { unified: 'stop' } });
  });

  it('reports an answer that ends without a finish reason', async () => {
    const body = 'data: {"choices":[{"index":0,"delta":{"content":"cut"}}]}\n\n';
    const { mine, theirs } = await both({ raw: { contentType: 'text/event-stream', body } });
    expect(mine).toEqual(theirs);
    expect(mine).toContainEqual(expect.objectContaining({ name: 'AI_InvalidResponseDataError' }));
  });

  it('passes content parts, a refusal and a usage-only final chunk through as the provider does', async () => {
    const body =
      'data: {"choices":[{"index":0,"delta":{"content":[{"type":"thinking","thinking":[{"type":"text","text":"hm"}]},{"type":"text","text":"yes"}]}}]}\n\n' +
      'data: {"choices":[{"index":0,"delta":{"refusal":"no"},"finish_reason":"stop"}]}\n\n' +
      'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":1}}}\n\n' +
      'data: [DONE]\n\n';
    const { mine, theirs } = await both({ raw: { contentType: 'text/event-stream', body } });
    expect(mine).toEqual(theirs);
    expect(mine.at(-1)).toMatchObject({
      finishReason: { unified: 'content-filter' },
      usage: { inputTokens: { total: 3, cacheRead: 1, noCache: 2 } },
    });
  });

  it('reads chunks that differ only in their text as the provider does (escapes, fields that move)', async () => {
    const chunk = (delta: object, extra: object = {}) =>
      `data: ${JSON.stringify({ id: 'c-1', object: 'chat.completion.chunk', created: 7, model: 'up-model', choices: [{ index: 0, delta, finish_reason: null }], ...extra })}\n\n`;
    const body =
      chunk({ role: 'assistant', content: '' }) +
      chunk({ content: 'one ' }) +
      chunk({ content: 'two ' }) +
      chunk({ content: 'say "hi"\\ ' }) + // escaped: parsed, not read through the template
      chunk({ content: 'line\nbreak\t' }) +
      chunk({ content: 'grüße 👋 ' }) +
      chunk({ content: '' }) +
      chunk({ content: 'up-model' }) + // the same text as another field
      chunk({ content: 'later ' }, { created: 8 }) + // a field that changes
      chunk({ content: 'again ' }, { created: 8 }) +
      chunk({ content: null, reasoning_content: 'hmm ' }) + // the text moves to another field
      chunk({ content: null, reasoning_content: 'still ' }) +
      chunk({ content: 'and ', reasoning_content: 'both ' }) +
      chunk({ content: 'so ', reasoning_content: 'both ' }) +
      `data: {"choices":[{"delta":{"content":"c-1"}}],"id":"c-1"}\n\n` + // key order: id last
      `data: {"choices":[{"delta":{"content":"c-2"}}],"id":"c-1"}\n\n` +
      chunk({ content: 'x' }) +
      chunk({ content: 'y', tool_calls: [] }) + // another shape: the provider's schema decides
      chunk({ content: 'done' }).replace('"finish_reason":null', '"finish_reason":"stop"') +
      'data: [DONE]\n\n';
    const { mine, theirs } = await both({ raw: { contentType: 'text/event-stream', body } });
    expect(mine).toEqual(theirs);
    const text = (ps: unknown[], type: string) =>
      ps
        .filter((p) => (p as { type: string }).type === type)
        .map((p) => (p as { delta: string }).delta)
        .join('');
    expect(text(mine, 'text-delta')).toBe(
      'one two say "hi"\\ line\nbreak\tgrüße 👋 up-modellater again and so c-1c-2xydone',
    );
    expect(text(mine, 'reasoning-delta')).toBe('hmm still both both ');
    expect(mine.at(-1)).toMatchObject({ finishReason: { unified: 'stop', raw: 'stop' } });
    reply = { raw: { contentType: 'text/event-stream', body } };
    expect(await batchedParts(direct())).toEqual(mine);
  });

  it('hands the same parts over in batches as through the stream, a slow reader holding the body back', async () => {
    // ~300 kB: several socket reads, more parts than the queue holds before reading waits
    const r: UpstreamReply = {
      reasoning: ['a', 'b'],
      text: Array.from({ length: 3000 }, (_, i) => `w${i} `),
      usage: { prompt_tokens: 5, completion_tokens: 3000 },
    };
    reply = r;
    const streamed = await parts(direct());
    reply = r;
    const batched = await batchedParts(direct());
    expect(batched).toEqual(streamed);
    expect(batched.filter((p) => (p as { type: string }).type === 'text-delta')).toHaveLength(3000);
  });

  for (const status of [400, 401, 429, 500, 503]) {
    it(`turns an HTTP ${status} answer into the provider's APICallError`, async () => {
      reply = { status };
      const errorOf = async (model: LanguageModelV3) => {
        try {
          await model.doStream(call());
        } catch (err) {
          return err;
        }
        throw new Error('no error');
      };
      const mine = await errorOf(direct());
      const theirs = await errorOf(reference());
      expect(APICallError.isInstance(mine)).toBe(true);
      const fields = (e: unknown) => {
        const { statusCode, message, responseBody, isRetryable } = e as APICallError;
        return { statusCode, message, responseBody, isRetryable };
      };
      expect(fields(mine)).toEqual(fields(theirs));
      expect((mine as APICallError).statusCode).toBe(status);
    });
  }

  // Read to the end as the ReadableStream the AI SDK sees, and in batches as the engine does.
  const readToEnd: [string, (stream: ReadableStream<unknown>) => Promise<void>][] = [
    [
      'the stream',
      async (stream) => {
        const reader = stream.getReader();
        for (;;) if ((await reader.read()).done) break;
      },
    ],
    [
      'the batches',
      async (stream) => {
        const batches = partBatchesOf(stream)!;
        while ((await batches.next()) !== null);
      },
    ],
  ];
  for (const [how, read] of readToEnd) {
    it(`fails ${how} of a connection that breaks mid-answer with the socket error as the cause`, async () => {
      reply = {
        raw: {
          contentType: 'text/event-stream',
          body: 'data: {"choices":[{"index":0,"delta":{"content":"a"}}]}\n\n',
          cut: true,
        },
      };
      const { stream } = await direct().doStream(call());
      let error: unknown;
      try {
        await read(stream);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(TypeError);
      expect((error as { cause?: { code?: string } }).cause?.code).toMatch(/^(UND_ERR|ECONN)/);
    });
  }

  it('reports an upstream it cannot reach as an APICallError without a status', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const err = await Promise.resolve(direct(`http://127.0.0.1:${port}/v1`).doStream(call())).catch(
      (e: unknown) => e,
    );
    expect(APICallError.isInstance(err)).toBe(true);
    expect((err as APICallError).statusCode).toBeUndefined();
  });

  it('closes the upstream connection when the reader cancels, and when the call is aborted', async () => {
    reply = { text: ['a', 'b', 'c'], holdAfterChunks: 2 };
    const index = upstream.requests.length;
    const { stream } = await direct().doStream(call());
    const reader = stream.getReader();
    await reader.read();
    await reader.cancel();
    await upstream.waitForClosedEarly(index);
    expect(upstream.closedEarly.has(index)).toBe(true);

    const controller = new AbortController();
    const second = await direct().doStream(call({ abortSignal: controller.signal }));
    const r2 = second.stream.getReader();
    await r2.read();
    controller.abort(new Error('stop'));
    await upstream.waitForClosedEarly(index + 1);
    await expect(async () => {
      for (;;) if ((await r2.read()).done) break;
    }).rejects.toThrow('stop');
    upstream.release();
  });

  it('closes the upstream connection when the batches are cancelled, and ends a waiting next()', async () => {
    reply = { text: ['a', 'b', 'c'], holdAfterChunks: 2 };
    const index = upstream.requests.length;
    const { stream } = await direct().doStream(call());
    const batches = partBatchesOf(stream)!;
    expect(await batches.next()).not.toBeNull();
    let waiting = await batches.next();
    // the held answer: what came is taken, the next wait lasts until the cancel
    while (waiting !== null && waiting.every((p) => p.type !== 'text-delta'))
      waiting = await batches.next();
    const pending = batches.next();
    batches.cancel();
    expect(await pending).toBeNull();
    await upstream.waitForClosedEarly(index);
    expect(upstream.closedEarly.has(index)).toBe(true);
    upstream.release();
  });
});

describe('openai-compatible direct streaming path, bytes split anywhere', () => {
  let server: Server;
  let url: string;
  const answer =
    'data: {"choices":[{"index":0,"delta":{"content":"grüße 👋"}}]}\n\n' +
    'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","function":{"name":"f","arguments":"{\\"a\\""}}]}}]}\n\n' +
    'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]},"finish_reason":"tool_calls"}]}\n\n' +
    'data: [DONE]\n\n';

  beforeAll(async () => {
    // A real server writing the answer a few bytes at a time (multi-byte characters and SSE
    // lines cut in the middle), each piece flushed on its own.
    server = createServer((req, res) => {
      req.resume();
      req.on('end', async () => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const bytes = Buffer.from(answer);
        for (let i = 0; i < bytes.length; i += 7) {
          res.write(bytes.subarray(i, i + 7));
          await new Promise((r) => setImmediate(r));
        }
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('reads characters, lines and tool-call arguments cut across reads', async () => {
    const mine = await parts(direct(url));
    const theirs = await parts(reference(url));
    expect(mine).toEqual(theirs);
    expect(mine).toContainEqual(expect.objectContaining({ type: 'text-delta', delta: 'grüße 👋' }));
    expect(mine).toContainEqual(
      expect.objectContaining({ type: 'tool-call', toolCallId: 'c1', input: '{"a":1}' }),
    );
  });
});

describe('openai-compatible backend with an injected fetch', () => {
  it('keeps the provider and calls the injected fetch', async () => {
    reply = { text: ['via fetch'] };
    let calls = 0;
    const fetchFn = ((input: Parameters<typeof fetch>[0], init?: RequestInit) => {
      calls += 1;
      return fetch(input, init);
    }) as typeof fetch;
    const model = createOpenAICompatibleBackend(entry(upstream.url), { fetch: fetchFn }).model;
    expect(model).not.toBeInstanceOf(DirectOpenAICompatibleChatModel);
    const out = await parts(model);
    expect(calls).toBe(1);
    expect(out).toContainEqual(expect.objectContaining({ delta: 'via fetch' }));
    // the provider itself (not the backend) agrees
    expect(
      createOpenAICompatible({ name: 'x', baseURL: upstream.url }).chatModel('m').provider,
    ).toBe('x.chat');
  });
});
