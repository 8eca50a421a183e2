import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiError as SdkApiError, type File as SdkFile } from '@google/genai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import {
  STORE_KINDS,
  createTestDatabase,
  type StoreKind,
  type TestDatabase,
} from '../support/databases.js';
import { KEY_A, KEY_B, startHarness, type Harness } from '../support/harness.js';

const HOUR = 3_600_000;

/** What Google puts in `sha256Hash`: base64 of the lowercase hex digest. */
const googleSha = (bytes: Uint8Array) =>
  Buffer.from(createHash('sha256').update(bytes).digest('hex')).toString('base64');

async function sdkStatus(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof SdkApiError) return err.status;
    throw err;
  }
  throw new Error('expected the SDK call to fail');
}

describe.each(STORE_KINDS)('Files API through the official SDK (%s)', (store) => {
  let h: Harness;
  let now = Date.now();
  let dir: string;
  beforeAll(async () => {
    h = await startHarness({ store, clock: () => now });
    dir = mkdtempSync(join(tmpdir(), 'oi-files-sdk-'));
  });
  afterAll(async () => {
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('uploads a Blob and answers with the File resource as Google shapes it', async () => {
    const bytes = new TextEncoder().encode('hello, files');
    const file = await h.client().files.upload({
      file: new Blob([bytes], { type: 'text/plain' }),
      config: { displayName: 'greeting' },
    });
    expect(file.name).toMatch(/^files\/[a-z0-9]{12}$/);
    const id = file.name!.slice('files/'.length);
    expect(file).toEqual({
      name: `files/${id}`,
      displayName: 'greeting',
      mimeType: 'text/plain',
      sizeBytes: String(bytes.length),
      createTime: expect.any(String),
      updateTime: expect.any(String),
      expirationTime: expect.any(String),
      sha256Hash: googleSha(bytes),
      uri: `${h.baseUrl}/v1/files/${id}`,
      state: 'ACTIVE',
      source: 'UPLOADED',
    });
    expect(Date.parse(file.expirationTime!) - Date.parse(file.createTime!)).toBe(48 * HOUR);
    expect(await h.client().files.get({ name: file.name! })).toEqual(file);
    // The same file under /v1beta carries that version in its uri.
    const beta = await h.client({ apiVersion: 'v1beta' }).files.get({ name: file.name! });
    expect(beta.uri).toBe(`${h.baseUrl}/v1beta/files/${id}`);
  });

  it('takes the name a client chooses, once', async () => {
    const client = h.client();
    const file = await client.files.upload({
      file: new Blob(['x'], { type: 'text/plain' }),
      config: { name: 'my-notes-1' },
    });
    expect(file.name).toBe('files/my-notes-1');
    expect(file.uri).toBe(`${h.baseUrl}/v1/files/my-notes-1`);
    const again = client.files.upload({
      file: new Blob(['y'], { type: 'text/plain' }),
      config: { name: 'files/my-notes-1' },
    });
    await expect(again).rejects.toThrow(/file\.name: 'files\/my-notes-1' already exists/);
    // Names are per project: another project may use the same one.
    const other = await h.client({ key: KEY_B }).files.upload({
      file: new Blob(['z'], { type: 'text/plain' }),
      config: { name: 'my-notes-1' },
    });
    expect(other.name).toBe('files/my-notes-1');
    await h.client({ key: KEY_B }).files.delete({ name: other.name! });
  });

  it('uploads a file from a path in two chunks (over 8 MiB) with the bytes intact', async () => {
    const bytes = randomBytes(8 * 1024 * 1024 + 1000);
    const path = join(dir, 'scan.png');
    writeFileSync(path, bytes);
    const file = await h.client().files.upload({ file: path });
    expect(file).toMatchObject({
      mimeType: 'image/png',
      sizeBytes: String(bytes.length),
      sha256Hash: googleSha(bytes),
      state: 'ACTIVE',
    });
    expect(file.displayName).toBeUndefined();
  });

  it('lists with paging (pageSize 2 over 5 files), newest first, then deletes', async () => {
    const project = h.client({ key: KEY_B });
    const uploaded: SdkFile[] = [];
    for (let i = 0; i < 5; i++) {
      now += 1000; // distinct createTime, so "newest first" is observable
      uploaded.push(
        await project.files.upload({
          file: new Blob([`file ${i}`], { type: 'text/plain' }),
          config: { displayName: `f${i}` },
        }),
      );
    }
    const pager = await project.files.list({ config: { pageSize: 2 } });
    const pages = [pager.page.map((f) => f.displayName)];
    while (pager.hasNextPage()) {
      await pager.nextPage();
      pages.push(pager.page.map((f) => f.displayName));
    }
    expect(pages).toEqual([['f4', 'f3'], ['f2', 'f1'], ['f0']]);

    const all: string[] = [];
    for await (const f of await project.files.list({ config: { pageSize: 2 } })) all.push(f.name!);
    expect(all).toEqual(uploaded.map((f) => f.name).reverse());

    await project.files.delete({ name: uploaded[2]!.name! });
    expect(await sdkStatus(project.files.get({ name: uploaded[2]!.name! }))).toBe(404);
    expect(await sdkStatus(project.files.delete({ name: uploaded[2]!.name! }))).toBe(404);
    const left: string[] = [];
    for await (const f of await project.files.list({ config: { pageSize: 2 } }))
      left.push(f.displayName!);
    expect(left).toEqual(['f4', 'f3', 'f1', 'f0']);
  });
});

/** Starts a resumable upload the way the SDK does; returns the response. */
function startUpload(
  h: Harness,
  size: number | undefined,
  options: {
    headers?: Record<string, string>;
    body?: unknown;
    key?: string;
    version?: string;
  } = {},
) {
  return h.fetch(`/upload/${options.version ?? 'v1beta'}/files`, {
    method: 'POST',
    key: options.key,
    headers: {
      'x-goog-upload-protocol': 'resumable',
      'x-goog-upload-command': 'start',
      ...(size !== undefined ? { 'x-goog-upload-header-content-length': String(size) } : {}),
      'x-goog-upload-header-content-type': 'text/plain',
      ...options.headers,
    },
    body: JSON.stringify(options.body ?? { file: { displayName: 'notes' } }),
  });
}

/** The path and query of the upload URL a start response names. */
function uploadPath(res: Response): string {
  const url = new URL(res.headers.get('x-goog-upload-url')!);
  return url.pathname + url.search;
}

async function started(h: Harness, size: number, key?: string): Promise<string> {
  const res = await startUpload(h, size, { key });
  expect(res.status).toBe(200);
  return uploadPath(res);
}

/** One chunk as the SDK sends it (content-type application/json, sic). `key: null` sends none. */
function sendChunk(
  h: Harness,
  path: string,
  command: string,
  options: {
    bytes?: Buffer;
    offset?: number;
    key?: string | null;
    headers?: Record<string, string>;
  } = {},
) {
  return h.fetch(path, {
    method: 'POST',
    key: options.key,
    headers: {
      'x-goog-upload-command': command,
      ...(options.offset !== undefined ? { 'x-goog-upload-offset': String(options.offset) } : {}),
      ...options.headers,
    },
    ...(options.bytes ? { body: new Uint8Array(options.bytes) } : {}),
  });
}

async function errorOf(res: Response): Promise<{ code: number; status: string; message: string }> {
  return ((await res.json()) as { error: { code: number; status: string; message: string } }).error;
}

describe.each(STORE_KINDS)('the resumable upload protocol over HTTP (%s)', (store) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ store, config: { files: { max_file_bytes: 4096 } } });
  });
  afterAll(() => h.close());

  it('starts, uploads in chunks (one without a key, as Google allows), queries and finalizes', async () => {
    const bytes = randomBytes(300);
    const res = await startUpload(h, 300);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-goog-upload-status')).toBe('active');
    expect(res.headers.get('x-goog-upload-url')).toMatch(
      new RegExp(
        `^${h.baseUrl}/upload/v1beta/files\\?upload_id=[\\w-]{32}&upload_protocol=resumable$`,
      ),
    );
    const path = uploadPath(res);

    const first = await sendChunk(h, path, 'upload', { bytes: bytes.subarray(0, 100), offset: 0 });
    expect(first.status).toBe(200);
    expect(first.headers.get('x-goog-upload-status')).toBe('active');
    expect(first.headers.get('x-goog-upload-size-received')).toBe('100');

    const query = await sendChunk(h, path, 'query', { key: null });
    expect(query.headers.get('x-goog-upload-status')).toBe('active');
    expect(query.headers.get('x-goog-upload-size-received')).toBe('100');

    const last = await sendChunk(h, path, 'upload, finalize', {
      bytes: bytes.subarray(100),
      offset: 100,
      key: null,
    });
    expect(last.status).toBe(200);
    expect(last.headers.get('x-goog-upload-status')).toBe('final');
    const { file } = (await last.json()) as { file: SdkFile };
    expect(file).toMatchObject({
      displayName: 'notes',
      mimeType: 'text/plain',
      sizeBytes: '300',
      sha256Hash: googleSha(bytes),
      state: 'ACTIVE',
      uri: `${h.baseUrl}/v1beta/${file.name}`,
    });

    const after = await sendChunk(h, path, 'query');
    expect(after.headers.get('x-goog-upload-status')).toBe('final');
    expect(((await after.json()) as { file: SdkFile }).file.name).toBe(file.name);
    const again = await sendChunk(h, path, 'upload', { bytes: bytes.subarray(0, 1), offset: 300 });
    expect(again.status).toBe(400);
    expect((await errorOf(again)).message).toMatch(/^x-goog-upload-command: .*already finalized/);
  });

  it('discards a chunk whose connection dropped: query says where to resume, and the file is intact', async () => {
    const bytes = randomBytes(3000);
    const path = await started(h, 3000);
    expect(
      (await sendChunk(h, path, 'upload', { bytes: bytes.subarray(0, 1000), offset: 0 })).status,
    ).toBe(200);

    // The second chunk announces 2000 bytes, sends 700, and the connection dies.
    await new Promise<void>((resolve, reject) => {
      const url = new URL(h.baseUrl + path);
      const req = request({
        host: url.hostname,
        port: url.port,
        path,
        method: 'POST',
        headers: {
          'x-goog-api-key': KEY_A,
          'x-goog-upload-command': 'upload, finalize',
          'x-goog-upload-offset': '1000',
          'content-length': '2000',
        },
      });
      req.on('error', () => resolve());
      req.on('response', () => reject(new Error('the server answered a chunk it never got whole')));
      req.write(bytes.subarray(1000, 1700), () => {
        req.destroy();
        resolve();
      });
    });

    const query = await sendChunk(h, path, 'query');
    expect(query.headers.get('x-goog-upload-status')).toBe('active');
    expect(query.headers.get('x-goog-upload-size-received')).toBe('1000');
    const resumed = await sendChunk(h, path, 'upload, finalize', {
      bytes: bytes.subarray(1000),
      offset: 1000,
    });
    expect(resumed.status).toBe(200);
    const { file } = (await resumed.json()) as { file: SdkFile };
    expect(file.sha256Hash).toBe(googleSha(bytes));
    expect(file.sizeBytes).toBe('3000');
  });

  it('refuses a chunk at the wrong offset and keeps the session where it was', async () => {
    const path = await started(h, 200);
    const wrong = await sendChunk(h, path, 'upload', { bytes: randomBytes(50), offset: 50 });
    expect(wrong.status).toBe(400);
    expect(wrong.headers.get('x-goog-upload-status')).toBe('active');
    expect(wrong.headers.get('x-goog-upload-size-received')).toBe('0');
    expect(await errorOf(wrong)).toEqual({
      code: 400,
      status: 'INVALID_ARGUMENT',
      message:
        'x-goog-upload-offset: 50 does not match the 0 bytes received so far (send x-goog-upload-command: query to resume)',
    });
    const ok = await sendChunk(h, path, 'upload', { bytes: randomBytes(50), offset: 0 });
    expect(ok.headers.get('x-goog-upload-size-received')).toBe('50');
  });

  it('refuses a finalize whose total is not the declared size, and lets the client resume', async () => {
    const bytes = randomBytes(300);
    const path = await started(h, 300);
    const short = await sendChunk(h, path, 'upload, finalize', {
      bytes: bytes.subarray(0, 200),
      offset: 0,
    });
    expect(short.status).toBe(400);
    expect((await errorOf(short)).message).toBe(
      'x-goog-upload-command: finalize after 200 bytes, but the upload declared 300 (x-goog-upload-header-content-length)',
    );
    const query = await sendChunk(h, path, 'query');
    expect(query.headers.get('x-goog-upload-size-received')).toBe('0');
    const long = await sendChunk(h, path, 'upload, finalize', {
      bytes: randomBytes(400),
      offset: 0,
    });
    expect(long.status).toBe(400);
    expect((await errorOf(long)).message).toMatch(
      /^body: the chunk at offset 0 carries more than the 300 bytes left of the declared 300/,
    );
    const done = await sendChunk(h, path, 'upload, finalize', { bytes, offset: 0 });
    expect(done.status).toBe(200);
    expect(((await done.json()) as { file: SdkFile }).file.sha256Hash).toBe(googleSha(bytes));
  });

  it('refuses a file over the per-file limit with 413 naming the setting', async () => {
    const res = await startUpload(h, 5000);
    expect(res.status).toBe(413);
    expect((await errorOf(res)).message).toBe(
      'x-goog-upload-header-content-length: 5000 bytes is more than the limit of 4096 bytes per file (files.max_file_bytes)',
    );
  });

  it('names the missing or malformed header or field of every bad request', async () => {
    const cases: [Promise<Response>, number, string][] = [
      [
        h.fetch('/upload/v1beta/files', { method: 'POST', body: '{}' }),
        400,
        'x-goog-upload-protocol: required (resumable, or raw for a single request)',
      ],
      [
        startUpload(h, 10, { headers: { 'x-goog-upload-protocol': 'multipart' } }),
        400,
        "x-goog-upload-protocol: 'multipart' is not supported (use resumable or raw)",
      ],
      [
        startUpload(h, 10, { headers: { 'x-goog-upload-command': 'upload' } }),
        400,
        'x-goog-upload-command: a resumable upload begins with start (then send the bytes to the x-goog-upload-url it returns)',
      ],
      [
        startUpload(h, undefined),
        400,
        'x-goog-upload-header-content-length: required (the size of the file in bytes)',
      ],
      [
        startUpload(h, 12, { headers: { 'x-goog-upload-header-content-length': '12kb' } }),
        400,
        "x-goog-upload-header-content-length: expected a byte count, got '12kb'",
      ],
      [startUpload(h, 0), 400, 'x-goog-upload-header-content-length: the file is empty'],
      [
        startUpload(h, 10, { headers: { 'x-goog-upload-header-content-type': '' } }),
        400,
        "x-goog-upload-header-content-type: required (the file's MIME type), or file.mimeType",
      ],
      [
        startUpload(h, 10, { body: { file: { sizeBytes: '11' } } }),
        400,
        'file.sizeBytes: 11 does not match x-goog-upload-header-content-length 10',
      ],
      [
        startUpload(h, 10, { body: { file: { displayName: 'x', colour: 'red' } } }),
        400,
        'file.colour: unknown field',
      ],
      [
        startUpload(h, 10, { body: { file: { name: 'files/Not_Valid' } } }),
        400,
        "file.name: 'files/Not_Valid' is not a valid name (files/ then up to 40 lowercase letters, digits or dashes, no dash at either end)",
      ],
      [
        startUpload(h, 10, { body: { file: { mimeType: 'text' } } }),
        400,
        "file.mimeType: 'text' is not a MIME type",
      ],
    ];
    for (const [pending, status, message] of cases) {
      const res = await pending;
      expect({ status: res.status, message: (await errorOf(res)).message }).toEqual({
        status,
        message,
      });
    }

    const path = await started(h, 10);
    const chunkCases: [Promise<Response>, number, string][] = [
      [
        sendChunk(h, path, '', { bytes: randomBytes(10), offset: 0 }),
        400,
        'x-goog-upload-command: required (upload, "upload, finalize", query or cancel)',
      ],
      [
        sendChunk(h, path, 'upload', { bytes: randomBytes(10) }),
        400,
        'x-goog-upload-offset: required (the byte offset this chunk starts at)',
      ],
      [
        sendChunk(h, path, 'upload', {
          bytes: randomBytes(10),
          headers: { 'x-goog-upload-offset': '-1' },
        }),
        400,
        "x-goog-upload-offset: expected a byte offset, got '-1'",
      ],
      [
        sendChunk(h, path, 'rewind', { offset: 0 }),
        400,
        `x-goog-upload-command: 'rewind' is not one of upload, "upload, finalize", finalize, query, cancel`,
      ],
      [
        sendChunk(
          h,
          '/upload/v1beta/files?upload_id=nosuchupload&upload_protocol=resumable',
          'query',
        ),
        404,
        'upload_id: no such upload session (it may have expired or been cancelled)',
      ],
    ];
    for (const [pending, status, message] of chunkCases) {
      const res = await pending;
      expect({ status: res.status, message: (await errorOf(res)).message }).toEqual({
        status,
        message,
      });
    }
  });

  it('cancels a session: its bytes go and later requests get 404', async () => {
    const path = await started(h, 100);
    await sendChunk(h, path, 'upload', { bytes: randomBytes(40), offset: 0 });
    const cancelled = await sendChunk(h, path, 'cancel');
    expect(cancelled.status).toBe(200);
    expect(cancelled.headers.get('x-goog-upload-status')).toBe('cancelled');
    expect((await sendChunk(h, path, 'query')).status).toBe(404);
  });

  it('accepts the single-request raw protocol', async () => {
    const bytes = randomBytes(64);
    const res = await h.fetch('/upload/v1/files', {
      method: 'POST',
      headers: { 'x-goog-upload-protocol': 'raw', 'content-type': 'image/png' },
      body: bytes,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-goog-upload-status')).toBe('final');
    const { file } = (await res.json()) as { file: SdkFile };
    expect(file).toMatchObject({
      mimeType: 'image/png',
      sizeBytes: '64',
      sha256Hash: googleSha(bytes),
    });
    expect(file.uri).toBe(`${h.baseUrl}/v1/${file.name}`);
  });
});

describe.each(STORE_KINDS)('project limits on files (%s)', (store) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      store,
      config: { files: { max_project_files: 2, max_project_bytes: 1500 } },
    });
  });
  afterAll(() => h.close());

  it('counts files and unfinished uploads against the project, with 429 naming the limit', async () => {
    const first = await started(h, 500);
    await sendChunk(h, first, 'upload, finalize', { bytes: randomBytes(500), offset: 0 });
    const second = await started(h, 900); // unfinished: counts all the same
    const third = await startUpload(h, 10);
    expect(third.status).toBe(429);
    expect((await errorOf(third)).message).toBe(
      'files: the project holds 2 files (with unfinished uploads), the limit is 2 (files.max_project_files); delete files or let them expire',
    );
    // Another project is not affected.
    expect((await startUpload(h, 10, { key: KEY_B })).status).toBe(200);

    await sendChunk(h, second, 'cancel');
    const big = await startUpload(h, 1001);
    expect(big.status).toBe(429);
    expect((await errorOf(big)).message).toBe(
      'files: the project holds 500 bytes (with unfinished uploads); 1001 more would pass the limit of 1500 bytes (files.max_project_bytes)',
    );
    expect((await startUpload(h, 1000)).status).toBe(200);
  });
});

/** How many blobs of uploaded bytes the store holds (the directory beside SQLite, or PostgreSQL rows). */
async function storedBlobs(h: Harness, store: StoreKind): Promise<number> {
  if (store === 'sqlite') {
    const dir = `${h.db.url.slice('sqlite:'.length)}.files/files`;
    return existsSync(dir) ? readdirSync(dir).length : 0;
  }
  const client = new pg.Client({ connectionString: h.db.url });
  await client.connect();
  try {
    const { rows } = await client.query('select count(distinct blob_key) as n from blob_chunks');
    return Number(rows[0].n);
  } finally {
    await client.end();
  }
}

const PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

/** The scripted upstream as a backend that also takes documents (text/plain arrives as text). */
const withDocuments = (upstreamUrl: string) => ({
  models: [
    {
      name: 'gemini-*',
      backend: 'openai-compatible',
      base_url: upstreamUrl,
      model: 'upstream-model',
      input_modalities: ['text', 'image', 'document'],
    },
  ],
});

describe.each(STORE_KINDS)(
  'files belong to one project, expire, and feed interactions (%s)',
  (store) => {
    let h: Harness;
    let now = Date.now();
    beforeAll(async () => {
      h = await startHarness({ store, clock: () => now, config: withDocuments });
    });
    afterAll(() => h.close());

    it('hides a file from every other project: get, download, list, delete, upload chunks, interactions', async () => {
      const a = h.client();
      const b = h.client({ key: KEY_B });
      const file = await a.files.upload({ file: new Blob(['secret'], { type: 'text/plain' }) });
      const id = file.name!.slice('files/'.length);

      expect(await sdkStatus(b.files.get({ name: file.name! }))).toBe(404);
      expect(await sdkStatus(b.files.delete({ name: file.name! }))).toBe(404);
      const listed: string[] = [];
      for await (const f of await b.files.list()) listed.push(f.name!);
      expect(listed).not.toContain(file.name);
      const download = await h.fetch(`/v1beta/files/${id}:download?alt=media`, { key: KEY_B });
      expect(download.status).toBe(404);
      expect(await errorOf(download)).toEqual({
        code: 404,
        status: 'NOT_FOUND',
        message: `file 'files/${id}' not found`,
      });
      // Project A itself may not download an uploaded file either (as with Google).
      expect((await h.fetch(`/v1beta/files/${id}:download?alt=media`)).status).toBe(400);

      const path = await started(h, 10);
      const foreign = await sendChunk(h, path, 'upload', {
        bytes: randomBytes(10),
        offset: 0,
        key: KEY_B,
      });
      expect(foreign.status).toBe(404);

      for (const uri of [file.uri!, file.name!]) {
        const res = await h.fetch('/v1beta/interactions', {
          method: 'POST',
          key: KEY_B,
          body: JSON.stringify({
            model: 'gemini-3.5-flash',
            input: [
              { type: 'text', text: 'What does it say?' },
              { type: 'document', uri, mime_type: 'text/plain' },
            ],
          }),
        });
        expect(res.status).toBe(404);
        expect((await errorOf(res)).message).toBe(`input[1].uri: file 'files/${id}' not found`);
      }
      expect((await a.files.get({ name: file.name! })).state).toBe('ACTIVE');
    });

    it('gives the model the bytes of a stored file, by uri or by name, and again on the next turn', async () => {
      const client = h.client();
      const image = await client.files.upload({
        file: new Blob([Buffer.from(PNG, 'base64')], { type: 'image/png' }),
      });
      const notes = await client.files.upload({
        file: new Blob(['The launch code is 0000.'], { type: 'text/plain' }),
        config: { displayName: 'notes.txt' },
      });
      const first = await client.interactions.create({
        model: 'gemini-3.5-flash',
        input: [
          { type: 'text', text: 'Describe these.' },
          { type: 'image', uri: image.uri! },
          { type: 'document', uri: notes.name!, mime_type: 'text/plain' },
        ],
      });
      expect(first.status).toBe('completed');
      const sent = h.upstream.requests.at(-1)!.messages[0]!.content as {
        type: string;
        text?: string;
        image_url?: { url: string };
      }[];
      expect(sent).toEqual([
        { type: 'text', text: 'Describe these.' },
        { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } },
        { type: 'text', text: 'The launch code is 0000.' },
      ]);
      // The stored input keeps the uri, not the bytes.
      const stored = await client.interactions.get(first.id);
      expect(JSON.stringify(stored.steps)).toContain(image.uri);
      expect(JSON.stringify(stored.steps)).not.toContain(PNG);

      const second = await client.interactions.create({
        model: 'gemini-3.5-flash',
        previous_interaction_id: first.id,
        input: 'And now?',
      });
      expect(second.status).toBe('completed');
      const history = h.upstream.requests.at(-1)!.messages[0]!.content as { type: string }[];
      expect(history.map((p) => p.type)).toEqual(['text', 'image_url', 'text']);

      // A file an earlier turn used that is gone now: the model is told, the turn still runs.
      await client.files.delete({ name: image.name! });
      const third = await client.interactions.create({
        model: 'gemini-3.5-flash',
        previous_interaction_id: second.id,
        input: 'Still there?',
      });
      expect(third.status).toBe('completed');
      const later = h.upstream.requests.at(-1)!.messages[0]!.content as {
        type: string;
        text?: string;
      }[];
      expect(later[1]).toEqual({
        type: 'text',
        text: `[image ${image.uri} is no longer available]`,
      });
    });

    it('refuses files that together pass the per-interaction byte limit', async () => {
      const small = await startHarness({
        store,
        config: (url) => ({ ...withDocuments(url), files: { max_interaction_bytes: 100 } }),
      });
      try {
        const client = small.client();
        const a = await client.files.upload({
          file: new Blob([randomBytes(60)], { type: 'text/plain' }),
        });
        const b = await client.files.upload({
          file: new Blob([randomBytes(60)], { type: 'text/plain' }),
        });
        const res = await small.fetch('/v1beta/interactions', {
          method: 'POST',
          body: JSON.stringify({
            model: 'gemini-3.5-flash',
            input: [
              { type: 'document', uri: a.uri, mime_type: 'text/plain' },
              { type: 'document', uri: b.uri, mime_type: 'text/plain' },
            ],
          }),
        });
        expect(res.status).toBe(413);
        expect((await errorOf(res)).message).toBe(
          'input[1].uri: the files this interaction uses add up to more than 100 bytes (files.max_interaction_bytes)',
        );
      } finally {
        await small.close();
      }
    });

    it('expires files and unfinished uploads after 48 h; the sweep deletes their bytes', async () => {
      const client = h.client({ key: KEY_B });
      const file = await client.files.upload({
        file: new Blob(['short-lived'], { type: 'text/plain' }),
      });
      const pending = await started(h, 100, KEY_B);
      await sendChunk(h, pending, 'upload', { bytes: randomBytes(40), offset: 0, key: KEY_B });
      const before = await storedBlobs(h, store);
      expect(before).toBeGreaterThanOrEqual(2);

      now += 48 * HOUR - 1000;
      expect((await client.files.get({ name: file.name! })).state).toBe('ACTIVE');
      now += 2000;
      expect(await sdkStatus(client.files.get({ name: file.name! }))).toBe(404);
      const listed: string[] = [];
      for await (const f of await client.files.list()) listed.push(f.name!);
      expect(listed).not.toContain(file.name);
      expect((await sendChunk(h, pending, 'query', { key: KEY_B })).status).toBe(404);

      // Everything uploaded so far in this suite is older than 48 h now (rows without bytes too).
      expect(await h.server.files.sweep()).toBeGreaterThanOrEqual(before);
      expect(await storedBlobs(h, store)).toBe(0);
      expect(await h.server.files.sweep()).toBe(0);
    });
  },
);

describe('uploads across nodes on one PostgreSQL', () => {
  let db: TestDatabase;
  let a: Harness;
  let b: Harness;
  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    a = await startHarness({ store: 'postgres', db, config: { server: { node_id: 'node-a' } } });
    b = await startHarness({ store: 'postgres', db, config: { server: { node_id: 'node-b' } } });
  });
  afterAll(async () => {
    await a.close();
    await b.close();
    await db.drop();
  });

  it('takes the chunks of one upload on different nodes and serves the file from both', async () => {
    const bytes = randomBytes(5000);
    const path = await started(a, 5000);
    await sendChunk(a, path, 'upload', { bytes: bytes.subarray(0, 2000), offset: 0 });
    const query = await sendChunk(b, path, 'query');
    expect(query.headers.get('x-goog-upload-size-received')).toBe('2000');
    // Node B never saw the first chunk: it reads the stored bytes back to hash them.
    const last = await sendChunk(b, path, 'upload, finalize', {
      bytes: bytes.subarray(2000),
      offset: 2000,
    });
    expect(last.status).toBe(200);
    const { file } = (await last.json()) as { file: SdkFile };
    expect(file.sha256Hash).toBe(googleSha(bytes));
    expect((await a.client().files.get({ name: file.name! })).sha256Hash).toBe(googleSha(bytes));
  });
});

describe('a refused chunk that is still being sent', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ store: 'sqlite' });
  });
  afterAll(() => h.close());

  it('is answered at once, and over 16 MiB the connection closes instead of reading the rest', async () => {
    const answer = (length: number) =>
      new Promise<{ status: number; connection?: string }>((resolve, reject) => {
        const url = new URL(h.baseUrl);
        const req = request({
          host: url.hostname,
          port: url.port,
          path: '/upload/v1beta/files?upload_id=nosuchupload',
          method: 'POST',
          headers: {
            'x-goog-upload-command': 'upload',
            'x-goog-upload-offset': '0',
            'content-length': String(length),
          },
        });
        req.on('error', reject);
        req.on('response', (res) => {
          res.resume();
          resolve({ status: res.statusCode!, connection: res.headers.connection });
          req.destroy();
        });
        req.write(randomBytes(1000)); // and nothing more: only the answer can end this
      });
    expect(await answer(17 * 1024 * 1024)).toEqual({ status: 404, connection: 'close' });
    expect(await answer(2 * 1024 ** 3)).toEqual({ status: 404, connection: 'close' });
  });
});
