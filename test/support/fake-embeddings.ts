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
import type { IncomingMessage, ServerResponse } from 'node:http';
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

export interface EmbeddingsRequest {
  model: string;
  input: string[];
}

export interface FakeEmbeddings {
  /** Base URL for an OpenAI-compatible client (`…/v1`; requests go to `…/v1/embeddings`). */
  url: string;
  /** Every request received, in order. */
  requests: EmbeddingsRequest[];
  close(): Promise<void>;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

export async function startFakeEmbeddings(
  options: { dimensions?: number } = {},
): Promise<FakeEmbeddings> {
  const dimensions = options.dimensions ?? FAKE_EMBEDDING_DIMENSIONS;
  const requests: EmbeddingsRequest[] = [];
  const server = await startScriptedServer(async (req, res) => {
    if (req.method !== 'POST' || req.url !== '/v1/embeddings') {
      send(res, 404, { error: { message: `no route ${req.method} ${req.url}` } });
      return;
    }
    const body = (await readJson(req)) as { model?: unknown; input?: unknown };
    const input = typeof body.input === 'string' ? [body.input] : body.input;
    if (!Array.isArray(input) || !input.every((x) => typeof x === 'string')) {
      send(res, 400, { error: { message: 'input must be a string or an array of strings' } });
      return;
    }
    requests.push({ model: String(body.model), input });
    const tokens = input.reduce((n, text) => n + text.split(/\s+/).length, 0);
    send(res, 200, {
      object: 'list',
      model: body.model,
      data: input.map((text, index) => ({
        object: 'embedding',
        index,
        embedding: fakeEmbedding(text, dimensions),
      })),
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    });
  });
  return { url: `http://127.0.0.1:${server.port}/v1`, requests, close: () => server.close() };
}
