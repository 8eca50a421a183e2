import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEY_A, startHarness, type Harness } from '../support/harness.js';

/**
 * Connections that send slowly or not at all (config `server.request_timeout_seconds`,
 * `headers_timeout_seconds`, `idle_timeout_seconds`), over real sockets. Every test asserts the
 * outcome (the answer the socket got, and that the server closed it), never how long it took:
 * the limits are short here so that the tests finish soon, and the vitest timeout is generous.
 */

interface Conversation {
  socket: Socket;
  /** Everything the server sent so far. */
  received(): string;
  /** Resolves once the server sent `text` (or rejects when the socket closed first). */
  waitFor(text: string): Promise<void>;
  /** Resolves with everything the server sent when the socket closes. */
  closed: Promise<string>;
}

function open(baseUrl: string): Promise<Conversation> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) }, () => {
      let data = '';
      const waiters: { text: string; resolve: () => void; reject: (e: Error) => void }[] = [];
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        data += chunk;
        for (const w of waiters.filter((w) => data.includes(w.text))) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      });
      socket.on('error', () => {});
      const closed = new Promise<string>((done) =>
        socket.on('close', () => {
          for (const w of waiters) w.reject(new Error(`closed before ${w.text}: ${data}`));
          done(data);
        }),
      );
      resolve({
        socket,
        received: () => data,
        waitFor: (text) =>
          data.includes(text)
            ? Promise.resolve()
            : new Promise((res, rej) => waiters.push({ text, resolve: res, reject: rej })),
        closed,
      });
    });
    socket.on('error', reject);
  });
}

/** Writes one byte every `everyMs` until the socket closes (at most `max` bytes). */
async function trickle(c: Conversation, max: number, everyMs = 100): Promise<number> {
  let sent = 0;
  let closed = false;
  void c.closed.then(() => (closed = true));
  while (!closed && sent < max) {
    c.socket.write('x');
    sent++;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return sent;
}

function parseResponse(raw: string): { status: number; body: Record<string, unknown> } {
  const [head = '', body = ''] = raw.split('\r\n\r\n');
  return {
    status: Number(head.split(' ')[1]),
    body: body ? (JSON.parse(body) as Record<string, unknown>) : {},
  };
}

const postHead = (length: number, key?: string) =>
  [
    'POST /v1beta/interactions HTTP/1.1',
    'Host: 127.0.0.1',
    'Content-Type: application/json',
    `Content-Length: ${length}`,
    ...(key ? [`x-goog-api-key: ${key}`] : []),
    '',
    '',
  ].join('\r\n');

describe('slow and idle connections', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      store: 'sqlite',
      config: {
        server: {
          keepalive_seconds: 1,
          request_timeout_seconds: 1,
          headers_timeout_seconds: 1,
          idle_timeout_seconds: 1,
        },
      },
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('answers a body trickled past the request timeout with 408 in our envelope and closes', async () => {
    const c = await open(h.baseUrl);
    c.socket.write(postHead(10_000, KEY_A));
    // Far more bytes than fit in the limit at this pace: the server must cut it off first.
    const sent = await trickle(c, 10_000);
    const raw = await c.closed;
    expect(sent).toBeLessThan(10_000);
    const { status, body } = parseResponse(raw);
    expect(status).toBe(408);
    expect(body).toEqual({
      error: {
        code: 'request_timeout',
        status: 'DEADLINE_EXCEEDED',
        message: 'body: the request body did not arrive within 1 s',
      },
    });
  }, 60_000);

  it('checks a body the same whether it arrived with its headers or in parts after them', async () => {
    // A body that arrived whole is scanned when parsed; one still arriving, while it arrives.
    const deep = JSON.stringify({
      model: 'gemini-3.5-flash',
      input: 'x',
      environment: { a: 0 },
    }).replace('0', '['.repeat(200) + ']'.repeat(200));
    const answers: { status: number; body: Record<string, unknown> }[] = [];
    for (const split of [false, true]) {
      const c = await open(h.baseUrl);
      const head = postHead(Buffer.byteLength(deep), KEY_A);
      if (split) {
        c.socket.write(head + deep.slice(0, 40));
        await new Promise((r) => setTimeout(r, 50));
        c.socket.write(deep.slice(40));
      } else c.socket.write(head + deep);
      await c.waitFor('}}');
      answers.push(parseResponse(c.received()));
      c.socket.destroy();
    }
    expect(answers[0]!.status).toBe(400);
    expect((answers[0]!.body.error as { message: string }).message).toMatch(
      /^environment\.a(\[0\])*: nested more than \d+ levels deep$/,
    );
    expect(answers[1]).toEqual(answers[0]);
  }, 60_000);

  it('answers headers trickled past the headers timeout with 408 and closes', async () => {
    const c = await open(h.baseUrl);
    c.socket.write('POST /v1beta/interactions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    const sent = await trickle(c, 10_000);
    const raw = await c.closed;
    expect(sent).toBeLessThan(10_000);
    expect(parseResponse(raw).status).toBe(408);
  }, 60_000);

  it('answers an unauthenticated request 401 before its body arrived, then closes', async () => {
    const c = await open(h.baseUrl);
    c.socket.write(postHead(10_000));
    c.socket.write('{"model":"gemini-3.5-flash",');
    // Nothing more is sent: the answer cannot depend on the body.
    await c.waitFor('}}');
    const raw = await c.closed;
    const { status, body } = parseResponse(raw);
    expect(status).toBe(401);
    expect(body).toMatchObject({ error: { code: 'unauthenticated' } });
    expect(raw.toLowerCase()).toContain('connection: close');
  }, 60_000);

  it('closes a keep-alive connection left idle', async () => {
    const c = await open(h.baseUrl);
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await c.waitFor('"ok"');
    const raw = await c.closed;
    expect(parseResponse(raw).status).toBe(200);
    expect(raw).toContain('keep-alive');
  }, 60_000);

  it('still serves complete requests, and answers a large unauthenticated body 401', async () => {
    const res = await h.fetch('/v1beta/interactions', {
      method: 'POST',
      body: JSON.stringify({ model: 'gemini-3.5-flash', input: 'hi' }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { status: string }).status).toBe('completed');
    const bad = await h.fetch('/v1beta/interactions', {
      method: 'POST',
      key: 'wrong-key-000000',
      body: JSON.stringify({ model: 'gemini-3.5-flash', input: 'x'.repeat(5_000_000) }),
    });
    expect(bad.status).toBe(401);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('unauthenticated');
  }, 60_000);
});
