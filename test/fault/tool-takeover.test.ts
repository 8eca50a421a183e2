import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startChildServer, writeConfig, type ChildServer } from '../support/child-server.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { expectOneStory } from '../support/event-story.js';
import {
  startFakeUpstream,
  type ChatRequest,
  type FakeUpstream,
} from '../support/fake-upstream.js';
import { KEY_A, parseSse } from '../support/harness.js';

/**
 * Issue 12: a background run whose node dies while one of its server-run tool calls runs (the
 * call step durable, its result not). PostgreSQL, real server processes, SIGKILL; a real MCP
 * server (official SDK) and a real page server on 127.0.0.1 hold the first call open until the
 * node running it is killed.
 */

const headers = { 'content-type': 'application/json', 'x-goog-api-key': KEY_A };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SECRET = `Bearer mcp-secret-${randomBytes(8).toString('hex')}`;
const SECRET_KEY = randomBytes(32).toString('hex');

async function until<T>(check: () => Promise<T | undefined>, what: string, tries = 600) {
  for (let i = 0; i < tries; i++) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    await sleep(200);
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** A real MCP server whose `charge` tool records every call; the first one never answers. */
async function startMcp() {
  const calls: { auth: string | undefined; amount: number }[] = [];
  const server: Server = createServer((req, res) => {
    const auth = req.headers.authorization;
    const mcp = new McpServer({ name: 'pay', version: '1.0.0' });
    mcp.registerTool(
      'charge',
      { description: 'Charges an amount.', inputSchema: { amount: z.number() } },
      ({ amount }) => {
        calls.push({ auth, amount });
        if (calls.length === 1) return new Promise<never>(() => {});
        return { content: [{ type: 'text', text: `charged ${amount}` }] };
      },
    );
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => {
      void transport.close();
      void mcp.close();
    });
    void mcp.connect(transport).then(() => transport.handleRequest(req, res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    calls,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** A page whose first request is held open for good; later ones answer. */
async function startPages() {
  let requests = 0;
  const server = createServer((_req, res) => {
    requests += 1;
    if (requests === 1) return;
    res.writeHead(200, { 'content-type': 'text/plain' }).end('The answer is 42.');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/page.txt`,
    requests: () => requests,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** Round 1: the tool call of the request's input; round 2: the answer quoting its result. */
function script(body: ChatRequest) {
  const result = body.messages.find((m) => m.role === 'tool');
  if (result) return { text: [`Done: ${JSON.stringify(result.content)}`] };
  const input = JSON.stringify(body.messages);
  return input.includes('fetch')
    ? { toolCalls: [{ name: 'url_context', arguments: JSON.stringify({ urls: [pagesUrl] }) }] }
    : { toolCalls: [{ name: 'pay__charge', arguments: '{"amount":5}' }] };
}
let pagesUrl = '';

describe('takeover while a server-run tool call runs (postgres, real processes)', () => {
  let upstream: FakeUpstream;
  let db: TestDatabase;
  let dir: string;
  const children: ChildServer[] = [];

  beforeAll(async () => {
    upstream = await startFakeUpstream(script);
    db = await createTestDatabase('postgres');
    dir = mkdtempSync(join(tmpdir(), 'oi-tool-takeover-'));
  });
  afterAll(async () => {
    for (const c of children) c.process.kill('SIGKILL');
    await upstream.close();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function node(id: string, extra: { repeatSafe?: string[]; key?: boolean } = {}) {
    const config = writeConfig(mkdtempSync(join(dir, `${id}-`)), {
      server: { node_id: id, heartbeat_seconds: 0.5, node_stale_seconds: 5 },
      run_queue: { poll_ms: 200, ...(extra.key === false ? {} : { secret_key: SECRET_KEY }) },
      models: [
        { name: 'gemini-*', backend: 'openai-compatible', base_url: upstream.url, model: 'm' },
      ],
      keys: [{ key: KEY_A, project: 'team-a' }],
      tools: {
        // Time-outs far beyond the test: the held call must still be running when its node dies.
        mcp_server: {
          allow_private: true,
          repeat_safe: extra.repeatSafe ?? [],
          call_timeout_seconds: 3600,
        },
        url_context: { allow_private: true, timeout_seconds: 3600, parse_timeout_seconds: 600 },
      },
    });
    const child = await startChildServer(['--config', config, '--db', db.url]);
    children.push(child);
    return child;
  }

  async function create(on: ChildServer, body: object): Promise<string> {
    const res = await fetch(`${on.baseUrl}/v1beta/interactions`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ model: 'gemini-3.5-flash', background: true, ...body }),
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { id: string }).id;
  }

  const getOn = async (on: ChildServer, id: string) =>
    (await (await fetch(`${on.baseUrl}/v1beta/interactions/${id}`, { headers })).json()) as {
      status: string;
      steps: { type: string; [k: string]: unknown }[];
      errors?: { code: string; message: string }[];
    };

  /** Waits until node `on` stored the call step of a run, kills `on`, waits for the run to end on `next`. */
  async function killDuringCall(on: ChildServer, next: ChildServer, id: string, callType: string) {
    await until(async () => {
      const got = await getOn(on, id);
      return got.steps.some((s) => s.type === callType) ? true : undefined;
    }, `node ${callType} step to be stored`);
    on.process.kill('SIGKILL');
    expect((await on.exited).signal).toBe('SIGKILL');
    const done = await until(async () => {
      const got = await getOn(next, id);
      return got.status === 'in_progress' ? undefined : got;
    }, 'the run to end on the other node');
    const replay = parseSse(
      await (
        await fetch(`${next.baseUrl}/v1beta/interactions/${id}?stream=true&last_event_id=0`, {
          headers,
        })
      ).text(),
    ).filter((m) => m.data !== '[DONE]');
    expectOneStory(replay);
    // The output steps (get shows the input first).
    return { ...done, steps: done.steps.filter((s) => s.type !== 'user_input') };
  }

  /** Every row of every table of the database, as text. */
  async function dumpDatabase(): Promise<string> {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const tables = await client.query<{ s: string; t: string }>(
        `SELECT table_schema AS s, table_name AS t FROM information_schema.tables
          WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')`,
      );
      let out = '';
      for (const { s, t } of tables.rows) {
        const rows = await client.query<{ r: string }>(`SELECT x::text AS r FROM "${s}"."${t}" x`);
        out += `${s}.${t}\n${rows.rows.map((r) => r.r).join('\n')}\n`;
      }
      return out;
    } finally {
      await client.end();
    }
  }

  const mcpTool = (url: string) => ({
    type: 'mcp_server',
    name: 'pay',
    url,
    headers: { Authorization: SECRET },
  });

  it('an MCP call not marked safe to repeat: the run fails naming tool and server; the MCP server saw one call', async () => {
    const mcp = await startMcp();
    try {
      const a = await node('node-a');
      const id = await create(a, { input: 'charge me', tools: [mcpTool(mcp.url)] });
      await until(async () => (mcp.calls.length > 0 ? true : undefined), 'the MCP call');
      const b = await node('node-b');
      const done = await killDuringCall(a, b, id, 'mcp_server_tool_call');
      expect(done.status).toBe('failed');
      expect(done.errors?.[0]?.code).toBe('failed_precondition');
      expect(done.errors?.[0]?.message).toMatch(
        /taken over after its node stopped while MCP tool 'charge' on server 'pay' was running; it is not marked safe to repeat \(server setting tools\.mcp_server\.repeat_safe\)/,
      );
      expect(done.steps.map((s) => s.type)).toEqual(['mcp_server_tool_call']);
      expect(mcp.calls).toHaveLength(1);
      b.process.kill('SIGTERM');
      expect((await b.exited).code).toBe(0);
    } finally {
      mcp.close();
    }
  }, 240_000);

  it('an MCP server marked repeat-safe: the call runs again (credentials from the sealed job, never in clear in the database) and the run completes', async () => {
    const mcp = await startMcp();
    const safe = [mcp.url.replace(/\/mcp$/, '/**')];
    try {
      const c = await node('node-c', { repeatSafe: safe });
      const id = await create(c, { input: 'charge me', tools: [mcpTool(mcp.url)] });
      await until(async () => (mcp.calls.length > 0 ? true : undefined), 'the MCP call');
      // The job waits in pgboss.job; nothing in the database holds the credential in clear.
      const dump = await dumpDatabase();
      expect(dump).toContain(id);
      expect(dump).toContain('pgboss.job');
      expect(dump).not.toContain(SECRET);
      expect(dump).not.toContain(SECRET.slice('Bearer '.length));

      const d = await node('node-d', { repeatSafe: safe });
      const done = await killDuringCall(c, d, id, 'mcp_server_tool_call');
      expect(done.status).toBe('completed');
      // One call step, its result (from the call run again), then the answer.
      expect(done.steps.map((s) => s.type)).toEqual([
        'mcp_server_tool_call',
        'mcp_server_tool_result',
        'model_output',
      ]);
      expect(done.steps[1]).toMatchObject({ call_id: done.steps[0]!.id, result: 'charged 5' });
      expect(mcp.calls).toEqual([
        { auth: SECRET, amount: 5 },
        { auth: SECRET, amount: 5 },
      ]);
      expect(await dumpDatabase()).not.toContain(SECRET.slice('Bearer '.length));
      d.process.kill('SIGTERM');
      expect((await d.exited).code).toBe(0);
    } finally {
      mcp.close();
    }
  }, 240_000);

  it('without run_queue.secret_key the credentials are not kept: a takeover fails naming the setting, the call is not repeated', async () => {
    const mcp = await startMcp();
    const safe = [mcp.url.replace(/\/mcp$/, '/**')];
    try {
      const e = await node('node-e', { repeatSafe: safe, key: false });
      const id = await create(e, { input: 'charge me', tools: [mcpTool(mcp.url)] });
      await until(async () => (mcp.calls.length > 0 ? true : undefined), 'the MCP call');
      expect(await dumpDatabase()).not.toContain(SECRET.slice('Bearer '.length));
      const f = await node('node-f', { repeatSafe: safe, key: false });
      const done = await killDuringCall(e, f, id, 'mcp_server_tool_call');
      expect(done.status).toBe('failed');
      expect(done.errors?.[0]?.code).toBe('failed_precondition');
      expect(done.errors?.[0]?.message).toMatch(/tools\[0\]\.headers.*run_queue\.secret_key/);
      expect(mcp.calls).toHaveLength(1);
      f.process.kill('SIGTERM');
      expect((await f.exited).code).toBe(0);
    } finally {
      mcp.close();
    }
  }, 240_000);

  it('a url_context fetch whose result was not stored: fetched again on the other node, the run completes', async () => {
    const pages = await startPages();
    pagesUrl = pages.url;
    try {
      const g = await node('node-g');
      const id = await create(g, { input: 'fetch the page', tools: [{ type: 'url_context' }] });
      await until(async () => (pages.requests() > 0 ? true : undefined), 'the page request');
      const h = await node('node-h');
      const done = await killDuringCall(g, h, id, 'url_context_call');
      expect(done.status).toBe('completed');
      expect(done.steps.map((s) => s.type)).toEqual([
        'url_context_call',
        'url_context_result',
        'model_output',
      ]);
      expect(done.steps[0]).toMatchObject({ arguments: { urls: [pages.url] } });
      expect(done.steps[1]).toMatchObject({
        call_id: done.steps[0]!.id,
        result: [{ url: pages.url, status: 'success' }],
      });
      expect(pages.requests()).toBe(2);
      h.process.kill('SIGTERM');
      expect((await h.exited).code).toBe(0);
    } finally {
      pages.close();
    }
  }, 240_000);
});
