/**
 * A scripted OpenAI-compatible `/embeddings` server on 127.0.0.1, and the deterministic embedding
 * it answers with: hashed word and character-trigram features, normalised. Texts that share
 * words (or word pieces: "vacation" / "vacations") get close vectors, unrelated texts nearly
 * orthogonal ones, so retrieval over it behaves like a (crude) real model, and the same text
 * always gets the same vector.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { startScriptedServer } from './scripted-server.js';

export const FAKE_EMBEDDING_DIMENSIONS = 256;

/** FNV-1a, 32 bits. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** The vector the fake server answers for `text` (unit length; zero for a text without words). */
export function fakeEmbedding(text: string, dimensions = FAKE_EMBEDDING_DIMENSIONS): number[] {
  const vector = new Array<number>(dimensions).fill(0);
  const add = (feature: string, weight: number) => {
    const h = hash(feature);
    vector[(h >>> 1) % dimensions]! += h & 1 ? weight : -weight;
  };
  for (const word of text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) {
    add(`w:${word}`, 1);
    const padded = ` ${word} `;
    for (let i = 0; i + 3 <= padded.length; i++) add(`c:${padded.slice(i, i + 3)}`, 0.5);
  }
  const norm = Math.hypot(...vector);
  return norm === 0 ? vector : vector.map((v) => v / norm);
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

export async function startFakeEmbeddings(): Promise<FakeEmbeddings> {
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
        embedding: fakeEmbedding(text, body.dimensions),
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
