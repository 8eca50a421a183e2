import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireStoriesGguf } from '../support/gguf.js';
import { createStoreOutage } from '../support/store-outage.js';
import type { ChatRequest } from '../support/fake-upstream.js';
import { KEY_B, noRetry, startHarness, type Harness } from '../support/harness.js';

const TOKEN = 'metrics-scrape-token-0123456789';

/**
 * A scrape: the families as the parser library reads them (which checks the text format), and
 * each sample line's value by series. The library drops the labels of histogram series, so the
 * values are read from the lines themselves (`name{a="x",b="y"} 12`; prom-client escapes no
 * commas or quotes in our label values).
 */
interface Scrape {
  families: ReturnType<typeof parsePrometheusTextFormat>;
  samples: { name: string; labels: Record<string, string>; value: number }[];
}

function readScrape(text: string): Scrape {
  const samples: Scrape['samples'] = [];
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const labels = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]),
    );
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return { families: parsePrometheusTextFormat(text), samples };
}

/** The sum of the series of `name` that carry `labels` (0 when none). */
function sample(scrape: Scrape, name: string, labels: Record<string, string> = {}): number {
  return scrape.samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

/** Round 1 asks for url_context (refused: 127.0.0.1), round 2 answers. */
function readThenAnswer(body: ChatRequest) {
  if (
    body.tools?.[0]?.function.name === 'url_context' &&
    !body.messages.some((m) => m.role === 'tool')
  )
    return { toolCalls: [{ name: 'url_context', arguments: '{"urls":["http://127.0.0.1:9/x"]}' }] };
  return { text: ['done'], usage: { prompt_tokens: 7, completion_tokens: 3 } };
}

describe('GET /metrics', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ store: 'sqlite', config: { metrics: { token: TOKEN } } });
  });
  afterAll(async () => {
    await h.close();
  });

  const scrape = async (): Promise<Scrape> => {
    const res = await h.fetch('/metrics', {
      key: null,
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return readScrape(await res.text());
  };

  it('needs its own bearer token, not an API key', async () => {
    const none = await h.fetch('/metrics', { key: null });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(((await none.json()) as { error: { message: string } }).error.message).toMatch(
      /^authorization/,
    );
    const apiKey = await h.fetch('/metrics', {
      headers: { authorization: 'Bearer test-key-team-a-0001' },
    });
    expect(apiKey.status).toBe(401);
    const wrong = await h.fetch('/metrics', {
      key: null,
      headers: { authorization: `Bearer ${TOKEN}x` },
    });
    expect(wrong.status).toBe(401);
  });

  it('counters move by the right amounts for a known sequence of requests', async () => {
    const before = await scrape();
    const model = 'gemini-*';
    // 2 completed creates (team-a, team-b), 1 with a built-in tool call, 1 cancelled-in-flight-free
    // failure (upstream 500), 1 unknown model (400), 1 GET 404.
    const one = await h
      .client()
      .interactions.create({ model: 'gemini-3.5-flash', input: 'one' }, noRetry);
    const two = await h
      .client({ key: KEY_B })
      .interactions.create({ model: 'gemini-3.5-flash', input: 'two' }, noRetry);
    h.upstream.script = readThenAnswer;
    const withTool = await h
      .client()
      .interactions.create(
        { model: 'gemini-3.5-flash', input: 'read it', tools: [{ type: 'url_context' }] },
        noRetry,
      );
    expect(withTool.status).toBe('completed');
    h.upstream.script = () => ({ status: 500 });
    const failed = await h
      .client()
      .interactions.create({ model: 'gemini-3.5-flash', input: 'boom' }, noRetry);
    expect(failed.status).toBe('failed');
    const unknown = await h.fetch('/v1beta/interactions', {
      method: 'POST',
      body: JSON.stringify({ model: 'nope-model', input: 'x' }),
    });
    expect(unknown.status).toBe(400);
    expect((await h.fetch('/v1beta/interactions/v1_missing')).status).toBe(404);
    const after = await scrape();

    const delta = (name: string, labels: Record<string, string> = {}) =>
      sample(after, name, labels) - sample(before, name, labels);

    const create = { method: 'POST', route: '/v1beta/interactions' };
    // The SDK talks /v1; curl-style fetches above use /v1beta.
    expect(
      delta('oi_http_requests_total', { method: 'POST', route: '/v1/interactions', status: '200' }),
    ).toBe(4);
    expect(delta('oi_http_requests_total', { ...create, status: '400' })).toBe(1);
    expect(
      delta('oi_http_requests_total', {
        method: 'GET',
        route: '/v1beta/interactions/:id',
        status: '404',
      }),
    ).toBe(1);
    expect(delta('oi_interactions_total', { model, status: 'completed' })).toBe(3);
    expect(delta('oi_interactions_total', { model, status: 'failed' })).toBe(1);
    expect(delta('oi_interaction_duration_seconds_count', { model, status: 'completed' })).toBe(3);
    expect(delta('oi_interaction_first_step_seconds_count', { model })).toBe(3);
    // Tokens: exactly the usage the interactions report.
    const usage = (i: typeof one) => i.usage!;
    expect(delta('oi_tokens_total', { model, project: 'team-a', type: 'input' })).toBe(
      usage(one).total_input_tokens! + usage(withTool).total_input_tokens!,
    );
    expect(delta('oi_tokens_total', { model, project: 'team-a', type: 'output' })).toBe(
      usage(one).total_output_tokens! + usage(withTool).total_output_tokens!,
    );
    expect(delta('oi_tokens_total', { model, project: 'team-b', type: 'input' })).toBe(
      usage(two).total_input_tokens!,
    );
    expect(usage(two).total_input_tokens).toBeGreaterThan(0);
    expect(delta('oi_tokens_total', { model, project: 'team-b', type: 'output' })).toBe(5);
    expect(delta('oi_tool_calls_total', { tool: 'url_context' })).toBe(1);
    expect(delta('oi_event_log_flush_seconds_count')).toBeGreaterThanOrEqual(4);
    expect(delta('oi_store_errors_total')).toBe(0);
    expect(after.families.map((f) => f.name)).toContain('oi_interaction_duration_seconds');
    // Default process metrics are there too.
    expect(sample(after, 'oi_process_resident_memory_bytes')).toBeGreaterThan(0);
  });
});

describe('GET /metrics counts store errors', () => {
  // A streamed create stores its interaction before it answers (a non-streaming one is written
  // whole at its end, retried while the store is away: test/fault/store.test.ts).
  it('a streamed create refused because the store is locked counts one unavailable createInteraction', async () => {
    const h = await startHarness({ store: 'sqlite' });
    const outage = await createStoreOutage('sqlite', h.db);
    try {
      const series = { operation: 'createInteraction', fault: 'unavailable' };
      const read = async () =>
        sample(
          readScrape(await (await h.fetch('/metrics', { key: null })).text()),
          'oi_store_errors_total',
          series,
        );
      const before = await read();
      outage.cut();
      const refused = await h.fetch('/v1beta/interactions', {
        method: 'POST',
        body: JSON.stringify({ model: 'gemini-3.5-flash', input: 'x', stream: true }),
      });
      outage.restore();
      expect(refused.status).toBe(503);
      expect((await read()) - before).toBe(1);
    } finally {
      await outage.close();
      await h.close();
    }
  });
});

describe('GET /metrics without a token, and switched off', () => {
  it('is open without metrics.token and 404 with metrics.enabled false', async () => {
    const open = await startHarness({
      store: 'sqlite',
      config: (upstreamUrl) => ({
        models: [
          { name: 'gemini-*', backend: 'openai-compatible', base_url: upstreamUrl, model: 'm' },
          { name: 'local', backend: 'llama-cpp', path: requireStoriesGguf(), threads: 1 },
        ],
      }),
    });
    const off = await startHarness({ store: 'sqlite', config: { metrics: { enabled: false } } });
    try {
      const res = await open.fetch('/metrics', { key: null });
      expect(res.status).toBe(200);
      const families = parsePrometheusTextFormat(await res.text());
      expect(families.map((f) => f.name)).toEqual(
        expect.arrayContaining([
          'oi_http_requests_total',
          'oi_interactions_total',
          'oi_local_model_queue_depth',
          'oi_local_model_active_sequences',
          'oi_store_errors_total',
          'oi_limit_rejections_total',
        ]),
      );
      // A configured local model reports its load (idle: nothing decoding, nothing queued).
      const scrape = readScrape(await (await open.fetch('/metrics', { key: null })).text());
      expect(
        scrape.samples.filter(
          (s) => s.name.startsWith('oi_local_model_') && s.labels.model === 'local',
        ),
      ).toEqual([
        { name: 'oi_local_model_active_sequences', labels: { model: 'local' }, value: 0 },
        { name: 'oi_local_model_queue_depth', labels: { model: 'local' }, value: 0 },
      ]);
      expect((await off.fetch('/metrics', { key: null })).status).toBe(404);
    } finally {
      await open.close();
      await off.close();
    }
  });
});
