import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { foldEvents } from '../../src/protocol/fold.js';
import type { InteractionEvent } from '../../src/protocol/types.js';
import { STORE_KINDS } from '../support/databases.js';
import { echoScript } from '../support/fake-upstream.js';
import {
  KEY_A,
  KEY_B,
  interactionEvents,
  noRetry,
  parseSse,
  startHarness,
  type Harness,
} from '../support/harness.js';

/** Appendix B of the spec: Transport, Create/resource, Streaming, and delete/get/cancel. */
describe.each(STORE_KINDS)('Appendix B conformance (%s)', (store) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ store });
  });
  afterAll(async () => {
    await h.close();
  });
  beforeEach(() => {
    h.upstream.script = echoScript;
  });

  const create = (
    body: object,
    init: { key?: string | null; headers?: Record<string, string>; path?: string } = {},
  ) =>
    h.fetch(init.path ?? '/v1beta/interactions', {
      method: 'POST',
      body: JSON.stringify(body),
      key: init.key,
      headers: init.headers,
    });

  async function streamEvents(res: Response) {
    const text = await res.text();
    const messages = parseSse(text);
    return { text, messages };
  }

  describe('Transport', () => {
    it('serves the same create under /v1 (SDK 3.x default) and /v1beta (apiVersion v1beta); ids are shared', async () => {
      const v1 = await h
        .client()
        .interactions.create({ model: 'gemini-3.5-flash', input: 'one' }, noRetry);
      const v1beta = await h
        .client({ apiVersion: 'v1beta' })
        .interactions.create({ model: 'gemini-3.5-flash', input: 'two' }, noRetry);
      expect(v1.output_text).toBe('echo: one');
      expect(v1beta.output_text).toBe('echo: two');
      const crossGet = await h
        .client({ apiVersion: 'v1beta' })
        .interactions.get(v1.id, undefined, noRetry);
      expect(crossGet.id).toBe(v1.id);
      const res = await h.fetch(`/v1/interactions/${v1beta.id}`);
      expect(res.status).toBe(200);
    });

    it('accepts the key from x-goog-api-key, ?key= and Authorization: Bearer; missing → 401 JSON', async () => {
      const body = JSON.stringify({ model: 'gemini-3.5-flash', input: 'k' });
      const headers = { 'content-type': 'application/json' };
      const viaHeader = await fetch(`${h.baseUrl}/v1beta/interactions`, {
        method: 'POST',
        body,
        headers: { ...headers, 'x-goog-api-key': KEY_A },
      });
      const viaQuery = await fetch(`${h.baseUrl}/v1beta/interactions?key=${KEY_A}`, {
        method: 'POST',
        body,
        headers,
      });
      const viaBearer = await fetch(`${h.baseUrl}/v1beta/interactions`, {
        method: 'POST',
        body,
        headers: { ...headers, authorization: `Bearer ${KEY_A}` },
      });
      expect([viaHeader.status, viaQuery.status, viaBearer.status]).toEqual([200, 200, 200]);
      const missing = await fetch(`${h.baseUrl}/v1beta/interactions`, {
        method: 'POST',
        body,
        headers,
      });
      expect(missing.status).toBe(401);
      expect(missing.headers.get('content-type')).toMatch(/application\/json/);
      const err = (await missing.json()) as { error: { code: string; message: string } };
      expect(err.error.code).toBe('unauthenticated');
      expect(err.error.message).toMatch(/x-goog-api-key/);
      await expect(
        h
          .client({ key: 'not-a-configured-key' })
          .interactions.create({ model: 'gemini-3.5-flash', input: 'x' }, noRetry),
      ).rejects.toMatchObject({ status: 401 });
    });

    it("hides key A's interactions from key B: get, stream, cancel, delete and continue are 404", async () => {
      const a = await h
        .client()
        .interactions.create({ model: 'gemini-3.5-flash', input: 'secret of A' }, noRetry);
      const b = h.client({ key: KEY_B });
      await expect(b.interactions.get(a.id, undefined, noRetry)).rejects.toMatchObject({
        status: 404,
      });
      await expect(b.interactions.cancel(a.id, undefined, noRetry)).rejects.toMatchObject({
        status: 404,
      });
      await expect(b.interactions.delete(a.id, undefined, noRetry)).rejects.toMatchObject({
        status: 404,
      });
      await expect(
        b.interactions.create(
          { model: 'gemini-3.5-flash', input: 'x', previous_interaction_id: a.id },
          noRetry,
        ),
      ).rejects.toMatchObject({ status: 404 });
      const stream = await h.fetch(`/v1beta/interactions/${a.id}?stream=true`, { key: KEY_B });
      expect(stream.status).toBe(404);
      const err = (await stream.json()) as { error: { code: string } };
      expect(err.error.code).toBe('not_found');
      // and A still sees it
      expect((await h.client().interactions.get(a.id, undefined, noRetry)).id).toBe(a.id);
    });

    it('answers every success with 200; delete returns {}; errors are JSON naming the field', async () => {
      const created = await create({ model: 'gemini-3.5-flash', input: 'x', background: true });
      expect(created.status).toBe(200);
      const { id } = (await created.json()) as { id: string };
      await h.server.engine; // the background run finishes on its own
      const del = await h.fetch(`/v1beta/interactions/${id}`, { method: 'DELETE' });
      expect(del.status).toBe(200);
      expect(await del.json()).toEqual({});
      const bad = await create({
        model: 'gemini-3.5-flash',
        input: 'x',
        generation_config: { temperature: 'hot' },
      });
      expect(bad.status).toBe(400);
      const err = (await bad.json()) as {
        error: { code: string; status: string; message: string };
      };
      expect(err.error).toMatchObject({ code: 'invalid_request', status: 'INVALID_ARGUMENT' });
      expect(err.error.message).toContain('generation_config.temperature');
    });

    it('accepts Api-Revision 2026-05-20, rejects 2026-05-07 with 400, works without it', async () => {
      const ok = await create(
        { model: 'gemini-3.5-flash', input: 'r' },
        { headers: { 'Api-Revision': '2026-05-20' } },
      );
      expect(ok.status).toBe(200);
      const old = await create(
        { model: 'gemini-3.5-flash', input: 'r' },
        { headers: { 'Api-Revision': '2026-05-07' } },
      );
      expect(old.status).toBe(400);
      expect(((await old.json()) as { error: { message: string } }).error.message).toMatch(
        /api-revision.*legacy/,
      );
      const sdk = h.client({ apiVersion: 'v1beta', headers: { 'Api-Revision': '2026-05-20' } });
      expect(
        (await sdk.interactions.create({ model: 'gemini-3.5-flash', input: 'r' }, noRetry)).status,
      ).toBe('completed');
      expect((await create({ model: 'gemini-3.5-flash', input: 'r' })).status).toBe(200);
    });

    it('answers an unknown route under /{v}/ with a 404 JSON error', async () => {
      for (const path of [
        '/v1beta/nothing-here',
        '/v1/interactions/x/y/z',
        '/v1beta/environments',
      ]) {
        const res = await h.fetch(path);
        expect(res.status).toBe(404);
        expect(res.headers.get('content-type')).toMatch(/application\/json/);
        const body = (await res.json()) as { error: { message: string } };
        expect(body.error.message).toMatch(/no such route|not a valid interaction id/);
      }
    });
  });

  describe('Create / resource', () => {
    it('accepts string, Content, Content[] and Step[] inputs; mixed or empty arrays are 400', async () => {
      const ai = h.client();
      const inputs = [
        'plain string',
        { type: 'text', text: 'one content' },
        [
          { type: 'text', text: 'first' },
          { type: 'text', text: 'second' },
        ],
        [
          { type: 'user_input', content: [{ type: 'text', text: 'Hello!' }] },
          { type: 'model_output', content: [{ type: 'text', text: 'Hi there!' }] },
          {
            type: 'user_input',
            content: [{ type: 'text', text: 'What is the capital of France?' }],
          },
        ],
      ];
      const expected = [
        'echo: plain string',
        'echo: one content',
        'echo: firstsecond',
        'echo: What is the capital of France?',
      ];
      for (const [i, input] of inputs.entries()) {
        const r = await ai.interactions.create(
          { model: 'gemini-3.5-flash', input: input as never },
          noRetry,
        );
        expect(r.output_text).toBe(expected[i]);
      }
      expect(h.upstream.requests.at(-1)!.messages.map((m) => m.role)).toEqual([
        'user',
        'assistant',
        'user',
      ]);
      const mixed = await create({
        model: 'gemini-3.5-flash',
        input: [
          { type: 'text', text: 'a' },
          { type: 'user_input', content: [] },
        ],
      });
      expect(mixed.status).toBe(400);
      expect(((await mixed.json()) as { error: { message: string } }).error.message).toMatch(
        /^input\[1\]/,
      );
      const empty = await create({ model: 'gemini-3.5-flash', input: [] });
      expect(empty.status).toBe(400);
    });

    it('rejects neither/both of model and agent, and generation_config with agent', async () => {
      const cases = [
        { input: 'x' },
        { model: 'gemini-3.5-flash', agent: 'deep-research-preview-04-2026', input: 'x' },
        {
          agent: 'deep-research-preview-04-2026',
          input: 'x',
          generation_config: { temperature: 1 },
        },
      ];
      for (const body of cases) {
        const res = await create(body);
        expect(res.status).toBe(400);
        const { error } = (await res.json()) as { error: { message: string } };
        expect(error.message).toMatch(/^(model|generation_config):/);
      }
    });

    it('returns id, object, status, created, updated, output-only steps and usage on create', async () => {
      const res = await create({ model: 'gemini-3.5-flash', input: 'shape' });
      const body = (await res.json()) as Record<string, unknown>;
      expect(Object.keys(body)).toEqual(
        expect.arrayContaining([
          'id',
          'object',
          'status',
          'created',
          'updated',
          'steps',
          'usage',
          'model',
        ]),
      );
      expect(body.object).toBe('interaction');
      expect(body.model).toBe('gemini-3.5-flash');
      expect(body.created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      expect(body.steps).toEqual([
        { type: 'model_output', content: [{ type: 'text', text: 'echo: shape' }] },
      ]);
      expect(Object.values(body)).not.toContain(null);
    });

    it('get returns user_input first, then the same output steps; output_text is equal', async () => {
      const ai = h.client();
      const created = await ai.interactions.create(
        { model: 'gemini-3.5-flash', input: 'get me' },
        noRetry,
      );
      const got = await ai.interactions.get(created.id, undefined, noRetry);
      expect(got.steps?.[0]).toEqual({
        type: 'user_input',
        content: [{ type: 'text', text: 'get me' }],
      });
      expect(got.steps?.slice(1)).toEqual(created.steps);
      expect(got.output_text).toBe(created.output_text);
      const { initial_input_tokens: _sdkAdded, ...createdUsage } = created.usage ?? {};
      expect(got.usage).toEqual(createdUsage);
    });

    it('keeps usage.total_tokens = input + output + thought', async () => {
      h.upstream.script = () => ({
        reasoning: ['think'],
        text: ['answer'],
        usage: { prompt_tokens: 11, completion_tokens: 4, reasoning_tokens: 6 },
      });
      const r = await h
        .client()
        .interactions.create({ model: 'gemini-3.5-flash', input: 'u' }, noRetry);
      expect(r.usage).toMatchObject({
        total_input_tokens: 11,
        total_output_tokens: 4,
        total_thought_tokens: 6,
        total_tokens: 21,
      });
    });

    it('ends with status incomplete when max_output_tokens is hit', async () => {
      h.upstream.script = () => ({ text: ['cut sho'], finishReason: 'length' });
      const r = await h
        .client()
        .interactions.create(
          { model: 'gemini-3.5-flash', input: 'long', generation_config: { max_output_tokens: 3 } },
          noRetry,
        );
      expect(r.status).toBe('incomplete');
      expect(h.upstream.requests.at(-1)!.max_tokens).toBe(3);
      expect(r.output_text).toBe('cut sho');
    });

    it('store:false keeps nothing (get 404); store:false + background:true is 400', async () => {
      const r = await h
        .client()
        .interactions.create({ model: 'gemini-3.5-flash', input: 'forget', store: false }, noRetry);
      expect(r.status).toBe('completed');
      await expect(h.client().interactions.get(r.id, undefined, noRetry)).rejects.toMatchObject({
        status: 404,
      });
      await expect(
        h
          .client()
          .interactions.create(
            { model: 'gemini-3.5-flash', input: 'x', previous_interaction_id: r.id },
            noRetry,
          ),
      ).rejects.toMatchObject({ status: 404 });
      const bad = await create({
        model: 'gemini-3.5-flash',
        input: 'x',
        store: false,
        background: true,
      });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { error: { message: string } }).error.message).toBe(
        'background: requires store=true',
      );
    });

    it('previous_interaction_id carries the history but not tools or system_instruction', async () => {
      const ai = h.client();
      const t1 = await ai.interactions.create(
        {
          model: 'gemini-3.5-flash',
          input: 'The secret word is pineapple.',
          system_instruction: 'You are a pirate.',
          tools: [
            { type: 'function', name: 'lookup', parameters: { type: 'object', properties: {} } },
          ],
        },
        noRetry,
      );
      const first = h.upstream.requests.at(-1)!;
      expect(first.messages[0]).toMatchObject({ role: 'system', content: 'You are a pirate.' });
      expect(first.tools?.map((t) => t.function.name)).toEqual(['lookup']);
      await ai.interactions.create(
        {
          model: 'gemini-3.5-flash',
          input: 'What was the secret word?',
          previous_interaction_id: t1.id,
        },
        noRetry,
      );
      const second = h.upstream.requests.at(-1)!;
      expect(second.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
      expect(JSON.stringify(second.messages)).toContain('pineapple');
      expect(second.tools).toBeUndefined();
    });

    it('loads a deep chain in order and branches from an older turn', async () => {
      const ai = h.client();
      let prev: string | undefined;
      const ids: string[] = [];
      for (let i = 0; i < 12; i++) {
        const r = await ai.interactions.create(
          { model: 'gemini-3.5-flash', input: `turn ${i}`, previous_interaction_id: prev },
          noRetry,
        );
        ids.push(r.id);
        prev = r.id;
      }
      const deep = h.upstream.requests.at(-1)!;
      expect(deep.messages).toHaveLength(23);
      expect(JSON.stringify(deep.messages[22])).toContain('turn 11');
      await ai.interactions.create(
        { model: 'gemini-3.5-flash', input: 'branch', previous_interaction_id: ids[2] },
        noRetry,
      );
      const branch = h.upstream.requests.at(-1)!;
      expect(branch.messages).toHaveLength(7);
      expect(JSON.stringify(branch.messages)).not.toContain('turn 3');
    });
  });

  describe('Streaming', () => {
    it('is text/event-stream; every event has event_type and event_id; ends with event: done / [DONE]', async () => {
      const res = await create({ model: 'gemini-3.5-flash', input: 'stream me', stream: true });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
      expect(res.headers.get('cache-control')).toBe('no-cache');
      const { text, messages } = await streamEvents(res);
      expect(text.endsWith('event: done\ndata: [DONE]\n\n')).toBe(true);
      const events = messages.slice(0, -1);
      for (const [i, m] of events.entries()) {
        const data = JSON.parse(m.data) as { event_type: string; event_id: string };
        expect(data.event_type).toBe(m.event);
        expect(data.event_id).toBe(String(i + 1));
        expect(m.id).toBe(data.event_id);
      }
    });

    it('orders created → status_update(in_progress) → (start, delta*, stop)* → completed with contiguous indices', async () => {
      h.upstream.script = () => ({ reasoning: ['hmm', ' ok'], text: ['a', 'b', 'c'] });
      const res = await create({ model: 'gemini-3.5-flash', input: 'order', stream: true });
      const { messages } = await streamEvents(res);
      const events = interactionEvents(messages);
      expect(events[0]!.event_type).toBe('interaction.created');
      expect(events[1]).toMatchObject({
        event_type: 'interaction.status_update',
        status: 'in_progress',
      });
      expect(events.at(-1)).toMatchObject({
        event_type: 'interaction.completed',
        interaction: { status: 'completed' },
      });
      expect((events.at(-1) as { interaction: object }).interaction).not.toHaveProperty('steps');
      let open: number | null = null;
      let next = 0;
      for (const e of events.slice(2, -1)) {
        if (e.event_type === 'step.start') {
          expect(open).toBeNull();
          expect(e.index).toBe(next);
          open = e.index;
        } else if (e.event_type === 'step.delta') {
          expect(e.index).toBe(open);
        } else if (e.event_type === 'step.stop') {
          expect(e.index).toBe(open);
          open = null;
          next += 1;
        } else {
          throw new Error(`unexpected ${e.event_type} between steps`);
        }
      }
      expect(next).toBe(2);
      // the thought step ends with a thought_signature delta
      const thought = events.filter((e) => 'index' in e && e.index === 0);
      expect(thought.at(-2)).toMatchObject({
        event_type: 'step.delta',
        delta: { type: 'thought_signature' },
      });
      expect(
        (thought.at(-2) as unknown as { delta: { signature: string } }).delta.signature,
      ).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    });

    it('folds the stream into exactly the get resource output steps', async () => {
      h.upstream.script = () => ({ reasoning: ['plan'], text: ['Hello', ', ', 'world'] });
      const res = await create({ model: 'gemini-3.5-flash', input: 'fold', stream: true });
      const { messages } = await streamEvents(res);
      const events = interactionEvents(messages);
      const id = (events[0] as { interaction: { id: string } }).interaction.id;
      const folded = foldEvents(events);
      const got = await h.client().interactions.get(id, undefined, noRetry);
      expect(got.steps?.slice(1)).toEqual(folded.steps);
      expect(folded.steps[1]).toEqual({
        type: 'model_output',
        content: [{ type: 'text', text: 'Hello, world' }],
      });
      expect(got.status).toBe(folded.status);
    });

    it('streams a function call: step.start has id, name, arguments {}; arguments_delta concatenates; requires_action', async () => {
      h.upstream.script = () => ({
        toolCalls: [
          {
            name: 'get_weather',
            arguments: '{"location":"Paris"}',
            argumentChunks: ['{"loc', 'ation":', '"Paris"}'],
          },
        ],
      });
      const stream = await h.client().interactions.create(
        {
          model: 'gemini-3.5-flash',
          input: 'Weather in Paris?',
          stream: true,
          tools: [
            {
              type: 'function',
              name: 'get_weather',
              parameters: {
                type: 'object',
                properties: { location: { type: 'string' } },
                required: ['location'],
              },
            },
          ],
        },
        noRetry,
      );
      let start: Record<string, unknown> | undefined;
      let args = '';
      let final: string | undefined;
      for await (const event of stream) {
        if (event.event_type === 'step.start' && event.step.type === 'function_call')
          start = event.step as never;
        if (event.event_type === 'step.delta' && event.delta.type === 'arguments_delta')
          args += event.delta.arguments;
        if (event.event_type === 'interaction.completed') final = event.interaction.status;
      }
      expect(start).toMatchObject({ type: 'function_call', name: 'get_weather', arguments: {} });
      expect(start!.id).toMatch(/^[a-z0-9]{8}$/);
      expect(JSON.parse(args)).toEqual({ location: 'Paris' });
      expect(final).toBe('requires_action');
    });

    it('resumes with last_event_id: replays exactly the events after K, byte-identical', async () => {
      const res = await create({ model: 'gemini-3.5-flash', input: 'resume', stream: true });
      const original = await res.text();
      const messages = parseSse(original).filter((m) => m.data !== '[DONE]');
      const id = (JSON.parse(messages[0]!.data) as { interaction: { id: string } }).interaction.id;
      for (const k of [0, 2, 4, messages.length - 1, messages.length]) {
        const path = k === 0 ? `?stream=true` : `?stream=true&last_event_id=${k}`;
        const resumed = await h.fetch(`/v1beta/interactions/${id}${path}`);
        expect(resumed.status).toBe(200);
        const replay = parseSse(await resumed.text());
        expect(replay.at(-1)!.data).toBe('[DONE]');
        expect(replay.slice(0, -1).map((m) => m.data)).toEqual(
          messages.slice(k).map((m) => m.data),
        );
      }
      // Last-Event-ID header (EventSource) is accepted as a synonym
      const viaHeader = await h.fetch(`/v1beta/interactions/${id}?stream=true`, {
        headers: { 'last-event-id': '3' },
      });
      expect(parseSse(await viaHeader.text()).length).toBe(messages.length - 3 + 1);
      // and the SDK's streaming get
      const sdkStream = await h
        .client()
        .interactions.get(id, { stream: true, last_event_id: '2' }, noRetry);
      const ids: string[] = [];
      for await (const e of sdkStream) ids.push(e.event_id!);
      expect(ids[0]).toBe('3');
    });

    it('follows the live tail of a running interaction from another reader', async () => {
      h.upstream.script = () => ({ text: ['slow', ' ', 'answer'], hold: true });
      const before = h.upstream.requests.length;
      const res = await create({
        model: 'gemini-3.5-flash',
        input: 'tail',
        stream: true,
        background: true,
      });
      const reader = res.body!.getReader();
      const first = new TextDecoder().decode((await reader.read()).value);
      const id = (JSON.parse(parseSse(first)[0]!.data) as { interaction: { id: string } })
        .interaction.id;
      const second = h.fetch(`/v1beta/interactions/${id}?stream=true&last_event_id=1`);
      await h.upstream.waitForRequests(before + 1);
      h.upstream.release();
      const replay = parseSse(await (await second).text());
      expect(replay.at(-1)!.data).toBe('[DONE]');
      expect(replay.at(-2)!.event).toBe('interaction.completed');
      await reader.cancel();
    });

    it('survives a client disconnect mid-stream; the interaction still reaches a terminal state', async () => {
      h.upstream.script = () => ({ text: ['a', 'b', 'c', 'd'], delayMs: 30 });
      const controller = new AbortController();
      const res = await create({ model: 'gemini-3.5-flash', input: 'drop me', stream: true });
      const reader = res.body!.getReader();
      const first = new TextDecoder().decode((await reader.read()).value);
      const id = (JSON.parse(parseSse(first)[0]!.data) as { interaction: { id: string } })
        .interaction.id;
      controller.abort();
      await reader.cancel();
      let status = 'in_progress';
      for (let i = 0; i < 100 && status === 'in_progress'; i++) {
        await new Promise((r) => setTimeout(r, 50));
        status = (await h.client().interactions.get(id, undefined, noRetry)).status;
      }
      expect(status).toBe('completed');
      const health = await fetch(`${h.baseUrl}/healthz`);
      expect(health.status).toBe(200);
    });

    it('reports an upstream failure mid-stream as error → completed(failed) → [DONE]; get shows failed with errors', async () => {
      h.upstream.script = () => ({ text: ['partial ', 'answer ', 'more'], dieAfterChunks: 2 });
      const res = await create({ model: 'gemini-3.5-flash', input: 'fail', stream: true });
      const { messages } = await streamEvents(res);
      expect(messages.at(-1)!.data).toBe('[DONE]');
      const events = messages.slice(0, -1).map((m) => JSON.parse(m.data) as InteractionEvent);
      expect(events.at(-2)).toMatchObject({ event_type: 'error', error: { code: 'unavailable' } });
      expect(events.at(-1)).toMatchObject({
        event_type: 'interaction.completed',
        interaction: { status: 'failed' },
      });
      const id = (events[0] as { interaction: { id: string } }).interaction.id;
      const got = await h.client().interactions.get(id, undefined, noRetry);
      expect(got.status).toBe('failed');
      expect(got.errors?.[0]?.code).toBe('unavailable');
      expect(got.errors?.[0]?.message).toMatch(/model backend/);
    });
  });

  describe('Background / lifecycle (get, cancel, delete)', () => {
    it('background:true returns 200 at once with in_progress; polling reaches a terminal state', async () => {
      h.upstream.script = () => ({ text: ['done later'], hold: true });
      const ai = h.client();
      const r = await ai.interactions.create(
        { model: 'gemini-3.5-flash', input: 'bg', background: true },
        noRetry,
      );
      expect(r.status).toBe('in_progress');
      expect(r.steps).toEqual([]);
      const running = await ai.interactions.get(r.id, undefined, noRetry);
      expect(running.status).toBe('in_progress');
      expect(running.steps?.[0]?.type).toBe('user_input');
      h.upstream.release();
      let got = running;
      for (let i = 0; i < 100 && got.status === 'in_progress'; i++) {
        await new Promise((res) => setTimeout(res, 20));
        got = await ai.interactions.get(r.id, undefined, noRetry);
      }
      expect(got.status).toBe('completed');
      expect(got.output_text).toBe('done later');
    });

    it('cancels a running background interaction; live readers get completed(cancelled); cancel again is 200', async () => {
      h.upstream.script = () => ({ text: ['never'], hold: true });
      const before = h.upstream.requests.length;
      const ai = h.client();
      const r = await ai.interactions.create(
        { model: 'gemini-3.5-flash', input: 'cancel me', background: true },
        noRetry,
      );
      const reader = h.fetch(`/v1beta/interactions/${r.id}?stream=true`).then((res) => res.text());
      await h.upstream.waitForRequests(before + 1);
      const cancelled = await ai.interactions.cancel(r.id, undefined, noRetry);
      expect(cancelled.status).toBe('cancelled');
      expect(cancelled.steps?.[0]?.type).toBe('user_input');
      const events = parseSse(await reader);
      expect(events.at(-1)!.data).toBe('[DONE]');
      expect(JSON.parse(events.at(-2)!.data)).toMatchObject({
        event_type: 'interaction.completed',
        interaction: { status: 'cancelled' },
      });
      expect(JSON.parse(events.at(-3)!.data)).toMatchObject({
        event_type: 'interaction.status_update',
        status: 'cancelled',
      });
      const again = await ai.interactions.cancel(r.id, undefined, noRetry);
      expect(again.status).toBe('cancelled');
      h.upstream.release();
    });

    it('refuses to cancel a finished non-background interaction with 400 failed_precondition', async () => {
      const r = await h
        .client()
        .interactions.create({ model: 'gemini-3.5-flash', input: 'done' }, noRetry);
      const res = await h.fetch(`/v1beta/interactions/${r.id}/cancel`, { method: 'POST' });
      expect(res.status).toBe(400);
      const { error } = (await res.json()) as { error: { code: string } };
      expect(error.code).toBe('failed_precondition');
    });

    it('deletes with 200 {}; afterwards get, stream and continue are 404', async () => {
      const ai = h.client();
      const r = await ai.interactions.create(
        { model: 'gemini-3.5-flash', input: 'delete me' },
        noRetry,
      );
      const child = await ai.interactions.create(
        { model: 'gemini-3.5-flash', input: 'child', previous_interaction_id: r.id },
        noRetry,
      );
      await ai.interactions.delete(r.id, undefined, noRetry);
      await expect(ai.interactions.get(r.id, undefined, noRetry)).rejects.toMatchObject({
        status: 404,
      });
      expect((await h.fetch(`/v1beta/interactions/${r.id}?stream=true`)).status).toBe(404);
      await expect(ai.interactions.delete(r.id, undefined, noRetry)).rejects.toMatchObject({
        status: 404,
      });
      // the child stays readable but its history is broken
      expect((await ai.interactions.get(child.id, undefined, noRetry)).status).toBe('completed');
      const cont = await create({
        model: 'gemini-3.5-flash',
        input: 'x',
        previous_interaction_id: child.id,
      });
      expect(cont.status).toBe(404);
      expect(((await cont.json()) as { error: { message: string } }).error.message).toMatch(
        /^previous_interaction_id/,
      );
    });
  });
});
