/**
 * The hostile workload of issue 9: every attack an outside review used to crash, freeze or bloat
 * the server, written once and used by the hostile test (all attacks against one server while a
 * second tenant keeps working) and by bench/hostile.ts (each attack alone, measuring how long the
 * server's event loop was blocked).
 *
 * Everything is real: the server runs as its own process (`open-interactions serve` from source),
 * the model is a scripted OpenAI-compatible upstream on 127.0.0.1 that plays the attacker's part
 * (it calls the tools with hostile code and URLs, and writes hostile output), hostile pages come
 * from a page server on 127.0.0.1 that url_context is allowed to reach.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import { connect } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startChildServer, writeConfig, type ChildServer } from './child-server.js';
import {
  lastUserText,
  startFakeUpstream,
  type ChatRequest,
  type FakeUpstream,
} from './fake-upstream.js';
import { KEY_A, KEY_B } from './harness.js';

export { KEY_A, KEY_B };

/** What one attack ended with, as the attacker saw it. */
export interface AttackOutcome {
  /** HTTP status of the (last) response; 0 when the connection was closed without one. */
  httpStatus: number;
  /** Status of the interaction when one was created. */
  interactionStatus?: string;
  /** The error code the client was given (envelope `code`, or `errors[0].code`). */
  errorCode?: string;
  /** Results of built-in tool calls (`*_result` steps) in the interaction. */
  toolResults?: { type: string; is_error?: boolean; result?: unknown }[];
  /** Free text for the report. */
  detail: string;
}

export interface Attack {
  name: string;
  /** What the attack did to the server before the fix (issue 9). */
  reported: string;
  run(env: HostileEnvironment): Promise<AttackOutcome>;
}

// --- hostile pages ------------------------------------------------------------------------------

export function nestedDivs(depth: number): string {
  return `<!doctype html><html><head><title>deep</title></head><body>${'<div>'.repeat(depth)}x${'</div>'.repeat(depth)}</body></html>`;
}

async function startPageServer(): Promise<{ url: string; close(): Promise<void> }> {
  const pages: Record<string, string> = {
    '/deep-11k': nestedDivs(1_000),
    '/deep-1m': nestedDivs(100_000),
  };
  const server: HttpServer = createServer((req, res) => {
    const page = pages[req.url ?? ''];
    if (!page) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

// --- the model's part ---------------------------------------------------------------------------

/**
 * The scripted model: `python:<code>` calls code_execution with the code, `fetch:<url>` calls
 * url_context, `say:<text>` answers with exactly that text; anything else is echoed. After a
 * tool result it answers "done".
 */
function hostileScript(body: ChatRequest) {
  const text = lastUserText(body);
  const afterTool = body.messages.at(-1)?.role === 'tool';
  if (afterTool) return { text: ['done'] };
  if (text.startsWith('python:'))
    return {
      toolCalls: [{ name: 'code_execution', arguments: JSON.stringify({ code: text.slice(7) }) }],
    };
  if (text.startsWith('fetch:'))
    return {
      toolCalls: [{ name: 'url_context', arguments: JSON.stringify({ urls: [text.slice(6)] }) }],
    };
  if (text.startsWith('say:')) return { text: [text.slice(4)] };
  return { text: [`echo: ${text}`] };
}

// --- the environment ----------------------------------------------------------------------------

export interface HostileEnvironment {
  server: ChildServer;
  baseUrl: string;
  pagesUrl: string;
  upstream: FakeUpstream;
  /** True when the server process is still the one started and answers /healthz. */
  alive(): Promise<boolean>;
  /** Resident and peak memory of the server process (from /proc). */
  memory(): { rssMb: number; peakMb: number };
  close(): Promise<void>;
}

export interface HostileEnvironmentOptions {
  /** Seconds a request body may take once its headers are in (when the server supports it). */
  requestTimeoutSeconds?: number;
  /** Extra server settings merged into `server:` (e.g. settings a revision does not know). */
  server?: Record<string, unknown>;
}

function procStatusMb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

export async function startHostileEnvironment(
  options: HostileEnvironmentOptions = {},
): Promise<HostileEnvironment> {
  const dir = mkdtempSync(join(tmpdir(), 'oi-hostile-'));
  const upstream = await startFakeUpstream(hostileScript);
  const pages = await startPageServer();
  const config = writeConfig(dir, {
    models: [
      {
        name: 'gemini-*',
        backend: 'openai-compatible',
        base_url: upstream.url,
        model: 'upstream-model',
        api_key: 'upstream-secret',
      },
    ],
    keys: [
      { key: KEY_A, project: 'team-a' },
      { key: KEY_B, project: 'team-b' },
    ],
    server: { ...options.server },
    tools: {
      url_context: { allow_private: true, timeout_seconds: 30 },
      code_execution: { timeout_seconds: 30, memory_mb: 256, max_concurrent: 2 },
    },
  });
  const server = await startChildServer([
    '--config',
    config,
    '--db',
    `sqlite:${join(dir, 'hostile.db')}`,
  ]);
  const pid = server.process.pid!;
  return {
    server,
    baseUrl: server.baseUrl,
    pagesUrl: pages.url,
    upstream,
    async alive() {
      if (server.process.exitCode !== null || server.process.signalCode !== null) return false;
      try {
        process.kill(pid, 0);
        const res = await fetch(`${server.baseUrl}/healthz`, {
          signal: AbortSignal.timeout(30_000),
        });
        return res.status === 200;
      } catch {
        return false;
      }
    },
    memory: () => ({ rssMb: procStatusMb(pid, 'VmRSS'), peakMb: procStatusMb(pid, 'VmHWM') }),
    async close() {
      if (server.process.exitCode === null && server.process.signalCode === null) {
        server.process.kill('SIGTERM');
        const timer = setTimeout(() => server.process.kill('SIGKILL'), 10_000);
        await server.exited;
        clearTimeout(timer);
      }
      await pages.close();
      await upstream.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// --- requests -----------------------------------------------------------------------------------

interface CreateOutcome {
  status: number;
  body: Record<string, unknown> | undefined;
}

export async function createInteraction(
  env: HostileEnvironment,
  key: string,
  body: unknown,
  signal?: AbortSignal,
): Promise<CreateOutcome> {
  const res = await fetch(`${env.baseUrl}/v1beta/interactions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-goog-api-key': key },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal,
  });
  const text = await res.text();
  let parsed: Record<string, unknown> | undefined;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, body: parsed };
}

function outcomeOf(r: CreateOutcome, detail = ''): AttackOutcome {
  const body = r.body ?? {};
  const error = body.error as { code?: unknown; message?: string } | undefined;
  const errors = body.errors as { code?: string; message?: string }[] | undefined;
  const steps = (body.steps as { type: string; is_error?: boolean; result?: unknown }[]) ?? [];
  const toolResults = steps
    .filter((s) => s.type.endsWith('_result'))
    .map((s) => ({ type: s.type, is_error: s.is_error, result: s.result }));
  const message = error?.message ?? errors?.[0]?.message ?? '';
  return {
    httpStatus: r.status,
    interactionStatus: body.status as string | undefined,
    errorCode: (error?.code as string | undefined) ?? errors?.[0]?.code,
    toolResults: toolResults.length > 0 ? toolResults : undefined,
    detail: [detail, message, ...toolResults.map((t) => JSON.stringify(t.result).slice(0, 160))]
      .filter(Boolean)
      .join(' | ')
      .slice(0, 400),
  };
}

const python = (env: HostileEnvironment, code: string) =>
  createInteraction(env, KEY_A, {
    model: 'gemini-3.5-flash',
    input: `python:${code}`,
    tools: [{ type: 'code_execution' }],
  }).then((r) => outcomeOf(r));

const fetchPage = (env: HostileEnvironment, path: string) =>
  createInteraction(env, KEY_A, {
    model: 'gemini-3.5-flash',
    input: `fetch:${env.pagesUrl}${path}`,
    tools: [{ type: 'url_context' }],
  }).then((r) => outcomeOf(r));

/** A JSON schema with `n` string properties whose names are unique to `seed`. */
export function wideSchema(seed: number, n = 40): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) properties[`p${seed}_${i}`] = { type: 'string' };
  return { type: 'object', properties, required: [`p${seed}_0`] };
}

/** Runs `count` calls of `fn` with at most `concurrency` at once. */
async function pool<T>(count: number, concurrency: number, fn: (i: number) => Promise<T>) {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await fn(i);
      }
    }),
  );
  return results;
}

/**
 * Sends headers, then a body one byte every `intervalMs`, until the server answers or closes
 * (or `giveUpMs` passes). Returns the status line's code, 0 for a close without an answer, or
 * -1 when the server never reacted.
 */
export function trickleBody(
  baseUrl: string,
  options: { key?: string; intervalMs?: number; giveUpMs?: number } = {},
): Promise<number> {
  const { port, hostname } = new URL(baseUrl);
  const length = 100_000;
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    let answer = '';
    let done = false;
    const finish = (code: number) => {
      if (done) return;
      done = true;
      clearInterval(drip);
      clearTimeout(giveUp);
      socket.destroy();
      resolve(code);
    };
    socket.on('connect', () => {
      socket.write(
        `POST /v1beta/interactions HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\n` +
          (options.key ? `x-goog-api-key: ${options.key}\r\n` : '') +
          `Content-Length: ${length}\r\n\r\n{`,
      );
    });
    const drip = setInterval(() => {
      if (!socket.destroyed) socket.write(' ');
    }, options.intervalMs ?? 500);
    socket.on('data', (d) => {
      answer += d;
      const m = /^HTTP\/1\.1 (\d{3})/.exec(answer);
      if (m) finish(Number(m[1]));
    });
    socket.on('close', () => finish(0));
    socket.on('error', () => finish(0));
    const giveUp = setTimeout(() => finish(-1), options.giveUpMs ?? 60_000);
  });
}

// --- the attacks --------------------------------------------------------------------------------

const FFI_PRELUDE = 'from pyodide.ffi import to_js\nArray = to_js([]).constructor\n';

export const ATTACKS: Attack[] = [
  {
    name: 'ffi: one Array.new(10**8)',
    reported: 'FATAL ERROR: Reached heap limit — the whole process died',
    run: (env) => python(env, `${FFI_PRELUDE}x = Array.new(10**8)\nprint(x.length)`),
  },
  {
    name: 'ffi: a loop of Array.new(10**7)',
    reported: 'FATAL ERROR: Reached heap limit — the whole process died',
    run: (env) =>
      python(env, `${FFI_PRELUDE}xs = []\nwhile True:\n    xs.append(Array.new(10**7))`),
  },
  {
    name: 'ffi: ArrayBuffers outside the wasm memory cap',
    reported: 'server grew from 320 to 967 MB (stopped at 1 GB)',
    run: (env) =>
      python(
        env,
        'from pyodide.ffi import to_js\nU8 = to_js(b"x").constructor\nbufs = []\n' +
          'for i in range(100):\n    bufs.append(U8.new(10**7))\nprint("allocated", len(bufs))',
      ),
  },
  {
    name: 'redos: pattern ^(a+)+$ against 31 characters',
    reported: 'every request blocked for 26 s',
    run: (env) =>
      createInteraction(env, KEY_A, {
        model: 'gemini-3.5-flash',
        input: `say:${JSON.stringify({ s: `${'a'.repeat(31)}!` })}`,
        response_format: {
          type: 'object',
          properties: { s: { type: 'string', pattern: '^(a+)+$' } },
          required: ['s'],
        },
      }).then((r) => outcomeOf(r)),
  },
  {
    name: 'url_context: 11 KB page of 1,000 nested divs',
    reported: 'server frozen 29 s',
    run: (env) => fetchPage(env, '/deep-11k'),
  },
  {
    name: 'url_context: 1.1 MB page of 100k nested divs',
    reported: 'server frozen about 360 s',
    run: (env) => fetchPage(env, '/deep-1m'),
  },
  {
    name: 'schemas: 3,000 distinct 40-property response schemas',
    reported: '+640 MB, never released',
    run: async (env) => {
      const results = await pool(3_000, 8, (i) =>
        createInteraction(env, KEY_A, {
          model: 'gemini-3.5-flash',
          input: 'say:{}',
          store: false,
          response_format: wideSchema(i),
        }),
      );
      const byStatus = new Map<string, number>();
      for (const r of results) {
        const k = `${r.status}/${String(r.body?.status ?? (r.body?.error as { code?: string })?.code)}`;
        byStatus.set(k, (byStatus.get(k) ?? 0) + 1);
      }
      const worst = results.find((r) => r.status >= 500) ?? results[0]!;
      return {
        ...outcomeOf(worst),
        detail: [...byStatus].map(([k, n]) => `${k}: ${n}`).join(', '),
      };
    },
  },
  {
    name: 'schemas: $id registered by tenant A, probed by tenant B',
    reported: 'B got 400 "already exists" for A\'s $id, and read A\'s pattern back through $ref',
    run: async (env) => {
      const id = 'https://hostile.example/schemas/secret';
      const a = await createInteraction(env, KEY_A, {
        model: 'gemini-3.5-flash',
        input: 'say:{"s":"SECRET-1"}',
        response_format: {
          $id: id,
          type: 'object',
          properties: { s: { type: 'string', pattern: '^SECRET-[0-9]+$' } },
        },
      });
      const sameId = await createInteraction(env, KEY_B, {
        model: 'gemini-3.5-flash',
        input: 'say:{"t":1}',
        response_format: { $id: id, type: 'object', properties: { t: { type: 'number' } } },
      });
      const ref = await createInteraction(env, KEY_B, {
        model: 'gemini-3.5-flash',
        input: 'say:{"s":"x"}',
        response_format: { $ref: id },
      });
      const leaked = JSON.stringify(ref.body ?? {}).includes('SECRET');
      return {
        ...outcomeOf(ref),
        detail: `A ${a.status}/${String(a.body?.status)}; B same $id ${sameId.status}/${String(sameId.body?.status)}; B $ref ${ref.status}${leaked ? ' LEAKED' : ''}`,
        // the probe's own verdict, for the test
        errorCode: leaked ? 'LEAKED' : outcomeOf(ref).errorCode,
        interactionStatus: String(sameId.body?.status ?? sameId.status),
      };
    },
  },
  {
    name: 'body: 27 MB input of 1e6 items',
    reported: '/healthz blocked 7.5 s',
    run: async (env) => {
      const item = '{"type":"text","text":"ab"}';
      const body = `{"model":"gemini-3.5-flash","store":false,"input":[${Array(1_000_000).fill(item).join(',')}]}`; // 27 MB
      return outcomeOf(
        await createInteraction(env, KEY_A, body),
        `${(body.length / 1e6).toFixed(0)} MB`,
      );
    },
  },
  {
    name: 'body: 200 slow bodies (100 authenticated, 100 not)',
    reported: '3,000 slow-body sockets held 120 s, unauthenticated',
    run: async (env) => {
      const codes = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          trickleBody(env.baseUrl, { key: i % 2 === 0 ? KEY_A : undefined, giveUpMs: 90_000 }),
        ),
      );
      const count = (pred: (c: number) => boolean) => codes.filter(pred).length;
      const held = count((c) => c === -1);
      return {
        httpStatus: held > 0 ? -1 : Math.max(...codes),
        detail: `answered 4xx: ${count((c) => c >= 400 && c < 500)}, closed: ${count((c) => c === 0)}, held past 90 s: ${held}`,
      };
    },
  },
];

// --- probes -------------------------------------------------------------------------------------

/** Polls /healthz back to back and keeps the longest wait (how long the event loop was blocked). */
export function startHealthProbe(baseUrl: string, intervalMs = 10) {
  let stopped = false;
  let max = 0;
  let count = 0;
  let failures = 0;
  const loop = (async () => {
    while (!stopped) {
      const t0 = performance.now();
      try {
        const res = await fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(600_000) });
        await res.arrayBuffer();
        if (res.status !== 200) failures++;
      } catch {
        failures++;
        max = Math.max(max, performance.now() - t0);
        if (stopped) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      max = Math.max(max, performance.now() - t0);
      count++;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return { maxMs: max, probes: count, failures };
    },
  };
}

/** A second tenant creating small interactions back to back while the attacks run. */
export function startBystander(env: HostileEnvironment) {
  let stopped = false;
  let completed = 0;
  const problems: string[] = [];
  const loop = (async () => {
    while (!stopped) {
      try {
        const r = await createInteraction(env, KEY_B, {
          model: 'gemini-3.5-flash',
          input: `hello ${completed}`,
        });
        if (r.status === 200 && r.body?.status === 'completed') completed++;
        else
          problems.push(
            `${r.status} ${String(r.body?.status)} ${JSON.stringify(r.body?.errors ?? r.body?.error ?? r.body).slice(0, 300)}`,
          );
      } catch (err) {
        problems.push(String(err));
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  })();
  return {
    completed: () => completed,
    async stop() {
      stopped = true;
      await loop;
      return { completed, problems };
    },
  };
}
