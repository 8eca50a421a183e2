import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { Writable } from 'node:stream';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_KINDS, type StoreKind, type TestDatabase } from '../support/databases.js';
import {
  startFakeUpstream,
  type FakeUpstream,
  type UpstreamReply,
} from '../support/fake-upstream.js';
import { startHarness, type Harness } from '../support/harness.js';

/** Every row of every table, as text (the store read directly, not through the API). */
async function dumpStore(kind: StoreKind, db: TestDatabase): Promise<string> {
  if (kind === 'sqlite') {
    const file = new Database(db.url.slice('sqlite:'.length), { readonly: true });
    try {
      const tables = file.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as {
        name: string;
      }[];
      return JSON.stringify(tables.map((t) => file.prepare(`SELECT * FROM "${t.name}"`).all()));
    } finally {
      file.close();
    }
  }
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    const { rows: tables } = await client.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
    );
    const rows = [];
    for (const t of tables) rows.push((await client.query(`SELECT * FROM "${t.table_name}"`)).rows);
    return JSON.stringify(rows);
  } finally {
    await client.end();
  }
}

/** A port nothing listens on (taken from the OS, then freed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

/**
 * An upstream that echoes the credentials it was sent (in a 401 body, a 500 body, an error inside
 * its stream) and one that cannot be reached: neither the secrets nor the upstream's address reach
 * the tenant (HTTP answers, SSE streams), the store or the log; the log holds the scrubbed detail
 * under the request id.
 */
describe.each(STORE_KINDS)('upstream secrets never leak (%s)', (store) => {
  const suffix = randomBytes(6).toString('hex');
  const API_KEY = `UPSTREAM-SECRET-${suffix}`;
  const HEADER_VALUE = `HEADER-SECRET-${suffix}`;
  const DEAD_KEY = `DEAD-SECRET-${suffix}`;
  const lines: string[] = [];
  /** Everything the tenant received. */
  const seen: string[] = [];
  let upstream: FakeUpstream;
  let deadPort: number;
  let h: Harness;

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    deadPort = await closedPort();
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    h = await startHarness({
      store,
      logger: pino({ level: 'info' }, sink),
      config: {
        models: [
          {
            name: 'gemini-*',
            backend: 'openai-compatible',
            base_url: upstream.url,
            model: 'upstream-model',
            api_key: API_KEY,
            headers: { 'x-upstream-auth': HEADER_VALUE },
          },
          {
            name: 'dead-*',
            backend: 'openai-compatible',
            base_url: `http://127.0.0.1:${deadPort}/v1`,
            model: 'upstream-model',
            api_key: DEAD_KEY,
          },
        ],
      },
    });
  });
  afterAll(async () => {
    await h.close();
    await upstream.close();
  });

  const cases: [string, string, UpstreamReply][] = [
    ['a 401 that echoes the credentials', 'gemini-3.5-flash', { status: 401, echoHeaders: true }],
    ['a 500 that echoes the credentials', 'gemini-3.5-flash', { status: 500, echoHeaders: true }],
    [
      'an error inside the stream that echoes the credentials',
      'gemini-3.5-flash',
      { text: ['partial '], errorAfterChunks: 2, echoHeaders: true },
    ],
    ['connection refused (the error names the address)', 'dead-model', {}],
  ];
  let n = 0;

  for (const stream of [false, true]) {
    it.each(cases)(
      `%s (${stream ? 'streamed' : 'unary'}): the tenant gets a generic message with the request id`,
      async (_name, model, reply) => {
        upstream.script = () => reply;
        const requestId = `leak-${store}-${++n}`;
        const res = await h.fetch('/v1beta/interactions', {
          method: 'POST',
          headers: { 'x-request-id': requestId },
          body: JSON.stringify({ model, input: 'x', stream }),
        });
        expect(res.status).toBe(200);
        expect(res.headers.get('x-request-id')).toBe(requestId);
        const body = await res.text();
        seen.push(body);
        const id = /"id":"([^"]+)"/.exec(body)![1]!;
        // the stored interaction, and its stream replayed
        const got = await h.fetch(`/v1beta/interactions/${id}`);
        const resource = (await got.json()) as {
          status: string;
          errors: { code: string; message: string }[];
        };
        seen.push(JSON.stringify(resource));
        seen.push(await (await h.fetch(`/v1beta/interactions/${id}?stream=true`)).text());
        expect(resource.status).toBe('failed');
        expect(resource.errors).toHaveLength(1);
        expect(resource.errors[0]!.message).toMatch(
          new RegExp(
            `^model backend '(gemini|dead)-\\*' .*; see the server log, request id ${requestId}$`,
          ),
        );
        // the operator's log line: the request id, the interaction, and the scrubbed detail
        const logged = lines
          .map((l) => JSON.parse(l) as Record<string, unknown>)
          .find((l) => l.msg === 'interaction failed' && l.request_id === requestId);
        expect(logged).toMatchObject({ interaction_id: id, code: resource.errors[0]!.code });
        const detail = logged!.detail as string;
        if (model === 'dead-model') {
          expect(detail).toMatch(/ECONNREFUSED \[address\]/);
        } else {
          expect(detail).toMatch(/scripted failure/);
          expect(detail).toContain('Bearer [redacted]');
          expect(detail).toMatch(/x-upstream-auth\\?":\\?"\[redacted\]/);
        }
      },
    );
  }

  it('no secret and no upstream address anywhere: responses, streams, stored rows, log', async () => {
    const stored = await dumpStore(store, h.db);
    const log = lines.join('');
    // the upstream really sent them (the test would prove nothing otherwise)
    expect(upstream.requests.length).toBeGreaterThanOrEqual(6);
    expect(log).toContain('[redacted]');
    const upstreamPort = new URL(upstream.url).port;
    for (const [where, text] of [
      ['responses and streams', seen.join('\n')],
      ['store', stored],
      ['log', log],
    ] as const) {
      for (const secret of [API_KEY, HEADER_VALUE, DEAD_KEY, suffix]) {
        expect(text, `${where} contains a secret`).not.toContain(secret);
      }
      for (const address of [`127.0.0.1:${upstreamPort}`, `127.0.0.1:${deadPort}`]) {
        expect(text, `${where} contains an upstream address`).not.toContain(address);
      }
    }
  });
});
