/**
 * A scripted OpenAI-compatible `/embeddings` server on 127.0.0.1 for tests and benches, and the
 * deterministic embedding it serves.
 *
 * The embedding hashes features of the text into `dimensions` signed buckets and scales the sum
 * to unit length: whole words (minus a few stop words), word pairs, and character 4-grams of
 * each word (so "boiling" lands near "boils"). It knows no synonyms, so it is a weak but honest
 * semantic signal: vector search over it is meaningful yet ranks differently from full-text
 * search, which is what retrieval tests need. A constant feature keeps it from being zero.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { startScriptedServer } from './scripted-server.js';

export const FAKE_EMBEDDING_DIMENSIONS = 256;

const STOP_WORDS = new Set(
  (
    'a an and are as at be by can did do does for from had has have how i in is it its of on or ' +
    'our that the their them they this to was were what when where which who why will with you'
  ).split(' '),
);

/** FNV-1a, 32 bits. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The deterministic embedding of `text` (unit length). */
export function fakeEmbedding(text: string, dimensions = FAKE_EMBEDDING_DIMENSIONS): number[] {
  const vector = new Float64Array(dimensions);
  const add = (feature: string, weight: number) => {
    const h = hash(feature);
    vector[h % dimensions]! += h & 0x80000000 ? -weight : weight;
  };
  const words = (text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).filter(
    (w) => !STOP_WORDS.has(w),
  );
  add('\u0000bias', 0.1);
  words.forEach((word, i) => {
    add(`w:${word}`, 1);
    if (i > 0) add(`b:${words[i - 1]} ${word}`, 0.5);
    const padded = `^${word}$`;
    for (let j = 0; j + 4 <= padded.length; j++) add(`c:${padded.slice(j, j + 4)}`, 0.35);
  });
  const norm = Math.hypot(...vector);
  return Array.from(vector, (x) => x / norm);
}

export interface FakeEmbeddingsRequest {
  model: string;
  /** The texts, always as a list (a single string input becomes a list of one). */
  input: string[];
  dimensions?: number;
  headers: IncomingHttpHeaders;
}

export interface FakeEmbeddings {
  /** Base URL for an `openai-compatible` entry (`…/v1`). */
  url: string;
  /** Every `/embeddings` request, in arrival order. */
  requests: FakeEmbeddingsRequest[];
  /** The most requests that were being answered at the same time. */
  maxInFlight: number;
  /** The next `count` requests get HTTP `status` with an OpenAI-style error body. */
  failNext(status: number, count?: number): void;
  /** Holds new requests (unanswered) until `resume()`. */
  pause(): void;
  resume(): void;
  /** Resolves once `count` requests have arrived. */
  waitForRequests(count: number): Promise<void>;
  close(): Promise<void>;
}

export async function startFakeEmbeddings(
  options: { dimensions?: number } = {},
): Promise<FakeEmbeddings> {
  const requests: FakeEmbeddingsRequest[] = [];
  const failures: number[] = [];
  let paused = false;
  let inFlight = 0;
  const server = await startScriptedServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.method !== 'POST' || !req.url?.endsWith('/embeddings')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `no route ${req.method} ${req.url}` } }));
      return;
    }
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
      model: string;
      input: string | string[];
      dimensions?: number;
    };
    const input = typeof body.input === 'string' ? [body.input] : body.input;
    requests.push({
      model: body.model,
      input,
      ...(body.dimensions !== undefined ? { dimensions: body.dimensions } : {}),
      headers: req.headers,
    });
    inFlight++;
    fake.maxInFlight = Math.max(fake.maxInFlight, inFlight);
    server.recorded(requests.length);
    try {
      if (paused) await server.hold();
      const status = failures.shift();
      if (status !== undefined) {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: `scripted failure ${status}`, type: 'x' } }));
        return;
      }
      const data = input.map((text, index) => ({
        object: 'embedding',
        index,
        embedding: fakeEmbedding(text, body.dimensions ?? options.dimensions),
      }));
      const tokens = input.reduce((n, text) => n + text.split(/\s+/).length, 0);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          object: 'list',
          data,
          model: body.model,
          usage: { prompt_tokens: tokens, total_tokens: tokens },
        }),
      );
    } finally {
      inFlight--;
    }
  });
  const fake: FakeEmbeddings = {
    url: `http://127.0.0.1:${server.port}/v1`,
    requests,
    maxInFlight: 0,
    failNext(status, count = 1) {
      for (let i = 0; i < count; i++) failures.push(status);
    },
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
      server.release();
    },
    waitForRequests: (count) => server.waitForRequests(count),
    close: () => server.close(),
  };
  return fake;
}
