/**
 * The mcp_server tool against real MCP servers built with the official SDK (McpServer +
 * StreamableHTTPServerTransport) on node http servers on 127.0.0.1.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { lookup } from 'node:dns/promises';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ApiError } from '../../protocol/errors.js';
import type { JsonObject } from '../../protocol/types.js';
import { classifyAddress } from '../../net/address-policy.js';
import type { ToolSession } from '../types.js';
import { createMcpServerTool, declarationName } from './index.js';
import { mapCallResult } from './result.js';

const PIXEL =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';

function buildMcpServer(): McpServer {
  const server = new McpServer({ name: 'test-server', version: '1.0.0' });
  server.registerTool(
    'add',
    {
      description: 'Adds two numbers.',
      inputSchema: { a: z.number(), b: z.number() },
    },
    ({ a, b }) => ({ content: [{ type: 'text', text: String(a + b) }] }),
  );
  server.registerTool(
    'echo_headers',
    { description: 'Returns the Authorization and X-Api-Key headers it received.' },
    (extra) => {
      const headers = extra.requestInfo?.headers ?? {};
      return {
        content: [
          {
            type: 'text',
            text: JSON.stringify({
              authorization: headers['authorization'] ?? null,
              x_api_key: headers['x-api-key'] ?? null,
            }),
          },
        ],
      };
    },
  );
  server.registerTool('fail', { description: 'Always fails.' }, () => ({
    content: [{ type: 'text', text: 'boom: the widget is broken' }],
    isError: true,
  }));
  server.registerTool('image', { description: 'Returns a picture.' }, () => ({
    content: [
      { type: 'text', text: 'a red pixel' },
      { type: 'image', data: PIXEL, mimeType: 'image/png' },
    ],
  }));
  server.registerTool(
    'stats',
    {
      description: 'Structured statistics.',
      inputSchema: { values: z.array(z.number()) },
      outputSchema: { count: z.number(), sum: z.number() },
    },
    ({ values }) => {
      const out = { count: values.length, sum: values.reduce((s, v) => s + v, 0) };
      return { content: [{ type: 'text', text: JSON.stringify(out) }], structuredContent: out };
    },
  );
  server.registerTool(
    'slow',
    { description: 'Takes its time.', inputSchema: { ms: z.number() } },
    async ({ ms }) => {
      await new Promise((r) => setTimeout(r, ms));
      return { content: [{ type: 'text', text: 'done' }] };
    },
  );
  return server;
}

interface TestServer {
  url: string;
  server: Server;
  /** Methods of HTTP requests received, e.g. POST, GET, DELETE. */
  methods: string[];
  close(): Promise<void>;
}

async function listen(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

/** Stateless: a fresh McpServer + transport per request. Stateful: one per session id. */
async function startMcp(mode: 'stateless' | 'stateful', requireAuth?: string): Promise<TestServer> {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const methods: string[] = [];
  const { server, port } = await listen((req, res) => {
    methods.push(req.method ?? '');
    if (requireAuth && req.headers.authorization !== requireAuth) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"unauthorized"}');
      return;
    }
    void (async () => {
      if (mode === 'stateless') {
        const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
        const mcp = buildMcpServer();
        res.on('close', () => {
          void transport.close();
          void mcp.close();
        });
        await mcp.connect(transport);
        await transport.handleRequest(req, res);
        return;
      }
      const id = req.headers['mcp-session-id'];
      let transport = typeof id === 'string' ? sessions.get(id) : undefined;
      if (!transport) {
        if (typeof id === 'string') {
          res.writeHead(404).end();
          return;
        }
        const created = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          onsessioninitialized: (sid) => void sessions.set(sid, created),
        });
        created.onclose = () => {
          if (created.sessionId) sessions.delete(created.sessionId);
        };
        await buildMcpServer().connect(created);
        transport = created;
      }
      await transport.handleRequest(req, res);
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    server,
    methods,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const entry = (url: string, extra: JsonObject = {}): JsonObject => ({
  type: 'mcp_server',
  name: 'calc',
  url,
  ...extra,
});

async function apiError(promise: Promise<unknown>): Promise<ApiError> {
  try {
    await promise;
  } catch (err) {
    if (ApiError.isInstance(err)) return err;
    throw err;
  }
  throw new Error('expected an ApiError');
}

const never = () => new AbortController().signal;

let stateless: TestServer;
let stateful: TestServer;
let secured: TestServer;
const sessions: ToolSession[] = [];
const tool = createMcpServerTool({ allowPrivate: true, callTimeoutMs: 5_000 });

async function open(e: JsonObject, t = tool): Promise<ToolSession> {
  const session = await t.open(e, 0);
  sessions.push(session);
  return session;
}

beforeAll(async () => {
  [stateless, stateful, secured] = await Promise.all([
    startMcp('stateless'),
    startMcp('stateful'),
    startMcp('stateless', 'Bearer s3cret'),
  ]);
});

afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.close?.()));
});

afterAll(async () => {
  await Promise.all([stateless.close(), stateful.close(), secured.close()]);
});

describe('open', () => {
  it('lists the server tools as prefixed declarations with their schemas', async () => {
    const session = await open(entry(stateless.url));
    expect(session.type).toBe('mcp_server');
    expect(session.steps).toEqual({
      call: 'mcp_server_tool_call',
      result: 'mcp_server_tool_result',
    });
    expect(session.declarations.map((d) => d.name).sort()).toEqual([
      'calc__add',
      'calc__echo_headers',
      'calc__fail',
      'calc__image',
      'calc__slow',
      'calc__stats',
    ]);
    const add = session.declarations.find((d) => d.name === 'calc__add')!;
    expect(add.description).toBe('Adds two numbers.');
    expect(add.parameters).toMatchObject({
      type: 'object',
      properties: { a: { type: 'number' }, b: { type: 'number' } },
      required: ['a', 'b'],
    });
    expect(add.parameters).not.toHaveProperty('$schema');
    const fail = session.declarations.find((d) => d.name === 'calc__fail')!;
    expect(fail.parameters).toMatchObject({ type: 'object', properties: {} });
  });

  it('works with a stateful server and ends the session on close', async () => {
    const session = await open(entry(stateful.url, { name: 'stateful_calc' }));
    expect(session.declarations.map((d) => d.name)).toContain('stateful_calc__add');
    const outcome = await session.execute('stateful_calc__add', { a: 1, b: 1 }, never());
    expect(outcome.result.result).toBe('2');
    await session.close!();
    expect(stateful.methods).toContain('DELETE');
    await session.close!(); // idempotent
    const after = await session.execute('stateful_calc__add', { a: 1, b: 1 }, never());
    expect(after.result.result).toMatch(/closed/);
  });

  it('keeps only allowed_tools', async () => {
    const session = await open(
      entry(stateless.url, { allowed_tools: [{ tools: ['add', 'echo_headers'] }] }),
    );
    expect(session.declarations.map((d) => d.name).sort()).toEqual([
      'calc__add',
      'calc__echo_headers',
    ]);
  });

  it("treats mode 'none' as an exclusion and unions the allowing rules", async () => {
    const excluded = await open(
      entry(stateless.url, { allowed_tools: [{ mode: 'none', tools: ['slow', 'fail'] }] }),
    );
    expect(excluded.declarations.map((d) => d.name).sort()).toEqual([
      'calc__add',
      'calc__echo_headers',
      'calc__image',
      'calc__stats',
    ]);
    const union = await open(
      entry(stateless.url, {
        allowed_tools: [{ mode: 'auto', tools: ['add'] }, { tools: ['image', 'add'] }],
      }),
    );
    expect(union.declarations.map((d) => d.name).sort()).toEqual(['calc__add', 'calc__image']);
  });

  it('names an allowed tool the server does not have', async () => {
    const err = await apiError(
      tool.open(entry(stateless.url, { allowed_tools: [{ tools: ['add', 'nope'] }] }), 0),
    );
    expect(err.code).toBe('failed_precondition');
    expect(err.httpStatus).toBe(400);
    expect(err.message).toMatch(/^tools\[0\]\.allowed_tools\[0\]\.tools\[1\]: .*'nope'/);
  });

  it('fails with 400 failed_precondition naming tools[i].url when the server is unreachable', async () => {
    const { server, port } = await listen(() => {});
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const err = await apiError(tool.open(entry(`http://127.0.0.1:${port}/mcp`), 3));
    expect(err.code).toBe('failed_precondition');
    expect(err.httpStatus).toBe(400);
    expect(err.message).toMatch(/^tools\[3\]\.url: cannot use the MCP server: .*ECONNREFUSED/);
  });

  it('fails when the server does not answer in time', async () => {
    const { server, port } = await listen(() => {}); // accepts, never answers
    try {
      const t = createMcpServerTool({ allowPrivate: true, connectTimeoutMs: 300 });
      const started = Date.now();
      const err = await apiError(t.open(entry(`http://127.0.0.1:${port}/mcp`), 0));
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(err.code).toBe('failed_precondition');
      expect(err.message).toMatch(/^tools\[0\]\.url: .*no answer within 300 ms/);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('fails when the URL is not an MCP endpoint', async () => {
    const { server, port } = await listen((_req, res) => res.writeHead(404).end('not here'));
    try {
      const err = await apiError(tool.open(entry(`http://127.0.0.1:${port}/mcp`), 0));
      expect(err.code).toBe('failed_precondition');
      expect(err.message).toMatch(/^tools\[0\]\.url: .*HTTP 404/);
    } finally {
      server.close();
    }
  });

  it('points at the headers when the server answers 401, without echoing them', async () => {
    const err = await apiError(
      tool.open(entry(secured.url, { headers: { Authorization: 'Bearer wrong-token' } }), 1),
    );
    expect(err.code).toBe('failed_precondition');
    expect(err.message).toMatch(/^tools\[1\]\.url: .*HTTP 401.*tools\[1\]\.headers/);
    expect(err.message).not.toContain('wrong-token');
  });
});

describe('takeover support', () => {
  it('records a call step before the call and reads the call back from it', async () => {
    const session = await open(entry(stateless.url));
    const step = session.callStep!('calc__add', { a: 2, b: 3 });
    expect(step).toEqual({ name: 'add', server_name: 'calc', arguments: { a: 2, b: 3 } });
    expect(session.callOf!(step)).toEqual({ name: 'calc__add', args: { a: 2, b: 3 } });
    expect(session.callOf!({ ...step, server_name: 'other' })).toBeUndefined();
    expect(session.callOf!({ ...step, name: 'nope' })).toBeUndefined();
  });

  it('is repeat-safe only for servers the operator lists (URL globs)', async () => {
    expect((await open(entry(stateless.url))).repeatSafe).toBe(false);
    const port = new URL(stateless.url).port;
    const listed = createMcpServerTool({
      allowPrivate: true,
      repeatSafe: ['https://elsewhere.example/**', `http://127.0.0.1:${port}/**`],
    });
    expect((await open(entry(stateless.url), listed)).repeatSafe).toBe(true);
    const other = createMcpServerTool({ allowPrivate: true, repeatSafe: ['http://127.0.0.1:1/*'] });
    expect((await open(entry(stateless.url), other)).repeatSafe).toBe(false);
  });
});

describe('execute', () => {
  it('calls the tool and returns the call and result step fields', async () => {
    const session = await open(entry(stateless.url));
    const outcome = await session.execute('calc__add', { a: 2, b: 3 }, never());
    expect(outcome).toEqual({
      call: { name: 'add', server_name: 'calc', arguments: { a: 2, b: 3 } },
      result: { result: '5', name: 'add', server_name: 'calc' },
      modelOutput: '5',
    });
  });

  it('sends the entry headers on every request', async () => {
    const session = await open(
      entry(secured.url, {
        headers: { Authorization: 'Bearer s3cret', 'X-Api-Key': 'k-123' },
      }),
    );
    const outcome = await session.execute('calc__echo_headers', {}, never());
    expect(JSON.parse(outcome.result.result as string)).toEqual({
      authorization: 'Bearer s3cret',
      x_api_key: 'k-123',
    });
    expect(outcome.call).toEqual({ name: 'echo_headers', server_name: 'calc', arguments: {} });
  });

  it('returns an isError result as a result the model can react to', async () => {
    const session = await open(entry(stateless.url));
    const outcome = await session.execute('calc__fail', {}, never());
    expect(outcome.result).toEqual({
      result: 'boom: the widget is broken',
      name: 'fail',
      server_name: 'calc',
    });
    expect(outcome.modelOutput).toEqual({ error: 'boom: the widget is broken' });
  });

  it('reports invalid arguments as an error result', async () => {
    const session = await open(entry(stateless.url));
    const outcome = await session.execute('calc__add', { a: 'two', b: 3 }, never());
    expect(typeof outcome.result.result).toBe('string');
    expect(outcome.modelOutput).toMatchObject({ error: expect.stringMatching(/a/) });
  });

  it('maps mixed content to a Content list', async () => {
    const session = await open(entry(stateless.url));
    const outcome = await session.execute('calc__image', {}, never());
    const content = [
      { type: 'text', text: 'a red pixel' },
      { type: 'image', data: PIXEL, mime_type: 'image/png' },
    ];
    expect(outcome.result).toEqual({ result: content, name: 'image', server_name: 'calc' });
    expect(outcome.modelOutput).toEqual(content);
  });

  it('returns structuredContent as an object', async () => {
    const session = await open(entry(stateless.url));
    const outcome = await session.execute('calc__stats', { values: [1, 2, 4] }, never());
    expect(outcome.result.result).toEqual({ count: 3, sum: 7 });
    expect(outcome.modelOutput).toEqual({ count: 3, sum: 7 });
  });

  it('turns a call time-out into an error result', async () => {
    const t = createMcpServerTool({ allowPrivate: true, callTimeoutMs: 200 });
    const session = await open(entry(stateless.url), t);
    const outcome = await session.execute('calc__slow', { ms: 2_000 }, never());
    expect(outcome.result.result).toBe('The MCP tool call timed out after 200 ms.');
    expect(outcome.modelOutput).toEqual({ error: 'The MCP tool call timed out after 200 ms.' });
  });

  it('honours the abort signal', async () => {
    const session = await open(entry(stateless.url));
    const controller = new AbortController();
    const reason = new Error('cancelled by the client');
    setTimeout(() => controller.abort(reason), 100);
    const started = Date.now();
    await expect(session.execute('calc__slow', { ms: 3_000 }, controller.signal)).rejects.toBe(
      reason,
    );
    expect(Date.now() - started).toBeLessThan(2_000);
    await expect(session.execute('calc__add', { a: 1, b: 2 }, controller.signal)).rejects.toBe(
      reason,
    );
  });

  it('throws for a name it did not declare', async () => {
    const session = await open(entry(stateless.url, { allowed_tools: [{ tools: ['add'] }] }));
    await expect(session.execute('calc__fail', {}, never())).rejects.toThrow(/no tool declared/);
  });
});

describe('address policy', () => {
  const strict = createMcpServerTool();

  it.each([
    'http://127.0.0.1:1/mcp',
    'http://localhost:1/mcp',
    'http://[::1]:1/mcp',
    'http://10.1.2.3/mcp',
    'http://169.254.169.254/latest',
    'http://[::ffff:192.168.0.1]/mcp',
    'http://0x7f.1/mcp',
  ])('refuses %s unless private addresses are allowed', async (url) => {
    const err = await apiError(strict.open(entry(url), 2));
    expect(err.code).toBe('invalid_request');
    expect(err.httpStatus).toBe(400);
    expect(err.message).toMatch(/^tools\[2\]\.url: refused /);
  });

  it('refuses the real test server on loopback without sending it anything', async () => {
    const before = stateless.methods.length;
    const err = await apiError(strict.open(entry(stateless.url), 0));
    expect(err.message).toMatch(
      /^tools\[0\]\.url: refused 127\.0\.0\.1: loopback addresses are not allowed; MCP servers must be on public addresses/,
    );
    expect(stateless.methods.length).toBe(before);
  });

  it('refuses a private address at connect time when DNS changes its answer (rebinding)', async () => {
    // The pre-connect check is told the host is public; the socket-level check sees the truth.
    const host = hostname();
    const real = await lookup(host).catch(() => undefined);
    if (!real || classifyAddress(real.address) === 'public') return; // host not private here
    const { server, port } = await listen((_req, res) => res.writeHead(500).end());
    await new Promise<void>((resolve) => {
      server.close();
      server.listen(port, '0.0.0.0', resolve);
    });
    try {
      const t = createMcpServerTool({
        resolve: async () => [{ address: '93.184.216.34', family: 4 }],
      });
      const err = await apiError(t.open(entry(`http://${host}:${port}/mcp`), 0));
      expect(err.code).toBe('failed_precondition');
      expect(err.message).toMatch(/^tools\[0\]\.url: .*EADDRNOTALLOWED/);
    } finally {
      server.close();
    }
  });

  it('checks every address a host name resolves to', async () => {
    const resolve = async () => [
      { address: '93.184.216.34', family: 4 as const },
      { address: '192.168.1.20', family: 4 as const },
    ];
    const err = await apiError(
      createMcpServerTool({ resolve }).open(entry('https://mcp.example.test/mcp'), 0),
    );
    // the refused address itself stays out of the message (it may describe an internal network)
    expect(err.message).toMatch(
      /^tools\[0\]\.url: refused mcp\.example\.test: it resolves to a private-network address/,
    );
    expect(err.message).not.toContain('192.168.1.20');
  });

  it.each([
    ['168.63.129.16', 'cloud metadata'],
    ['[::7f00:1]', 'loopback'],
    ['[64:ff9b::a9fe:a9fe]', 'cloud metadata'],
  ])('refuses %s (the shared policy)', async (host, words) => {
    const err = await apiError(strict.open(entry(`http://${host}/mcp`), 0));
    expect(err.message).toContain(`${words} addresses are not allowed`);
  });
});

describe('entry validation', () => {
  const cases: [string, JsonObject, RegExp][] = [
    [
      'missing name',
      { type: 'mcp_server', url: 'https://x.test/mcp' },
      /^tools\[0\]\.name: required/,
    ],
    ['name with -', entry('https://x.test/mcp', { name: 'my-server' }), /^tools\[0\]\.name: .*'-'/],
    [
      'name with space',
      entry('https://x.test/mcp', { name: 'my server' }),
      /^tools\[0\]\.name: must be snake_case/,
    ],
    ['missing url', { type: 'mcp_server', name: 'calc' }, /^tools\[0\]\.url: required/],
    ['url not a string', entry('x', { url: 42 }), /^tools\[0\]\.url: expected string/],
    ['url garbage', entry('not a url'), /^tools\[0\]\.url: not a valid URL/],
    ['url ftp', entry('ftp://x.test/mcp'), /^tools\[0\]\.url: must be an http or https URL/],
    [
      'url with credentials',
      entry('https://u:p@x.test/mcp'),
      /^tools\[0\]\.url: must not contain credentials/,
    ],
    [
      'headers not an object',
      entry('https://x.test/mcp', { headers: 'Bearer x' }),
      /^tools\[0\]\.headers: expected record/,
    ],
    [
      'header value not a string',
      entry('https://x.test/mcp', { headers: { 'X-N': 1 } }),
      /^tools\[0\]\.headers\.X-N: expected string/,
    ],
    [
      'header value with newline',
      entry('https://x.test/mcp', { headers: { 'X-N': 'a\r\nb' } }),
      /^tools\[0\]\.headers\.X-N: value contains/,
    ],
    [
      'bad header name',
      entry('https://x.test/mcp', { headers: { 'X N': 'v' } }),
      /^tools\[0\]\.headers\["X N"\]: not a valid header name/,
    ],
    [
      'reserved header',
      entry('https://x.test/mcp', { headers: { 'Mcp-Session-Id': 'v' } }),
      /^tools\[0\]\.headers\.Mcp-Session-Id: this header is set by the MCP transport/,
    ],
    [
      'allowed_tools wrong shape',
      entry('https://x.test/mcp', { allowed_tools: 7 }),
      /^tools\[0\]\.allowed_tools: /,
    ],
    [
      'allowed_tools tools not a list',
      entry('https://x.test/mcp', { allowed_tools: [{ tools: 'add' }] }),
      /^tools\[0\]\.allowed_tools\[0\]\.tools: expected array/,
    ],
    [
      'allowed_tools bad mode',
      entry('https://x.test/mcp', { allowed_tools: [{ mode: 'sometimes' }] }),
      /^tools\[0\]\.allowed_tools\[0\]\.mode: /,
    ],
    [
      'unknown field',
      entry('https://x.test/mcp', { timeout: 5 }),
      /^tools\[0\]\.timeout: unknown field/,
    ],
  ];

  it.each(cases)('%s → 400 naming the field', async (_label, bad, message) => {
    const err = await apiError(tool.open(bad, 0));
    expect(err.code).toBe('invalid_request');
    expect(err.httpStatus).toBe(400);
    expect(err.message).toMatch(message);
  });

  it('never echoes header values in errors', async () => {
    const err = await apiError(
      tool.open(entry('https://x.test/mcp', { headers: { Authorization: 'top-secret\n' } }), 0),
    );
    expect(err.message).not.toContain('top-secret');
  });
});

describe('helpers', () => {
  it('makes declaration names valid and unique', () => {
    const taken = new Map<string, unknown>();
    const a = declarationName('srv', 'get/thing', taken);
    expect(a).toBe('srv__get_thing');
    taken.set(a, 1);
    expect(declarationName('srv', 'get thing', taken)).toBe('srv__get_thing_2');
    const long = declarationName('srv', 'x'.repeat(100), taken);
    expect(long).toHaveLength(64);
    expect(long).toMatch(/^[a-zA-Z_][a-zA-Z0-9_.-]{0,63}$/);
  });

  it('maps other content kinds', () => {
    expect(
      mapCallResult({
        content: [
          { type: 'audio', data: 'AAA', mimeType: 'audio/wav' },
          { type: 'resource', resource: { uri: 'file:///a.txt', text: 'hello' } },
          {
            type: 'resource',
            resource: { uri: 'file:///a.pdf', blob: 'JVBE', mimeType: 'application/pdf' },
          },
          { type: 'resource_link', uri: 'https://x.test/r', name: 'r' },
        ],
      }).result,
    ).toEqual([
      { type: 'audio', data: 'AAA', mime_type: 'audio/wav' },
      { type: 'text', text: 'hello' },
      { type: 'document', data: 'JVBE', mime_type: 'application/pdf' },
      { type: 'text', text: 'Resource link: r <https://x.test/r>' },
    ]);
    expect(mapCallResult({ content: [] }).result).toBe('');
    expect(mapCallResult({ toolResult: { ok: true } }).result).toEqual({ ok: true });
    expect(
      mapCallResult({
        content: [{ type: 'image', data: 'x', mimeType: 'image/png' }],
        isError: true,
      }),
    ).toMatchObject({ modelOutput: { error: expect.any(String) } });
  });
});
