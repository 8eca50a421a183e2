import { UploadToFileSearchStoreOperation, type GoogleGenAI } from '@google/genai';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_KINDS, createTestDatabase, type TestDatabase } from '../support/databases.js';
import {
  orphanChunks,
  startFileSearchHarness,
  type FileSearchHarness,
} from '../support/file-search.js';
import type { Harness } from '../support/harness.js';
import { DOCX_TYPE, makeDocx } from '../support/docx.js';
import { makePdf } from '../support/pdf.js';

/** Polls an operation with the SDK until it is done. */
async function poll<T extends { done?: boolean; name?: string }>(
  client: GoogleGenAI,
  operation: T,
): Promise<T> {
  let op = operation;
  for (let i = 0; !op.done; i++) {
    if (i > 3000) throw new Error(`operation ${op.name} is not done after 3000 polls`);
    await new Promise((r) => setTimeout(r, 20));
    op = (await client.operations.get({ operation: op as never })) as unknown as T;
  }
  return op;
}

async function errorOf(res: Response): Promise<{ status: number; message: string }> {
  const text = await res.text();
  let message = text;
  try {
    message = (JSON.parse(text) as { error: { message: string } }).error.message;
  } catch {
    // not JSON: shown whole
  }
  return { status: res.status, message };
}

const LIMITS = { max_document_bytes: 64 * 1024, max_document_chunks: 20 };

describe.each(STORE_KINDS)('File Search bad input (%s)', (store) => {
  let fs: FileSearchHarness;
  let h: Harness;
  let storeName: string;
  beforeAll(async () => {
    fs = await startFileSearchHarness(store, { config: { file_search: LIMITS } });
    h = fs.h;
    storeName = (await h.client().fileSearchStores.create({ config: { displayName: 'bad' } }))
      .name!;
  });
  afterAll(() => fs.close());

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    h.fetch(path, {
      method: 'POST',
      headers,
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  const start = (
    body: unknown,
    headers: Record<string, string | undefined> = {},
    target = `/upload/v1beta/${storeName}:uploadToFileSearchStore`,
  ) => {
    const all: Record<string, string | undefined> = {
      'x-goog-upload-protocol': 'resumable',
      'x-goog-upload-command': 'start',
      'x-goog-upload-header-content-length': '11',
      'x-goog-upload-header-content-type': 'text/plain',
      ...headers,
    };
    const sent = Object.fromEntries(
      Object.entries(all).filter((e): e is [string, string] => e[1] !== undefined),
    );
    return post(target, body, sent);
  };

  it('answers every malformed request with a clear error naming the field or header', async () => {
    const a = h.client();
    const png = await a.files.upload({
      file: new Blob([new Uint8Array([137, 80, 78, 71])], { type: 'image/png' }),
    });
    const big = await a.files.upload({
      file: new Blob(['x'.repeat(LIMITS.max_document_bytes + 1)], { type: 'text/plain' }),
    });
    const metadata = (n: number) =>
      Array.from({ length: n }, (_, i) => ({ key: `k${i}`, numericValue: i }));
    const chunking = (whiteSpaceConfig: object) => ({ chunkingConfig: { whiteSpaceConfig } });
    const cases: Array<[string, Promise<Response>, number, RegExp]> = [
      [
        'unknown embedding model',
        post('/v1beta/fileSearchStores', { embeddingModel: 'models/nope' }),
        400,
        /^embeddingModel: 'models\/nope' is not an embedding model of this server/,
      ],
      [
        'long display name',
        post('/v1beta/fileSearchStores', { displayName: 'x'.repeat(513) }),
        400,
        /^displayName: longer than 512 characters/,
      ],
      [
        'unknown field',
        post('/v1beta/fileSearchStores', { colour: 'red' }),
        400,
        /^colour: unknown field/,
      ],
      [
        'no size header',
        start({}, { 'x-goog-upload-header-content-length': undefined }),
        400,
        /^x-goog-upload-header-content-length: required/,
      ],
      [
        'empty file',
        start({}, { 'x-goog-upload-header-content-length': '0' }),
        400,
        /^x-goog-upload-header-content-length: the file is empty/,
      ],
      [
        'oversize',
        start({}, { 'x-goog-upload-header-content-length': '70000' }),
        413,
        /^x-goog-upload-header-content-length: 70000 bytes is more than the limit of 65536 bytes per document \(file_search\.max_document_bytes\)/,
      ],
      [
        'no type',
        start({}, { 'x-goog-upload-header-content-type': undefined }),
        400,
        /^x-goog-upload-header-content-type: required/,
      ],
      [
        'unsupported type',
        start({}, { 'x-goog-upload-header-content-type': 'image/png' }),
        400,
        /^x-goog-upload-header-content-type: File Search cannot read image\/png documents/,
      ],
      ['not a MIME type', start({ mimeType: 'text' }), 400, /^mimeType: 'text' is not a MIME type/],
      [
        'no protocol',
        start({}, { 'x-goog-upload-protocol': undefined }),
        400,
        /^x-goog-upload-protocol: required \(resumable\)/,
      ],
      [
        'no start',
        start({}, { 'x-goog-upload-command': 'upload' }),
        400,
        /^x-goog-upload-command: a resumable upload begins with start/,
      ],
      [
        'unknown store',
        start({}, {}, '/upload/v1beta/fileSearchStores/nope:uploadToFileSearchStore'),
        404,
        /^name: file search store 'fileSearchStores\/nope' not found/,
      ],
      [
        'unknown upload method',
        start({}, {}, `/upload/v1beta/${storeName}:uploadFile`),
        404,
        /no such route/,
      ],
      [
        '21 metadata entries',
        start({ customMetadata: metadata(21) }),
        400,
        /^customMetadata: more than 20 entries/,
      ],
      [
        'two values',
        start({
          customMetadata: [
            { key: 'a', stringValue: 'x' },
            { key: 'b', stringValue: 'y', numericValue: 1 },
          ],
        }),
        400,
        /^customMetadata\[1\]: needs exactly one of stringValue, numericValue, stringListValue \(got 2\)/,
      ],
      [
        'no value',
        start({ customMetadata: [{ key: 'a' }] }),
        400,
        /^customMetadata\[0\]: needs exactly one/,
      ],
      [
        'repeated key',
        start({
          customMetadata: [
            { key: 'a', stringValue: 'x' },
            { key: 'b', stringValue: 'y' },
            { key: 'a', numericValue: 2 },
          ],
        }),
        400,
        /^customMetadata\[2\]\.key: 'a' is given more than once/,
      ],
      [
        'empty key',
        start({ customMetadata: [{ key: '', stringValue: 'x' }] }),
        400,
        /^customMetadata\[0\]\.key: must not be empty/,
      ],
      [
        'numeric as string',
        start({ customMetadata: [{ key: 'n', numericValue: '3' }] }),
        400,
        /^customMetadata\[0\]\.numericValue: expected number, got string/,
      ],
      [
        'list of numbers',
        start({ customMetadata: [{ key: 'l', stringListValue: { values: [1] } }] }),
        400,
        /^customMetadata\[0\]\.stringListValue\.values\[0\]: expected string, got number/,
      ],
      [
        'zero tokens',
        start(chunking({ maxTokensPerChunk: 0 })),
        400,
        /^chunkingConfig\.whiteSpaceConfig\.maxTokensPerChunk: must be at least 1/,
      ],
      [
        'too many tokens',
        start(chunking({ maxTokensPerChunk: 513 })),
        400,
        /^chunkingConfig\.whiteSpaceConfig\.maxTokensPerChunk: must be at most 512/,
      ],
      [
        'fractional tokens',
        start(chunking({ maxTokensPerChunk: 2.5 })),
        400,
        /^chunkingConfig\.whiteSpaceConfig\.maxTokensPerChunk: expected int, got number/,
      ],
      [
        'overlap as large as the chunk',
        start(chunking({ maxTokensPerChunk: 10, maxOverlapTokens: 10 })),
        400,
        /^chunkingConfig\.whiteSpaceConfig\.maxOverlapTokens: must be less than maxTokensPerChunk \(10\)/,
      ],
      [
        'negative overlap',
        start(chunking({ maxOverlapTokens: -1 })),
        400,
        /^chunkingConfig\.whiteSpaceConfig\.maxOverlapTokens: must not be negative/,
      ],
      [
        'unknown chunking',
        start({ chunkingConfig: { fixedSize: {} } }),
        400,
        /^chunkingConfig\.fixedSize: unknown field/,
      ],
      [
        'import without fileName',
        post(`/v1beta/${storeName}:importFile`, {}),
        400,
        /^fileName: required field is missing/,
      ],
      [
        'import of no file',
        post(`/v1beta/${storeName}:importFile`, { fileName: 'files/nope' }),
        404,
        /^fileName: file 'files\/nope' not found/,
      ],
      [
        'import of a big file',
        post(`/v1beta/${storeName}:importFile`, { fileName: big.name }),
        413,
        /^fileName: 65537 bytes is more than the limit/,
      ],
      [
        'import of an image',
        post(`/v1beta/${storeName}:importFile`, { fileName: png.name }),
        400,
        /^fileName: File Search cannot read image\/png documents/,
      ],
      [
        'import with bad chunking',
        post(`/v1beta/${storeName}:importFile`, {
          fileName: png.name,
          ...chunking({ maxTokensPerChunk: 'ten' }),
        }),
        400,
        /^chunkingConfig\.whiteSpaceConfig\.maxTokensPerChunk: expected number, got string/,
      ],
      [
        'unknown store method',
        post(`/v1beta/${storeName}:compact`, {}),
        404,
        /unknown method ':compact'/,
      ],
      [
        'force that is no boolean',
        h.fetch(`/v1beta/${storeName}?force=maybe`, { method: 'DELETE' }),
        400,
        /^force: expected true or false, got 'maybe'/,
      ],
      [
        'negative page size',
        h.fetch('/v1beta/fileSearchStores?pageSize=-1'),
        400,
        /^pageSize: expected a non-negative integer/,
      ],
      [
        'forged page token',
        h.fetch(`/v1beta/${storeName}/documents?pageToken=abc`),
        400,
        /^pageToken: not a page token issued by this server/,
      ],
      [
        'bad store id',
        h.fetch('/v1beta/fileSearchStores/UPPER_case'),
        404,
        /^name: file search store 'fileSearchStores\/UPPER_case' not found/,
      ],
      [
        'unknown document',
        h.fetch(`/v1beta/${storeName}/documents/nope`),
        404,
        /^name: document '.*\/documents\/nope' not found/,
      ],
      [
        'unknown operation',
        h.fetch(`/v1beta/${storeName}/upload/operations/nope`),
        404,
        /^name: operation '.*\/upload\/operations\/nope' not found/,
      ],
    ];
    for (const [label, pending, status, message] of cases) {
      const got = await errorOf(await pending);
      expect({ label, status: got.status }).toEqual({ label, status });
      expect({ label, message: got.message }).toEqual({
        label,
        message: expect.stringMatching(message),
      });
    }
  });

  it('refuses bad chunks of an upload and keeps the session resumable', async () => {
    const res = await start({});
    const url = new URL(res.headers.get('x-goog-upload-url')!);
    const path = url.pathname + url.search;
    const chunk = (headers: Record<string, string>, body?: string) =>
      h.fetch(path, { method: 'POST', key: null, headers, body });
    const cases: Array<[Record<string, string>, string | undefined, RegExp]> = [
      [
        { 'x-goog-upload-command': 'upload', 'x-goog-upload-offset': '5' },
        'hello',
        /^x-goog-upload-offset: 5 does not match the 0 bytes received so far/,
      ],
      [{ 'x-goog-upload-command': 'upload' }, 'hello', /^x-goog-upload-offset: required/],
      [{ 'x-goog-upload-offset': '0' }, 'hello', /^x-goog-upload-command: required/],
      [
        { 'x-goog-upload-command': 'upload', 'x-goog-upload-offset': '0' },
        'hello world and more',
        /^body: the chunk at offset 0 carries more than the 11 bytes left/,
      ],
      [
        { 'x-goog-upload-command': 'upload, finalize', 'x-goog-upload-offset': '0' },
        'hello',
        /^x-goog-upload-command: finalize after 5 bytes, but the upload declared 11/,
      ],
    ];
    for (const [headers, body, message] of cases) {
      const got = await errorOf(await chunk(headers, body));
      expect(got).toEqual({ status: 400, message: expect.stringMatching(message) });
    }
    const query = await chunk({ 'x-goog-upload-command': 'query' });
    expect(query.headers.get('x-goog-upload-size-received')).toBe('0');
    const done = await chunk(
      { 'x-goog-upload-command': 'upload, finalize', 'x-goog-upload-offset': '0' },
      'hello world',
    );
    expect(done.headers.get('x-goog-upload-status')).toBe('final');
    const op = Object.assign(new UploadToFileSearchStoreOperation(), await done.json());
    expect((await poll(h.client(), op)).response?.documentName).toMatch(/\/documents\//);
  });

  it('ends documents it cannot read as STATE_FAILED with the reason; nothing of them is indexed', async () => {
    const ai = h.client();
    const { name } = await ai.fileSearchStores.create({ config: { displayName: 'failures' } });
    const storeId = name!.slice('fileSearchStores/'.length);
    const upload = (data: BlobPart, type: string, config: object = {}) =>
      ai.fileSearchStores.uploadToFileSearchStore({
        fileSearchStoreName: name!,
        file: new Blob([data], { type }),
        config,
      });
    const good = await poll(ai, await upload('a perfectly fine document', 'text/plain'));
    const pdf = makePdf(['fine']);
    const failing = {
      corruptPdf: await upload(
        Buffer.concat([pdf.subarray(0, 40), Buffer.alloc(400, 7)]),
        'application/pdf',
      ),
      emptyText: await upload(' \n\t \n', 'text/plain'),
      hugeText: await upload(
        Array.from({ length: 2_000 }, (_, i) => `word${i}`).join(' '),
        'text/plain',
        { chunkingConfig: { whiteSpaceConfig: { maxTokensPerChunk: 10, maxOverlapTokens: 0 } } },
      ),
      binary: await upload(new Uint8Array([0, 1, 2, 0, 255, 0, 3]), 'application/octet-stream'),
    };
    const reasons: Record<string, string> = {};
    for (const [label, op] of Object.entries(failing)) {
      const done = await poll(ai, op);
      expect(done.response).toBeUndefined();
      expect(done.metadata).toMatchObject({ stage: 'FAILED' });
      reasons[label] = String(done.error?.message);
      const doc = await ai.fileSearchStores.documents.get({
        name: (done.metadata as { documentName: string }).documentName,
      });
      expect(doc.state).toBe('STATE_FAILED');
      // A failed document has no chunks: it can be deleted without force.
      if (label === 'binary') await ai.fileSearchStores.documents.delete({ name: doc.name! });
    }
    expect(reasons).toEqual({
      corruptPdf: expect.stringMatching(/PDF/),
      emptyText: 'the document has no text to index',
      hugeText: expect.stringMatching(
        /^the document's text makes 200 chunks of 10 words; at most 20 are indexed per document \(file_search\.max_document_chunks\)$/,
      ),
      binary: expect.stringMatching(/unsupported/),
    });
    const counts = await ai.fileSearchStores.get({ name: name! });
    expect(counts).toMatchObject({
      activeDocumentsCount: '1',
      pendingDocumentsCount: '0',
      failedDocumentsCount: '3',
      sizeBytes: String('a perfectly fine document'.length),
    });
    expect(good.done).toBe(true);
    expect(await fs.index.countChunks('team-a', storeId)).toBe(1);
    expect(await orphanChunks(fs.rows)).toBe(0);
    expect((await h.fetch('/healthz', { key: null })).status).toBe(200);
  });
});

describe.each(STORE_KINDS)('File Search formats (%s)', (store) => {
  let fs: FileSearchHarness;
  let h: Harness;
  beforeAll(async () => {
    fs = await startFileSearchHarness(store);
    h = fs.h;
  });
  afterAll(() => fs.close());

  it('ingests HTML, JSON, CSV and DOCX (declared, and DOCX sniffed from octet-stream)', async () => {
    const ai = h.client();
    const { name } = await ai.fileSearchStores.create({});
    const docx = await makeDocx(['Minutes of the board', 'The budget was approved.']);
    const inputs: Array<[BlobPart, string]> = [
      [
        '<html><head><title>T</title></head><body><p>Holiday rules apply.</p></body></html>',
        'text/html',
      ],
      ['{"policy":"remote work","days":3}', 'application/json'],
      ['city,population\nOslo,700000\nBergen,290000\n', 'text/csv'],
      [docx, DOCX_TYPE],
      [docx, 'application/octet-stream'],
    ];
    for (const [data, type] of inputs) {
      const op = await poll(
        ai,
        await ai.fileSearchStores.uploadToFileSearchStore({
          fileSearchStoreName: name!,
          file: new Blob([data], { type }),
        }),
      );
      expect({ type, error: op.error }).toEqual({ type, error: undefined });
    }
    const s = await ai.fileSearchStores.get({ name: name! });
    expect([s.activeDocumentsCount, s.failedDocumentsCount]).toEqual(['5', '0']);
    expect(await fs.index.countChunks('team-a', name!.split('/')[1]!)).toBe(5);
  });
});

describe.each(STORE_KINDS)('File Search ingestion retries (%s)', (store) => {
  let fs: FileSearchHarness;
  let h: Harness;
  beforeAll(async () => {
    fs = await startFileSearchHarness(store, {
      config: { file_search: { retry_seconds: 0, max_attempts: 3 } },
    });
    h = fs.h;
  });
  afterAll(() => fs.close());

  const attempts = async (documentName: string) => {
    const id = documentName.split('/').at(-1)!;
    const { rows: found } = await sql<{
      attempts: number;
    }>`select attempts from file_search_documents where id = ${id}`.execute(fs.rows);
    return Number(found[0]!.attempts);
  };

  it('retries a document whose embeddings failed, and fails it after max_attempts with the reason', async () => {
    const ai = h.client();
    const { name } = await ai.fileSearchStores.create({});
    const upload = () =>
      ai.fileSearchStores.uploadToFileSearchStore({
        fileSearchStoreName: name!,
        file: new Blob(['embedding backends come and go'], { type: 'text/plain' }),
      });
    // Refused calls (400) are not retried by the embedding client: each fails an attempt.
    fs.embeddings.failNext(400, 2);
    const recovered = await poll(ai, await upload());
    expect(recovered.error).toBeUndefined();
    expect(await attempts(recovered.response!.documentName!)).toBe(3);

    fs.embeddings.failNext(400, 3);
    const failed = await poll(ai, await upload());
    expect(failed.error).toEqual({
      code: 14,
      message: expect.stringMatching(/^embedding failed: .*scripted failure 400/),
    });
    const s = await ai.fileSearchStores.get({ name: name! });
    expect([s.activeDocumentsCount, s.failedDocumentsCount, s.pendingDocumentsCount]).toEqual([
      '1',
      '1',
      '0',
    ]);
  });
});

describe('File Search ingestion across nodes on one PostgreSQL', () => {
  let db: TestDatabase;
  const nodes: FileSearchHarness[] = [];
  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    for (const node of ['node-a', 'node-b']) {
      nodes.push(
        await startFileSearchHarness('postgres', {
          db,
          config: { server: { keepalive_seconds: 1, node_id: node } },
        }),
      );
    }
  });
  afterAll(async () => {
    for (const node of nodes) await node.close();
    await db.drop();
  });

  it('ingests each pending document on one node only', async () => {
    const [a, b] = nodes as [FileSearchHarness, FileSearchHarness];
    const ai = a.h.client();
    const { name } = await ai.fileSearchStores.create({});
    // Node A takes as many documents as it ingests at once (2) and is held there; node B, which
    // only learns of them by looking at the table, must take all the others.
    a.embeddings.pause();
    const ops = [];
    for (let i = 0; i < 6; i++) {
      ops.push(
        await ai.fileSearchStores.uploadToFileSearchStore({
          fileSearchStoreName: name!,
          file: new Blob([`document number ${i}`], { type: 'text/plain' }),
        }),
      );
    }
    await b.embeddings.waitForRequests(4);
    a.embeddings.resume();
    const reader = b.h.client();
    for (const op of ops) expect((await poll(reader, op)).error).toBeUndefined();
    expect([a.embeddings.requests.length, b.embeddings.requests.length]).toEqual([2, 4]);
    const { rows: docs } = await sql<{
      state: string;
      attempts: number;
      lease_owner: string | null;
    }>`select state, attempts, lease_owner from file_search_documents`.execute(a.rows);
    expect(docs).toHaveLength(6);
    for (const doc of docs) {
      expect(doc).toEqual({ state: 'STATE_ACTIVE', attempts: 1, lease_owner: null });
    }
  });
});
