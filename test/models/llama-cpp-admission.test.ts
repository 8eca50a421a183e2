import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLlamaCppWorkerModel } from '../../src/models/llama-cpp/worker-model.js';
import { STORE_KINDS, type StoreKind, type TestDatabase } from '../support/databases.js';
import { startHarness, type Harness } from '../support/harness.js';

const GGUF = process.env.OI_TEST_GGUF ?? '../shared/models/llama-2-tiny-random.gguf';

/** The status of every stored interaction, read from the store's own table. */
async function storedStatuses(kind: StoreKind, db: TestDatabase): Promise<string[]> {
  const sql = 'SELECT status FROM interactions';
  if (kind === 'sqlite') {
    const file = new Database(db.url.slice('sqlite:'.length), { readonly: true });
    try {
      return (file.prepare(sql).all() as { status: string }[]).map((r) => r.status);
    } finally {
      file.close();
    }
  }
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    return (await client.query<{ status: string }>(sql)).rows.map((r) => r.status);
  } finally {
    await client.end();
  }
}

/**
 * A local model admits a request before its interaction is stored: a burst beyond its sequences
 * and queue gets 503 + Retry-After (which the SDKs retry), never stored `failed` interactions.
 */
describe.each(STORE_KINDS)('local model admission (%s)', (store) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      store,
      config: {
        models: [
          {
            name: '*',
            backend: 'llama-cpp',
            path: GGUF,
            gpu: false,
            context_size: 256,
            max_sequences: 1,
            max_queue: 0,
            threads: 1,
          },
        ],
      },
    });
  });
  afterAll(async () => {
    await h.close();
  });

  const create = (body: object) =>
    h.fetch('/v1beta/interactions', {
      method: 'POST',
      body: JSON.stringify({
        model: 'local',
        generation_config: { max_output_tokens: 8 },
        ...body,
      }),
    });

  /** Creates until the model admits the request (what an SDK does on 503). */
  async function createAdmitted(body: object): Promise<Response> {
    for (let attempt = 0; attempt < 200; attempt++) {
      const res = await create(body);
      if (res.status !== 503) return res;
      await res.body?.cancel();
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('never admitted');
  }

  it('a burst of 6 parallel creates on one sequence and no queue: each ran or got 503, none stored failed', async () => {
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        create({ input: `burst ${i}`, stream: i % 2 === 1 }).then(async (res) => ({
          status: res.status,
          retryAfter: res.headers.get('retry-after'),
          text: await res.text(),
        })),
      ),
    );
    const ran = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status === 503);
    expect(ran.length + refused.length).toBe(6);
    // one place for six simultaneous requests: the capacity check saw them all, not just the first
    expect(ran.length).toBeGreaterThanOrEqual(1);
    expect(refused.length).toBeGreaterThanOrEqual(1);
    for (const r of refused) {
      expect(r.retryAfter).toBe('1');
      expect(JSON.parse(r.text)).toMatchObject({
        error: { code: 'unavailable', status: 'UNAVAILABLE' },
      });
    }
    for (const r of ran) {
      expect(r.text).toMatch(/"status":"(completed|incomplete)"/);
      expect(r.text).not.toMatch(/"status":"failed"/);
    }
    const statuses = await storedStatuses(store, h.db);
    expect(statuses).toHaveLength(ran.length);
    expect(statuses.every((s) => s === 'completed' || s === 'incomplete')).toBe(true);
  });

  it('the place comes back on every path: success, failure in the run, cancel, a refusal after admission', async () => {
    const before = (await storedStatuses(store, h.db)).length;
    // success, twice in a row: the first run's place is free for the second
    for (const input of ['one', 'two']) {
      const res = await createAdmitted({ input });
      expect(res.status).toBe(200);
    }

    // a failure inside the run (the prompt does not fit the context): stored failed, place freed
    const tooLong = await createAdmitted({ input: 'word '.repeat(400) });
    const failed = (await tooLong.json()) as {
      status: string;
      errors: { code: string; message: string }[];
    };
    expect(failed.status).toBe('failed');
    expect(failed.errors[0]!.code).toBe('invalid_request');
    // our own message, which helps the client (no upstream text involved)
    expect(failed.errors[0]!.message).toMatch(/^model backend '\*': The prompt has \d+ tokens/);
    expect((await createAdmitted({ input: 'after failure' })).status).toBe(200);

    // cancelled while it runs
    const long = await createAdmitted({
      input: 'a long one',
      background: true,
      generation_config: { max_output_tokens: 200 },
    });
    const { id } = (await long.json()) as { id: string };
    const cancelled = await h.fetch(`/v1beta/interactions/${id}/cancel`, { method: 'POST' });
    expect(((await cancelled.json()) as { status: string }).status).toMatch(
      /cancelled|completed|incomplete/,
    );
    expect((await createAdmitted({ input: 'after cancel' })).status).toBe(200);

    // refused after admission (an MCP server on a private address): 400, and the place is free
    // at once — with one place and no queue, a leaked place would make the next create a 503
    const refused = await create({
      input: 'x',
      tools: [{ type: 'mcp_server', name: 'local', url: 'http://127.0.0.1:9/mcp' }],
    });
    expect(refused.status).toBe(400);
    const next = await create({ input: 'right after the refusal' });
    expect(next.status).toBe(200);

    const statuses = (await storedStatuses(store, h.db)).slice(before);
    expect(statuses.filter((s) => s === 'failed')).toHaveLength(1); // the prompt too long
  });
});

describe('llama-cpp worker model: admit()', () => {
  it('counts places synchronously, and a cancelled call keeps its place until the worker has finished it', async () => {
    const model = createLlamaCppWorkerModel({
      modelPath: GGUF,
      gpu: false,
      threads: 1,
      contextSize: 256,
      maxSequences: 1,
      maxQueue: 0,
    });
    try {
      const first = model.admit()!;
      expect(first).toBeDefined();
      // nothing has reached the worker yet, and still the only place is taken
      expect(model.admit()).toBeUndefined();

      const { stream } = await first.model.doStream({
        prompt: [{ role: 'user', content: [{ type: 'text', text: 'Tell me a story' }] }],
        maxOutputTokens: 200,
      });
      // stop reading and end the run at once: the worker has not yet seen the abort
      const reader = stream.getReader();
      void reader.cancel();
      first.release();
      expect(model.admit()).toBeUndefined();

      // once the worker reports the call ended, the place is free again
      let second = model.admit();
      for (let i = 0; i < 400 && !second; i++) {
        await new Promise((r) => setTimeout(r, 25));
        second = model.admit();
      }
      expect(second).toBeDefined();
      second!.release();
      // a released place that made no call is free at once
      expect(model.admit()).toBeDefined();
    } finally {
      await model.dispose();
    }
  });
});
