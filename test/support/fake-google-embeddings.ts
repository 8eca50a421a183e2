/**
 * A scripted Gemini API embedding server on 127.0.0.1: `models/{model}:batchEmbedContents` and
 * `:embedContent`, answering with `fakeEmbedding` (fake-embeddings.ts) and recording requests.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { fakeEmbedding } from './fake-embeddings.js';
import { startScriptedServer } from './scripted-server.js';

interface GoogleEmbedRequest {
  model: string;
  content: { parts: { text?: string }[] };
  taskType?: string;
  outputDimensionality?: number;
}

export interface RecordedGoogleEmbedding {
  /** The model id from the path (`models/{model}:…`). */
  model: string;
  method: 'batchEmbedContents' | 'embedContent';
  headers: IncomingHttpHeaders;
  /** One per text (a single `embedContent` is a list of one). */
  requests: GoogleEmbedRequest[];
}

export interface FakeGoogleEmbeddings {
  /** The provider's base URL (`…/v1beta`). */
  url: string;
  calls: RecordedGoogleEmbedding[];
  close(): Promise<void>;
}

const textOf = (r: GoogleEmbedRequest) => r.content.parts.map((p) => p.text ?? '').join('');

export async function startFakeGoogleEmbeddings(): Promise<FakeGoogleEmbeddings> {
  const calls: RecordedGoogleEmbedding[] = [];
  const server = await startScriptedServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const match = /^\/v1beta\/models\/([^:/]+):(batchEmbedContents|embedContent)$/.exec(
      req.url ?? '',
    );
    if (req.method !== 'POST' || !match) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 404, message: 'not found', status: 'NOT_FOUND' } }));
      return;
    }
    const method = match[2] as RecordedGoogleEmbedding['method'];
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as
      { requests: GoogleEmbedRequest[] } | GoogleEmbedRequest;
    const requests = 'requests' in body ? body.requests : [body];
    calls.push({ model: match[1]!, method, headers: req.headers, requests });
    server.recorded(calls.length);
    const embed = (r: GoogleEmbedRequest) => ({
      values: fakeEmbedding(textOf(r), r.outputDimensionality),
    });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify(
        method === 'embedContent'
          ? { embedding: embed(requests[0]!) }
          : { embeddings: requests.map(embed) },
      ),
    );
  });
  return {
    url: `http://127.0.0.1:${server.port}/v1beta`,
    calls,
    close: () => server.close(),
  };
}
