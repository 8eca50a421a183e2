/**
 * Downloads against a real HTTP server on 127.0.0.1 (no network).
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createProgressBar,
  DEFAULT_EMBEDDING_MODEL,
  DEFAULT_MODEL,
  defaultModelsDir,
  downloadTimeouts,
  ensureDefaultModel,
  hubEndpoint,
  listModels,
  ModelNotAvailableError,
  pinnedSha256,
  pullModel,
  PullError,
  resolveModelRef,
  sha256FromEtag,
} from './index.js';

const BODY = randomBytes(300_000);
const SHA = createHash('sha256').update(BODY).digest('hex');
const OTHER_SHA = 'a'.repeat(64);
/** Where the default embedding model is on a Hugging Face-style hub (its pinned revision). */
const EMBEDDING_PATH = new URL(DEFAULT_EMBEDDING_MODEL.url).pathname;

interface Seen {
  path: string;
  range: string | undefined;
  ifRange: string | undefined;
}

let server: Server;
let base: string;
let host: string;
/** Short enough that a stall test ends quickly; only the stall tests use them. */
const SHORT = { connectMs: 300, idleMs: 300 };
const seen: Seen[] = [];
let breakNext = 0; // bytes after which to destroy the socket on the next /broken request

function sendRange(req: IncomingMessage, res: ServerResponse, body: Buffer, etag: string) {
  const range = req.headers.range;
  const m = range?.match(/^bytes=(\d+)-$/);
  const ifRange = req.headers['if-range'];
  if (m && (ifRange === undefined || ifRange === etag)) {
    const start = Number(m[1]);
    if (start >= body.length) {
      res.writeHead(416, { 'content-range': `bytes */${body.length}` });
      res.end();
      return;
    }
    res.writeHead(206, {
      'content-length': body.length - start,
      'content-range': `bytes ${start}-${body.length - 1}/${body.length}`,
      etag,
      'accept-ranges': 'bytes',
    });
    res.end(body.subarray(start));
    return;
  }
  res.writeHead(200, { 'content-length': body.length, etag, 'accept-ranges': 'bytes' });
  res.end(body);
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    seen.push({
      path: url.pathname,
      range: req.headers.range,
      ifRange: req.headers['if-range'] as string | undefined,
    });
    if (url.pathname.startsWith('/stall-hub/')) return; // a hub that never answers
    switch (url.pathname) {
      case '/files/model.gguf':
        return sendRange(req, res, BODY, `"${SHA}"`);
      case '/files/opaque-etag.gguf':
        return sendRange(req, res, BODY, '"v1-not-a-digest"');
      case '/files/wrong-etag.gguf':
        return sendRange(req, res, BODY, `"${OTHER_SHA}"`);
      case '/files/no-range.gguf':
        res.writeHead(200, { 'content-length': BODY.length });
        res.end(BODY);
        return;
      case '/files/broken.gguf':
      case EMBEDDING_PATH: {
        if (breakNext > 0 && req.headers.range === undefined) {
          const n = breakNext;
          breakNext = 0;
          res.writeHead(200, { 'content-length': BODY.length, etag: '"broken-v1"' });
          res.write(BODY.subarray(0, n), () => {
            setTimeout(() => res.socket?.destroy(), 20);
          });
          return;
        }
        return sendRange(req, res, BODY, '"broken-v1"');
      }
      // Hugging Face style: redirect to a CDN, digest in x-linked-etag on the redirect
      case '/owner/repo/resolve/main/Model-Q4.gguf':
      case `/unsloth/Qwen3-1.7B-GGUF/resolve/main/${DEFAULT_MODEL.fileName}`:
        res.writeHead(302, {
          location: '/cdn/blob-xyz',
          'x-linked-etag': `"${SHA}"`,
          etag: '"hf-commit"',
        });
        res.end();
        return;
      case '/cdn/blob-xyz':
        return sendRange(req, res, BODY, '"cdn-etag"');
      case '/stall/headers.gguf':
        return; // accepts the request, never answers
      case '/stall/body.gguf':
        if (req.headers.range !== undefined) return sendRange(req, res, BODY, '"stall-v1"');
        res.writeHead(200, { 'content-length': BODY.length, etag: '"stall-v1"' });
        res.write(BODY.subarray(0, 50_000)); // then nothing, with the connection open
        return;
      case '/files/error.gguf':
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('internal error');
        return;
      default:
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  base = `http://${host}`;
});

afterAll(async () => {
  server.closeAllConnections(); // the stalled ones
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** A port on 127.0.0.1 that nothing listens on (taken, then released). */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

async function pullFailure(options: Parameters<typeof pullModel>[0]): Promise<PullError> {
  const error = await pullModel(options).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PullError);
  return error as PullError;
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oi-pull-'));
  seen.length = 0;
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('pullModel', () => {
  it('downloads, verifies the given sha256 and renames atomically', async () => {
    const progress: Array<[number, number | undefined]> = [];
    const res = await pullModel({
      url: `${base}/files/model.gguf`,
      destDir: dir,
      sha256: SHA.toUpperCase(),
      onProgress: (b, t) => progress.push([b, t]),
    });
    expect(res).toMatchObject({
      bytes: BODY.length,
      sha256: SHA,
      verified: 'sha256',
      resumedFrom: 0,
      alreadyPresent: false,
    });
    expect(res.path).toBe(join(dir, 'model.gguf'));
    expect((await readFile(res.path)).equals(BODY)).toBe(true);
    expect(existsSync(`${res.path}.partial`)).toBe(false);
    expect(existsSync(`${res.path}.partial.json`)).toBe(false);
    expect(progress.at(-1)).toEqual([BODY.length, BODY.length]);
    expect(progress.length).toBeGreaterThan(1);

    // second pull: already there, nothing requested
    seen.length = 0;
    const again = await pullModel({ url: `${base}/files/model.gguf`, destDir: dir, sha256: SHA });
    expect(again.alreadyPresent).toBe(true);
    expect(seen).toHaveLength(0);
  });

  it('verifies against a sha256 etag when no checksum is given', async () => {
    const res = await pullModel({ url: `${base}/files/model.gguf`, destDir: dir });
    expect(res.verified).toBe('etag');
    const opaque = await pullModel({ url: `${base}/files/opaque-etag.gguf`, destDir: dir });
    expect(opaque.verified).toBe('none');
    expect(opaque.sha256).toBe(SHA);
  });

  it('checksum mismatch: error, no final file, partial deleted', async () => {
    await expect(
      pullModel({ url: `${base}/files/model.gguf`, destDir: dir, sha256: OTHER_SHA }),
    ).rejects.toMatchObject({
      name: 'PullError',
      code: 'checksum',
      message: expect.stringContaining('Checksum mismatch'),
    });
    expect(existsSync(join(dir, 'model.gguf'))).toBe(false);
    expect(existsSync(join(dir, 'model.gguf.partial'))).toBe(false);

    // a lying etag is caught too
    await expect(
      pullModel({ url: `${base}/files/wrong-etag.gguf`, destDir: dir }),
    ).rejects.toMatchObject({ code: 'checksum' });
    expect(existsSync(join(dir, 'wrong-etag.gguf'))).toBe(false);
  });

  it('connection broken halfway: error, then a second pull resumes with Range', async () => {
    breakNext = 120_000;
    const url = `${base}/files/broken.gguf`;
    let error: unknown;
    try {
      await pullModel({ url, destDir: dir, sha256: SHA });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PullError);
    expect((error as PullError).code).toBe('interrupted');
    expect((error as PullError).message).toMatch(/resume/);
    expect(existsSync(join(dir, 'broken.gguf'))).toBe(false);
    const partial = await stat(join(dir, 'broken.gguf.partial'));
    expect(partial.size).toBeGreaterThan(0);
    expect(partial.size).toBeLessThan(BODY.length);

    seen.length = 0;
    const res = await pullModel({ url, destDir: dir, sha256: SHA });
    expect(seen[0]?.range).toBe(`bytes=${partial.size}-`);
    expect(seen[0]?.ifRange).toBe('"broken-v1"');
    expect(res).toMatchObject({
      resumedFrom: partial.size,
      bytes: BODY.length,
      sha256: SHA,
      verified: 'sha256',
    });
    expect((await readFile(res.path)).equals(BODY)).toBe(true);
    expect(existsSync(join(dir, 'broken.gguf.partial'))).toBe(false);
  });

  it('server ignoring Range (200): restarts from the beginning', async () => {
    await writeFile(join(dir, 'no-range.gguf.partial'), BODY.subarray(0, 1000));
    const res = await pullModel({ url: `${base}/files/no-range.gguf`, destDir: dir, sha256: SHA });
    expect(seen[0]?.range).toBe('bytes=1000-');
    expect(res.resumedFrom).toBe(0);
    expect((await readFile(res.path)).equals(BODY)).toBe(true);
  });

  it('a partial that is already complete (416) is finished without downloading', async () => {
    await writeFile(join(dir, 'model.gguf.partial'), BODY);
    const res = await pullModel({ url: `${base}/files/model.gguf`, destDir: dir, sha256: SHA });
    expect(res.bytes).toBe(BODY.length);
    expect((await readFile(res.path)).equals(BODY)).toBe(true);
  });

  it('a corrupt partial is caught by the checksum after resume', async () => {
    await writeFile(join(dir, 'model.gguf.partial'), Buffer.alloc(5000, 7));
    await expect(
      pullModel({ url: `${base}/files/model.gguf`, destDir: dir, sha256: SHA }),
    ).rejects.toMatchObject({
      code: 'checksum',
    });
    expect(existsSync(join(dir, 'model.gguf.partial'))).toBe(false);
    const res = await pullModel({ url: `${base}/files/model.gguf`, destDir: dir, sha256: SHA });
    expect(res.sha256).toBe(SHA);
  });

  it('404 and 500 → the host, the status and what it means', async () => {
    const missing = await pullFailure({ url: `${base}/files/missing.gguf`, destDir: dir });
    expect(missing).toMatchObject({ code: 'http', status: 404 });
    expect(missing.message).toBe(
      `${host} answered HTTP 404 Not Found for ${base}/files/missing.gguf ` +
        '(no such file there: check the reference and the hub endpoint)',
    );
    expect(existsSync(join(dir, 'missing.gguf'))).toBe(false);

    const failed = await pullFailure({ url: `${base}/files/error.gguf`, destDir: dir });
    expect(failed).toMatchObject({ code: 'http', status: 500 });
    expect(failed.message).toMatch(
      new RegExp(`^${host} answered HTTP 500 .*a server-side failure: try again later`),
    );
    expect(existsSync(join(dir, 'error.gguf'))).toBe(false);
  });

  it('connection refused → unreachable, naming the host', async () => {
    const port = await closedPort();
    const error = await pullFailure({ url: `http://127.0.0.1:${port}/x.gguf`, destDir: dir });
    expect(error.code).toBe('unreachable');
    expect(error.message).toBe(`Cannot reach 127.0.0.1:${port}: connection refused`);
  });

  it('a server that never answers → timeout after the connect/headers timeout', async () => {
    const error = await pullFailure({
      url: `${base}/stall/headers.gguf`,
      destDir: dir,
      timeouts: SHORT,
    });
    expect(error.code).toBe('timeout');
    expect(error.message).toBe(`${host} accepted the connection but sent no response within 0.3 s`);
    expect(existsSync(join(dir, 'headers.gguf'))).toBe(false);
  });

  it('a body that stops → timeout after the idle timeout; the partial is kept and resumed', async () => {
    const error = await pullFailure({
      url: `${base}/stall/body.gguf`,
      destDir: dir,
      sha256: SHA,
      timeouts: SHORT,
    });
    expect(error.code).toBe('timeout');
    expect(error.message).toMatch(
      new RegExp(
        `^The download from ${host} stalled: no data for 0\\.3 s after \\d+ of ${BODY.length} bytes; ` +
          'run the pull again to resume from ',
      ),
    );
    const partial = await stat(join(dir, 'body.gguf.partial'));
    expect(partial.size).toBeGreaterThan(0);

    seen.length = 0;
    const res = await pullModel({ url: `${base}/stall/body.gguf`, destDir: dir, sha256: SHA });
    expect(seen[0]?.range).toBe(`bytes=${partial.size}-`);
    expect(res).toMatchObject({ resumedFrom: partial.size, sha256: SHA, verified: 'sha256' });
  });

  it('abort keeps the partial for a later resume', async () => {
    const controller = new AbortController();
    breakNext = 0;
    let calls = 0;
    await expect(
      pullModel({
        url: `${base}/files/model.gguf`,
        destDir: dir,
        signal: controller.signal,
        onProgress: (b) => {
          if (b > 0 && ++calls === 1) controller.abort();
        },
      }),
    ).rejects.toMatchObject({ code: 'aborted' });
    const res = await pullModel({ url: `${base}/files/model.gguf`, destDir: dir });
    expect(res.sha256).toBe(SHA);
  });

  it('the hub endpoint: OI_HF_ENDPOINT, else HF_ENDPOINT, else huggingface.co', () => {
    expect(hubEndpoint({ OI_HF_ENDPOINT: 'http://a/', HF_ENDPOINT: 'http://b' })).toBe('http://a');
    expect(hubEndpoint({ HF_ENDPOINT: 'http://mirror.example/' })).toBe('http://mirror.example');
    expect(hubEndpoint({})).toBe('https://huggingface.co');
    expect(resolveModelRef('o/r/m.gguf', { HF_ENDPOINT: 'http://mirror.example' }).url).toBe(
      'http://mirror.example/o/r/resolve/main/m.gguf',
    );
  });

  it('download timeouts come from the environment, in seconds', () => {
    expect(downloadTimeouts({})).toEqual({ connectMs: 30_000, idleMs: 60_000 });
    expect(
      downloadTimeouts({
        OI_DOWNLOAD_CONNECT_TIMEOUT_SECONDS: '2.5',
        OI_DOWNLOAD_IDLE_TIMEOUT_SECONDS: '120',
      }),
    ).toEqual({ connectMs: 2_500, idleMs: 120_000 });
    expect(() => downloadTimeouts({ OI_DOWNLOAD_IDLE_TIMEOUT_SECONDS: 'soon' })).toThrow(
      "OI_DOWNLOAD_IDLE_TIMEOUT_SECONDS: 'soon' is not a positive number of seconds",
    );
  });

  it('Hugging Face refs: OI_HF_ENDPOINT, redirect and x-linked-etag', async () => {
    const ref = resolveModelRef('owner/repo/Model-Q4.gguf', { OI_HF_ENDPOINT: `${base}/` });
    expect(ref).toEqual({
      url: `${base}/owner/repo/resolve/main/Model-Q4.gguf`,
      fileName: 'Model-Q4.gguf',
      source: 'huggingface',
      repo: 'owner/repo',
      revision: 'main',
    });
    const res = await pullModel({ url: ref.url, destDir: dir });
    expect(res.verified).toBe('etag');
    expect(res.path).toBe(join(dir, 'Model-Q4.gguf'));
    expect(seen.map((s) => s.path)).toEqual([
      '/owner/repo/resolve/main/Model-Q4.gguf',
      '/cdn/blob-xyz',
    ]);
  });

  it('progress bar helper renders to a stream', async () => {
    let out = '';
    const stream = new Writable({
      write(chunk, _enc, cb) {
        out += String(chunk);
        cb();
      },
    });
    Object.assign(stream, {
      isTTY: true,
      columns: 120,
      cursorTo: () => true,
      clearLine: () => true,
      moveCursor: () => true,
    });
    const bar = createProgressBar({ label: 'model.gguf', stream });
    await pullModel({ url: `${base}/files/model.gguf`, destDir: dir, onProgress: bar.onProgress });
    bar.stop();
    expect(out).toContain('model.gguf');
    expect(out).toContain('100%');
  });
});

describe('model refs and the models directory', () => {
  it('resolves URLs and Hugging Face references', () => {
    expect(resolveModelRef('https://example.com/a/b/x.gguf?download=1', {})).toMatchObject({
      url: 'https://example.com/a/b/x.gguf?download=1',
      fileName: 'x.gguf',
      source: 'url',
    });
    expect(resolveModelRef(DEFAULT_MODEL.ref, {}).url).toBe(DEFAULT_MODEL.url);
    expect(resolveModelRef('hf:org/repo@v2/sub/dir/m.gguf', {})).toMatchObject({
      url: 'https://huggingface.co/org/repo/resolve/v2/sub/dir/m.gguf',
      fileName: 'm.gguf',
      revision: 'v2',
    });
    expect(() => resolveModelRef('just-a-name', {})).toThrow(/Unrecognised model reference/);
    expect(() => resolveModelRef('org/repo', {})).toThrow(/Unrecognised/);
  });

  it('defaultModelsDir follows OI_MODELS_DIR, then XDG_DATA_HOME, then ~/.local/share', () => {
    expect(defaultModelsDir({ OI_MODELS_DIR: '/m' })).toBe('/m');
    expect(defaultModelsDir({ XDG_DATA_HOME: '/xdg' })).toBe('/xdg/open-interactions/models');
    expect(defaultModelsDir({ HOME: '/home/u' })).toBe(
      '/home/u/.local/share/open-interactions/models',
    );
  });

  it('listModels lists .gguf files only', async () => {
    expect(await listModels(join(dir, 'nope'))).toEqual([]);
    await writeFile(join(dir, 'b.gguf'), 'bb');
    await writeFile(join(dir, 'a.gguf'), 'a');
    await writeFile(join(dir, 'c.gguf.partial'), 'ccc');
    await writeFile(join(dir, 'notes.txt'), 'x');
    const models = await listModels(dir);
    expect(models.map((m) => [m.name, m.size, m.path])).toEqual([
      ['a', 1, join(dir, 'a.gguf')],
      ['b', 2, join(dir, 'b.gguf')],
    ]);
  });

  it('sha256FromEtag accepts quoted / weak 64-hex etags only', () => {
    expect(sha256FromEtag(`W/"${SHA}"`)).toBe(SHA);
    expect(sha256FromEtag('"abc"')).toBeUndefined();
    expect(sha256FromEtag(null)).toBeUndefined();
  });

  it('ensureDefaultModel offline: tells exactly how to get a model', async () => {
    let error: unknown;
    try {
      await ensureDefaultModel({ offline: true, modelsDir: dir });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ModelNotAvailableError);
    const message = (error as Error).message;
    expect(message).toContain(join(dir, DEFAULT_MODEL.fileName));
    expect(message).toContain(`open-interactions models pull ${DEFAULT_MODEL.ref}`);
    expect(message).toContain('path:');
    expect(seen).toHaveLength(0);

    // with the file present, offline is fine
    await writeFile(join(dir, DEFAULT_MODEL.fileName), 'x');
    await expect(ensureDefaultModel({ offline: true, modelsDir: dir })).resolves.toBe(
      join(dir, DEFAULT_MODEL.fileName),
    );
  });

  it('the default model has a pinned SHA-256', () => {
    expect(DEFAULT_MODEL.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('ensureDefaultModel online downloads from OI_HF_ENDPOINT and checks the pinned SHA-256', async () => {
    const pinned = { ...DEFAULT_MODEL, sha256: SHA };
    const path = await ensureDefaultModel({
      modelsDir: dir,
      model: pinned,
      env: { OI_HF_ENDPOINT: base },
    });
    expect(path).toBe(join(dir, DEFAULT_MODEL.fileName));
    expect((await readFile(path)).equals(BODY)).toBe(true);
  });

  it('ensureDefaultModel refuses a file that differs from the pinned SHA-256, whatever the hub announces', async () => {
    // the fake hub announces the body's own digest in x-linked-etag; the pin in the code wins
    const error = await ensureDefaultModel({ modelsDir: dir, env: { OI_HF_ENDPOINT: base } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ModelNotAvailableError);
    const message = (error as Error).message;
    expect(message).toContain(
      `Could not download the default model ${DEFAULT_MODEL.fileName}: Checksum mismatch`,
    );
    expect(message).toContain(`expected sha256 ${DEFAULT_MODEL.sha256}, got ${SHA}`);
    expect(message).toContain('check that it serves this file');
    expect(existsSync(join(dir, DEFAULT_MODEL.fileName))).toBe(false);
    expect(existsSync(join(dir, `${DEFAULT_MODEL.fileName}.partial`))).toBe(false);
  });

  it('ensureDefaultModel failures say what happened and every way out', async () => {
    const stalled = { ...DEFAULT_MODEL, ref: 'stall/x/headers.gguf', fileName: 'headers.gguf' };
    // a fake hub whose resolve URL never answers: route it through the stall handler
    const error = await ensureDefaultModel({
      modelsDir: dir,
      model: stalled,
      env: { OI_HF_ENDPOINT: `${base}/stall-hub` },
      timeouts: SHORT,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ModelNotAvailableError);
    const message = (error as Error).message;
    expect(message).toContain('Could not download the default model headers.gguf: ');
    expect(message).toContain(`${host} accepted the connection but sent no response within 0.3 s`);
    for (const hint of [
      'run it again: a broken download resumes',
      'OI_DOWNLOAD_CONNECT_TIMEOUT_SECONDS (default 30)',
      'OI_DOWNLOAD_IDLE_TIMEOUT_SECONDS (default 60)',
      'set OI_HF_ENDPOINT (or HF_ENDPOINT)',
      'open-interactions models pull stall/x/headers.gguf',
      `(or put the file at ${join(dir, 'headers.gguf')})`,
      '`path:` in a llama-cpp model entry',
      'serve --offline',
    ])
      expect(message).toContain(hint);
  });

  it('the default embedding model: an immutable revision and a pinned SHA-256, also for models pull', () => {
    expect(DEFAULT_EMBEDDING_MODEL.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(resolveModelRef(DEFAULT_EMBEDDING_MODEL.ref, {})).toMatchObject({
      url: DEFAULT_EMBEDDING_MODEL.url,
      fileName: DEFAULT_EMBEDDING_MODEL.fileName,
      revision: 'f2068edd9b54f2a369549ccc71f70ed273a2a801',
    });
    expect(pinnedSha256(DEFAULT_EMBEDDING_MODEL.ref)).toBe(DEFAULT_EMBEDDING_MODEL.sha256);
    expect(pinnedSha256(DEFAULT_MODEL.ref)).toBe(DEFAULT_MODEL.sha256);
    expect(pinnedSha256('someone/else/x.gguf')).toBeUndefined();
  });

  it('the default embedding model offline: how to get it, or where a GGUF of your own goes', async () => {
    const error = await ensureDefaultModel({
      offline: true,
      modelsDir: dir,
      model: DEFAULT_EMBEDDING_MODEL,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ModelNotAvailableError);
    expect((error as Error).message).toBe(
      `No local embedding model found at ${join(dir, DEFAULT_EMBEDDING_MODEL.fileName)}.\n` +
        'To download the default embedding model (bge-small-en-v1.5-q8_0, MIT, about 37 MB), run:\n' +
        `  open-interactions models pull ${DEFAULT_EMBEDDING_MODEL.ref}\n` +
        'or use a GGUF file you already have by setting `path:` to it in a llama-cpp entry of ' +
        '`embedding_models:` of your config, e.g.\n' +
        '  path: /path/to/model.gguf',
    );
    expect(seen).toHaveLength(0);
  });

  it('the default embedding model downloads from OI_HF_ENDPOINT at its revision, resumes after a break, and is checked against the pin', async () => {
    const pinned = { ...DEFAULT_EMBEDDING_MODEL, sha256: SHA };
    const env = { OI_HF_ENDPOINT: base };
    breakNext = 100_000;
    const broken = await ensureDefaultModel({ modelsDir: dir, model: pinned, env }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(broken).toBeInstanceOf(ModelNotAvailableError);
    const message = (broken as Error).message;
    expect(message).toContain(
      `Could not download the default model ${DEFAULT_EMBEDDING_MODEL.fileName}: The download from ${host} was interrupted`,
    );
    for (const hint of [
      'run it again: a broken download resumes',
      `open-interactions models pull ${DEFAULT_EMBEDDING_MODEL.ref}`,
      '`path:` in a llama-cpp entry of `embedding_models:`',
      'serve --offline',
    ])
      expect(message).toContain(hint);

    const progress: number[] = [];
    const path = await ensureDefaultModel({
      modelsDir: dir,
      model: pinned,
      env,
      onProgress: (bytes) => progress.push(bytes),
    });
    expect(path).toBe(join(dir, DEFAULT_EMBEDDING_MODEL.fileName));
    expect((await readFile(path)).equals(BODY)).toBe(true);
    expect(seen.map((s) => [s.path, s.range])).toEqual([
      [EMBEDDING_PATH, undefined],
      [EMBEDDING_PATH, expect.stringMatching(/^bytes=\d+-$/)],
    ]);
    expect(progress[0]).toBeGreaterThan(0); // resumed, not from zero
    expect(progress.at(-1)).toBe(BODY.length);
  });

  it('the default embedding model is refused when the hub serves other bytes than the pin', async () => {
    const error = await ensureDefaultModel({
      modelsDir: dir,
      model: DEFAULT_EMBEDDING_MODEL,
      env: { OI_HF_ENDPOINT: base },
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as Error).message).toContain(
      `expected sha256 ${DEFAULT_EMBEDDING_MODEL.sha256}, got ${SHA}`,
    );
    expect(existsSync(join(dir, DEFAULT_EMBEDDING_MODEL.fileName))).toBe(false);
  });
});
