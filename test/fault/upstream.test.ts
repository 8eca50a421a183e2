import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { STORE_KINDS } from '../support/databases.js';
import { echoScript } from '../support/fake-upstream.js';
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

  it('upstream down: non-streaming create answers 200 with a failed interaction (no 5xx for the SDK to retry)', async () => {
    const r = await dead
      .client()
      .interactions.create({ model: 'gemini-3.5-flash', input: 'anyone?' }, noRetry);
    expect(r.status).toBe('failed');
    const got = await dead.client().interactions.get(r.id, undefined, noRetry);
    expect(got.status).toBe('failed');
    expect(got.errors?.[0]).toMatchObject({ code: 'unavailable' });
    expect(got.errors?.[0]?.message).toMatch(/model backend 'gemini-\*'/);
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

  it.each([500, 503, 429, 400])(
    'upstream answers HTTP %i: failed interaction with a mapped error code',
    async (status) => {
      h.upstream.script = () => ({ status });
      const r = await h
        .client()
        .interactions.create({ model: 'gemini-3.5-flash', input: 'x' }, noRetry);
      expect(r.status).toBe('failed');
      const got = await h.client().interactions.get(r.id, undefined, noRetry);
      const expected = {
        500: 'unavailable',
        503: 'unavailable',
        429: 'resource_exhausted',
        400: 'invalid_request',
      }[status];
      expect(got.errors?.[0]?.code).toBe(expected);
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
});
