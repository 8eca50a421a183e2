import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { STORE_KINDS } from '../support/databases.js';
import { echoScript, type UpstreamReply } from '../support/fake-upstream.js';
import {
  interactionEvents,
  noRetry,
  parseSse,
  startHarness,
  type Harness,
} from '../support/harness.js';

/** Upstream down, erroring and slow, before and during a stream (scripted upstream on 127.0.0.1). */
describe.each(STORE_KINDS)('upstream failures (%s)', (store) => {
  let h: Harness;
  let dead: Harness;
  beforeAll(async () => {
    h = await startHarness({
      store,
      config: { limits: { unary_deadline_seconds: 1, stream_deadline_seconds: 1 } },
    });
    // A server whose upstream is not listening at all (connection refused).
    dead = await startHarness({ store });
    await dead.upstream.close();
  });
  afterAll(async () => {
    await h.close();
    await dead.close().catch(() => {});
  });
  beforeEach(() => {
    h.upstream.script = echoScript;
  });

  /** Runs one create (unary through the SDK, or streamed) against a scripted reply; returns the stored error. */
  async function failure(reply: UpstreamReply, stream: boolean) {
    h.upstream.script = () => reply;
    let id: string;
    if (stream) {
      const res = await h.fetch('/v1beta/interactions', {
        method: 'POST',
        body: JSON.stringify({ model: 'gemini-3.5-flash', input: 'x', stream: true }),
      });
      const events = interactionEvents(parseSse(await res.text()));
      id = (events[0] as { interaction: { id: string } }).interaction.id;
      const error = events.find((e) => e.event_type === 'error') as
        { error: { code: string; message: string } } | undefined;
      const got = await h.client().interactions.get(id, undefined, noRetry);
      expect(got.status).toBe('failed');
      // the stream told the client what the store holds
      expect(error?.error).toEqual(got.errors?.[0]);
      return got.errors![0]!;
    }
    const r = await h
      .client()
      .interactions.create({ model: 'gemini-3.5-flash', input: 'x' }, noRetry);
    expect(r.status).toBe('failed');
    id = r.id!;
    const got = await h.client().interactions.get(id, undefined, noRetry);
    expect(got.status).toBe('failed');
    return got.errors![0]!;
  }

  // Each way an upstream can break, on a unary and on a streamed create: a server-side fault is
  // never blamed on the client (`invalid_request`), and the message names the backend, not HTTP 200.
  const faults: [string, UpstreamReply, string, RegExp][] = [
    [
      'dies after some SSE chunks',
      { text: ['kept ', 'lost'], dieAfterChunks: 2, delayMs: 30 },
      'unavailable',
      /closed the connection before its answer was complete/,
    ],
    [
      'dies before its first chunk',
      { text: ['lost'], dieAfterChunks: 0 },
      'unavailable',
      /closed the connection/,
    ],
    [
      'sends a truncated JSON body and breaks the connection',
      { raw: { contentType: 'application/json', body: '{"id":"chatcmpl-1","choi', cut: true } },
      'unavailable',
      /closed the connection/,
    ],
    [
      'answers 200 with a body that is not JSON',
      { raw: { contentType: 'text/html', body: '<html><body>Welcome to nginx</body></html>' } },
      'unavailable',
      /sent an answer that could not be read/,
    ],
    [
      'reports an error inside its stream',
      { text: ['partial'], errorAfterChunks: 2 },
      'unavailable',
      /reported an error/,
    ],
  ];
  for (const stream of [false, true]) {
    it.each(faults)(
      `upstream %s (${stream ? 'streamed' : 'unary'} create): %# maps to a server-side code`,
      async (_name, reply, code, says) => {
        const error = await failure(reply, stream);
        expect(error.code).toBe(code);
        expect(error.message).toMatch(/^model backend 'gemini-\*' /);
        expect(error.message).toMatch(says);
        expect(error.message).not.toMatch(/HTTP 200/);
      },
    );
  }

  it('upstream down: non-streaming create answers 200 with a failed interaction (no 5xx for the SDK to retry)', async () => {
    const r = await dead
      .client()
      .interactions.create({ model: 'gemini-3.5-flash', input: 'anyone?' }, noRetry);
    expect(r.status).toBe('failed');
    const got = await dead.client().interactions.get(r.id, undefined, noRetry);
    expect(got.status).toBe('failed');
    expect(got.errors?.[0]).toMatchObject({ code: 'unavailable' });
    expect(got.errors?.[0]?.message).toMatch(/^model backend 'gemini-\*' is unreachable; /);
    // the connection error named the upstream's address: the client does not see it
    const { host } = new URL(dead.upstream.url);
    expect(JSON.stringify(got)).not.toContain(host);
    expect(JSON.stringify(got)).not.toMatch(/ECONNREFUSED/);
  });

  it('upstream down: a stream gets error → completed(failed) → [DONE]', async () => {
    const res = await dead.fetch('/v1beta/interactions', {
      method: 'POST',
      body: JSON.stringify({ model: 'gemini-3.5-flash', input: 'x', stream: true }),
    });
    const messages = parseSse(await res.text());
    const types = messages.map((m) => m.event);
    expect(types).toEqual([
      'interaction.created',
      'interaction.status_update',
      'error',
      'interaction.completed',
      'done',
    ]);
  });

  it.each([
    [500, 'unavailable', 'failed (HTTP 500)'],
    [502, 'unavailable', 'failed (HTTP 502)'],
    [503, 'unavailable', 'failed (HTTP 503)'],
    [504, 'gateway_timeout', 'timed out'],
    [429, 'resource_exhausted', 'is rate limited (HTTP 429)'],
    [400, 'invalid_request', 'rejected the request (HTTP 400)'],
    // the server's own credentials or model name were refused: the operator's fault, not the client's
    [401, 'internal_error', 'rejected the request (HTTP 401)'],
    [403, 'internal_error', 'rejected the request (HTTP 403)'],
  ] as const)(
    'upstream answers HTTP %i: failed interaction with code %s',
    async (status, code, says) => {
      h.upstream.script = () => ({ status });
      const res = await h.fetch('/v1beta/interactions', {
        method: 'POST',
        body: JSON.stringify({ model: 'gemini-3.5-flash', input: 'x' }),
      });
      expect(res.status).toBe(200);
      const requestId = res.headers.get('x-request-id');
      const r = (await res.json()) as { id: string; status: string };
      expect(r.status).toBe('failed');
      const got = await h.client().interactions.get(r.id, undefined, noRetry);
      expect(got.errors?.[0]).toEqual({
        code,
        message: `model backend 'gemini-*' ${says}; see the server log, request id ${requestId}`,
      });
    },
  );

  it('upstream dies mid-stream: the partial output is kept and the open step is not closed', async () => {
    h.upstream.script = () => ({ text: ['kept ', 'lost'], dieAfterChunks: 2, delayMs: 30 });
    const res = await h.fetch('/v1beta/interactions', {
      method: 'POST',
      body: JSON.stringify({ model: 'gemini-3.5-flash', input: 'x', stream: true }),
    });
    const events = interactionEvents(parseSse(await res.text()));
    expect(events.some((e) => e.event_type === 'step.stop')).toBe(false);
    const id = (events[0] as { interaction: { id: string } }).interaction.id;
    const got = await h.client().interactions.get(id, undefined, noRetry);
    expect(got.status).toBe('failed');
    expect(got.steps?.[1]).toEqual({
      type: 'model_output',
      content: [{ type: 'text', text: 'kept ' }],
    });
  });

  it('slow upstream past the deadline: failed with gateway_timeout, never a hung stream', async () => {
    h.upstream.script = () => ({ text: ['late'], hold: true });
    const res = await h.fetch('/v1beta/interactions', {
      method: 'POST',
      body: JSON.stringify({ model: 'gemini-3.5-flash', input: 'x', stream: true }),
    });
    const messages = parseSse(await res.text());
    h.upstream.release();
    const error = JSON.parse(messages.at(-3)!.data) as { error: { code: string } };
    expect(error.error.code).toBe('gateway_timeout');
    expect(JSON.parse(messages.at(-2)!.data)).toMatchObject({ interaction: { status: 'failed' } });
  });

  it('store:false stream whose client disconnects is cancelled (nothing left running)', async () => {
    h.upstream.script = () => ({ text: Array.from({ length: 50 }, () => 'x'), delayMs: 20 });
    const res = await h.fetch('/v1beta/interactions', {
      method: 'POST',
      body: JSON.stringify({ model: 'gemini-3.5-flash', input: 'x', stream: true, store: false }),
    });
    const reader = res.body!.getReader();
    await reader.read();
    const runningBefore = h.server.engine.activeRuns;
    await reader.cancel();
    for (let i = 0; i < 100 && h.server.engine.activeRuns > 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(runningBefore).toBeGreaterThan(0);
    expect(h.server.engine.activeRuns).toBe(0);
  });
  it('a round that ends early (an error reported mid-answer) stops reading the upstream answer', async () => {
    // The answer stays open after its error chunk: only the server closing the connection ends
    // it. Without that, a local model would decode on to its token limit.
    h.upstream.script = () => ({
      text: ['kept ', 'more'],
      errorAfterChunks: 2,
      holdAfterError: true,
    });
    const index = h.upstream.requests.length;
    const r = await h
      .client()
      .interactions.create({ model: 'gemini-3.5-flash', input: 'x' }, noRetry);
    expect(r.status).toBe('failed');
    expect(r.errors?.[0]?.code).toBe('unavailable');
    await h.upstream.waitForClosedEarly(index);
    expect(h.upstream.closedEarly.has(index)).toBe(true);
    h.upstream.release();
  });
});
