import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUpstreamFetch } from './upstream-fetch.js';

/** A real HTTP server on 127.0.0.1 whose routes exercise what the AI SDK relies on. */
let server: Server;
let base: string;
const seen: { method: string; headers: Record<string, unknown>; body: string }[] = [];
/** Resolves when the server side of the latest /hang answer is closed. */
let hangClosed: Promise<void> = Promise.resolve();

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method!, headers: req.headers, body });
      if (req.url === '/stream') {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'x-request-id': 'r1' });
        res.write('data: one\n\n');
        setTimeout(() => res.end('data: two\n\n'), 10);
      } else if (req.url === '/error') {
        res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '3' });
        res.end('{"error":{"message":"slow down"}}');
      } else if (req.url === '/cut') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: one\n\n');
        setTimeout(() => req.socket.destroy(), 10);
      } else if (req.url === '/hang') {
        hangClosed = new Promise((r) => res.on('close', r));
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: one\n\n'); // and never ends
      } else if (req.url === '/empty') {
        res.writeHead(204).end();
      } else res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const upstreamFetch = createUpstreamFetch();

describe('createUpstreamFetch', () => {
  it('sends method, headers and body, and streams the answer back as a Response', async () => {
    const res = await upstreamFetch(`${base}/stream`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', authorization: 'Bearer k' },
      body: '{"a":1}',
    });
    expect(res.status).toBe(200);
    expect(res.ok).toBe(true);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    expect(res.headers.get('x-request-id')).toBe('r1');
    const chunks: string[] = [];
    const decoder = new TextDecoder();
    for await (const chunk of res.body!) chunks.push(decoder.decode(chunk));
    expect(chunks.join('')).toBe('data: one\n\ndata: two\n\n');
    const request = seen.at(-1)!;
    expect(request).toMatchObject({ method: 'POST', body: '{"a":1}' });
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers.authorization).toBe('Bearer k');
    // no content encoding is asked for: the answer needs no decoding
    expect(request.headers['accept-encoding']).toBeUndefined();
  });

  it('hands error answers back with status, headers and body', async () => {
    const res = await upstreamFetch(new URL(`${base}/error`), { method: 'POST', body: '{}' });
    expect(res.status).toBe(429);
    expect(res.statusText).toBe('Too Many Requests');
    expect(res.ok).toBe(false);
    expect(res.headers.get('retry-after')).toBe('3');
    expect(await res.json()).toEqual({ error: { message: 'slow down' } });
  });

  it('answers 204 without a body', async () => {
    const res = await upstreamFetch(`${base}/empty`);
    expect(res.status).toBe(204);
    expect(res.body).toBeNull();
  });

  it('rejects like fetch when it cannot connect: TypeError "fetch failed" with the cause', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const err = await upstreamFetch(`http://127.0.0.1:${port}/x`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect((err as TypeError).message).toBe('fetch failed');
    expect(((err as TypeError).cause as { code?: string }).code).toBe('ECONNREFUSED');
  });

  it('rejects with the abort reason when aborted before or while waiting', async () => {
    const before = new AbortController();
    before.abort();
    await expect(upstreamFetch(`${base}/stream`, { signal: before.signal })).rejects.toMatchObject({
      name: 'AbortError',
    });
    const during = new AbortController();
    const res = await upstreamFetch(`${base}/hang`, { signal: during.signal });
    const reader = res.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('data: one\n\n');
    const pending = reader.read();
    during.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('errors the body stream when the connection breaks mid-answer', async () => {
    const res = await upstreamFetch(`${base}/cut`);
    const reader = res.body!.getReader();
    await reader.read();
    await expect(reader.read()).rejects.toBeInstanceOf(TypeError);
  });

  it('cancelling the body closes the connection', async () => {
    const res = await upstreamFetch(`${base}/hang`);
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    await hangClosed; // the server sees its answer closed (a test timeout otherwise)
    expect(res.bodyUsed).toBe(true);
  });
});
