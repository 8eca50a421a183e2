import { GoogleGenAI } from '@google/genai';
import type { InteractionEvent } from '../../src/protocol/types.js';
import { parseConfig, type Config } from '../../src/config.js';
import { createServer, type Server } from '../../src/server.js';
import { createTestDatabase, type StoreKind, type TestDatabase } from './databases.js';
import { startFakeUpstream, type FakeUpstream, type UpstreamScript } from './fake-upstream.js';

export const KEY_A = 'test-key-team-a-0001';
export const KEY_B = 'test-key-team-b-0002';

export interface Harness {
  baseUrl: string;
  server: Server;
  upstream: FakeUpstream;
  db: TestDatabase;
  /** An SDK client with key A (or the given key), talking /v1 (SDK 3.x default). */
  client(options?: {
    key?: string;
    apiVersion?: string;
    headers?: Record<string, string>;
  }): GoogleGenAI;
  fetch(path: string, init?: RequestInit & { key?: string | null }): Promise<Response>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  store: StoreKind;
  script?: UpstreamScript;
  /** Config on top of testConfig; a function gets the scripted upstream's URL. */
  config?: Record<string, unknown> | ((upstreamUrl: string) => Record<string, unknown>);
  /** Reuse an existing database (restart tests). */
  db?: TestDatabase;
  /** A pino logger (logging tests); default: no logs. */
  logger?: import('pino').Logger;
  /** The Files API's clock (expiry tests move it forward); also the limits' clock. */
  clock?: () => number;
  /** Told of each request a key or project limit refuses. */
  onLimitRejected?: import('../../src/api/limits.js').LimitRejectedHook;
  /** Built-in tools added to the configured ones (scripted tools in tests). */
  tools?: import('../../src/tools/types.js').BuiltInTool[];
}

export function testConfig(upstreamUrl: string, extra: Record<string, unknown> = {}): Config {
  return parseConfig({
    models: [
      {
        name: 'gemini-*',
        aliases: ['test-model'],
        backend: 'openai-compatible',
        base_url: upstreamUrl,
        model: 'upstream-model',
        api_key: 'upstream-secret',
      },
    ],
    keys: [
      { key: KEY_A, project: 'team-a' },
      { key: KEY_B, project: 'team-b' },
    ],
    server: { keepalive_seconds: 1 },
    ...extra,
  });
}

export async function startHarness(options: HarnessOptions): Promise<Harness> {
  const upstream = await startFakeUpstream(options.script);
  const db = options.db ?? (await createTestDatabase(options.store));
  const server = await createServer({
    config: testConfig(
      upstream.url,
      typeof options.config === 'function' ? options.config(upstream.url) : options.config,
    ),
    databaseUrl: db.url,
    logger: options.logger ?? false,
    pollMs: 50,
    clock: options.clock,
    onLimitRejected: options.onLimitRejected,
    tools: options.tools,
  });
  const address = await server.listen('127.0.0.1', 0);
  const baseUrl = address.replace('[::1]', '127.0.0.1');
  return {
    baseUrl,
    server,
    upstream,
    db,
    client(o = {}) {
      return new GoogleGenAI({
        apiKey: o.key ?? KEY_A,
        httpOptions: {
          baseUrl,
          ...(o.apiVersion ? { apiVersion: o.apiVersion } : {}),
          headers: o.headers,
        },
      });
    },
    fetch(path, init = {}) {
      const { key = KEY_A, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (key !== null && !headers.has('x-goog-api-key')) headers.set('x-goog-api-key', key);
      if (rest.body !== undefined && !headers.has('content-type'))
        headers.set('content-type', 'application/json');
      return fetch(baseUrl + path, { ...rest, headers });
    },
    async close() {
      await server.close(0);
      await upstream.close();
      if (!options.db) await db.drop();
    },
  };
}

/** Parses an SSE body into its `data:` payloads (JSON objects, and the final "[DONE]"). */
export function parseSse(text: string): { event?: string; id?: string; data: string }[] {
  const messages: { event?: string; id?: string; data: string }[] = [];
  for (const block of text.split(/\n\n/)) {
    const lines = block.split('\n').filter((l) => l && !l.startsWith(':'));
    if (lines.length === 0) continue;
    const msg: { event?: string; id?: string; data: string } = { data: '' };
    for (const line of lines) {
      const i = line.indexOf(':');
      const field = line.slice(0, i);
      const value = line.slice(i + 1).replace(/^ /, '');
      if (field === 'event') msg.event = value;
      else if (field === 'id') msg.id = value;
      else if (field === 'data') msg.data += value;
    }
    messages.push(msg);
  }
  return messages;
}

/** The interaction events among parsed SSE messages (everything but the final "[DONE]"). */
export function interactionEvents(messages: { data: string }[]): InteractionEvent[] {
  return messages
    .filter((m) => m.data !== '[DONE]')
    .map((m) => JSON.parse(m.data) as InteractionEvent);
}

export const noRetry = { maxRetries: 0 };
