import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ApiError as SdkApiError,
  type GoogleGenAI,
  type ImportFileOperation,
  type UploadToFileSearchStoreOperation,
} from '@google/genai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_KINDS } from '../support/databases.js';
import {
  indexedChunks,
  startFileSearchHarness,
  type FileSearchHarness,
} from '../support/file-search.js';
import { KEY_B, type Harness } from '../support/harness.js';
import { makePdf } from '../support/pdf.js';

type AnyOperation = ImportFileOperation | UploadToFileSearchStoreOperation;

async function sdkError(promise: Promise<unknown>): Promise<{ status: number; message: string }> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof SdkApiError) return { status: err.status, message: err.message };
    throw err;
  }
  throw new Error('expected the SDK call to fail');
}

/** Polls an operation with the SDK, as a client does, until it is done. */
async function poll<T extends AnyOperation>(client: GoogleGenAI, operation: T): Promise<T> {
  let op = operation;
  for (let i = 0; !op.done; i++) {
    if (i > 3000) throw new Error(`operation ${op.name} is not done after 3000 polls`);
    await new Promise((r) => setTimeout(r, 20));
    op = (await client.operations.get({ operation: op })) as T;
  }
  return op;
}

describe.each(STORE_KINDS)('File Search stores through the official SDK (%s)', (store) => {
  let fs: FileSearchHarness;
  let h: Harness;
  let dir: string;
  beforeAll(async () => {
    fs = await startFileSearchHarness(store);
    h = fs.h;
    dir = mkdtempSync(join(tmpdir(), 'oi-file-search-'));
  });
  afterAll(async () => {
    await fs.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const counts = async (name: string) => {
    const s = await h.client().fileSearchStores.get({ name });
    return [
      s.activeDocumentsCount,
      s.pendingDocumentsCount,
      s.failedDocumentsCount,
      s.sizeBytes,
    ].map(Number);
  };

  it('creates a store, ingests text, Markdown, PDF and an imported file, lists, gets and deletes', async () => {
    const ai = h.client();
    const created = await ai.fileSearchStores.create({
      config: { displayName: 'Team handbook', embeddingModel: 'embed-test' },
    });
    expect(created).toEqual({
      name: expect.stringMatching(/^fileSearchStores\/team-handbook-[a-z0-9]{12}$/),
      displayName: 'Team handbook',
      embeddingModel: 'models/embed-test',
      createTime: expect.any(String),
      updateTime: expect.any(String),
      activeDocumentsCount: '0',
      pendingDocumentsCount: '0',
      failedDocumentsCount: '0',
      sizeBytes: '0',
    });
    const name = created.name!;
    expect(await ai.fileSearchStores.get({ name })).toEqual(created);

    // While the embeddings are held, every new document is pending.
    fs.embeddings.pause();
    const text = 'The office opens at eight. Badges are at the front desk.';
    const upText = await ai.fileSearchStores.uploadToFileSearchStore({
      fileSearchStoreName: name,
      file: new Blob([text], { type: 'text/plain' }),
      config: {
        displayName: 'hours.txt',
        customMetadata: [
          { key: 'team', stringValue: 'ops' },
          { key: 'year', numericValue: 2026 },
        ],
      },
    });
    expect(upText).toMatchObject({
      name: expect.stringMatching(
        new RegExp(`^${name}/upload/operations/[a-z0-9]{12}$`),
      ) as unknown as string,
      done: false,
      metadata: { stage: 'QUEUED', documentName: expect.stringMatching(/\/documents\/hours-txt-/) },
    });
    const markdown = '# Travel\n\nBook trains **two weeks** ahead.\n\n- receipts go to finance\n';
    const mdPath = join(dir, 'travel.md');
    writeFileSync(mdPath, markdown);
    const upMd = await ai.fileSearchStores.uploadToFileSearchStore({
      fileSearchStoreName: name,
      file: mdPath,
      config: { mimeType: 'text/markdown' },
    });
    const pdf = makePdf(
      ['Expenses are paid monthly.', 'Laptops are replaced every three years.'],
      'Policies',
    );
    const upPdf = await ai.fileSearchStores.uploadToFileSearchStore({
      fileSearchStoreName: name,
      file: new Blob([Buffer.from(pdf)], { type: 'application/pdf' }),
      config: {
        displayName: 'policies.pdf',
        chunkingConfig: { whiteSpaceConfig: { maxTokensPerChunk: 3, maxOverlapTokens: 1 } },
      },
    });
    const file = await ai.files.upload({
      file: new Blob(['Parking is free on weekends.'], { type: 'text/plain' }),
      config: { displayName: 'parking' },
    });
    const imported = await ai.fileSearchStores.importFile({
      fileSearchStoreName: name,
      fileName: file.name!,
      config: { customMetadata: [{ key: 'tags', stringListValue: { values: ['car', 'bike'] } }] },
    });
    expect(imported.name).toMatch(new RegExp(`^${name}/operations/[a-z0-9]{12}$`));
    expect(imported.done).toBe(false);
    const sizes = [text.length, markdown.length, pdf.length, 'Parking is free on weekends.'.length];
    expect(await counts(name)).toEqual([0, 4, 0, 0]);

    fs.embeddings.resume();
    const ops = [
      await poll(ai, upText),
      await poll(ai, upMd),
      await poll(ai, upPdf),
      await poll(ai, imported),
    ];
    for (const op of ops) {
      expect(op.error).toBeUndefined();
      expect(op.response).toEqual({
        parent: name,
        documentName: expect.stringMatching(new RegExp(`^${name}/documents/`)),
      });
      expect(op.metadata).toMatchObject({ stage: 'DONE' });
    }
    expect(await counts(name)).toEqual([4, 0, 0, sizes.reduce((a, b) => a + b)]);

    const docText = await ai.fileSearchStores.documents.get({
      name: ops[0]!.response!.documentName!,
    });
    expect(docText).toEqual({
      name: ops[0]!.response!.documentName,
      displayName: 'hours.txt',
      mimeType: 'text/plain',
      sizeBytes: String(text.length),
      state: 'STATE_ACTIVE',
      customMetadata: [
        { key: 'team', stringValue: 'ops' },
        { key: 'year', numericValue: 2026 },
      ],
      createTime: expect.any(String),
      updateTime: expect.any(String),
    });
    // A path upload is named after its file; an import after its file's display name.
    const docMd = await ai.fileSearchStores.documents.get({
      name: ops[1]!.response!.documentName!,
    });
    expect(docMd).toMatchObject({ displayName: 'travel.md', mimeType: 'text/markdown' });
    const docImported = await ai.fileSearchStores.documents.get({
      name: ops[3]!.response!.documentName!,
    });
    expect(docImported).toMatchObject({
      displayName: 'parking',
      customMetadata: [{ key: 'tags', stringListValue: { values: ['car', 'bike'] } }],
    });

    // Every document is indexed; the PDF in chunks of 3 words.
    const storeId = name.slice('fileSearchStores/'.length);
    const chunksBefore = await fs.index.countChunks('team-a', storeId);
    // 10 words of the PDF make 5 chunks of 3 words overlapping by 1; the others 1 each.
    expect(chunksBefore).toBe(3 + 5);
    const pdfId = ops[2]!.response!.documentName!.split('/').at(-1)!;
    const pdfChunks = (await indexedChunks(fs.rows, 'team-a', storeId)).filter(
      (c) => c.document_id === pdfId,
    );
    // Each chunk carries the page its first word is on.
    expect(pdfChunks.map((c) => [c.text, c.page_number])).toEqual([
      ['Expenses are paid', 1],
      ['paid monthly.\n\nLaptops', 1],
      ['Laptops are replaced', 2],
      ['replaced every three', 2],
      ['three years.', 2],
    ]);

    const listed: string[][] = [];
    const pager = await ai.fileSearchStores.documents.list({
      parent: name,
      config: { pageSize: 3 },
    });
    listed.push(pager.page.map((d) => d.name!));
    while (pager.hasNextPage()) listed.push((await pager.nextPage()).map((d) => d.name!));
    expect(listed.map((p) => p.length)).toEqual([3, 1]);
    expect(listed.flat().sort()).toEqual(ops.map((o) => o.response!.documentName!).sort());

    // An indexed document is only deleted with force (Google: "Cannot delete non-empty Document").
    const refused = await sdkError(ai.fileSearchStores.documents.delete({ name: docText.name! }));
    expect(refused.status).toBe(400);
    expect(refused.message).toMatch(/FAILED_PRECONDITION/);
    expect(refused.message).toMatch(/force/);
    await ai.fileSearchStores.documents.delete({ name: docText.name!, config: { force: true } });
    expect(
      (await sdkError(ai.fileSearchStores.documents.get({ name: docText.name! }))).status,
    ).toBe(404);
    expect(await counts(name)).toEqual([3, 0, 0, sizes.slice(1).reduce((a, b) => a + b)]);
    expect(await fs.index.countChunks('team-a', storeId)).toBeLessThan(chunksBefore);
    // Its operation can still be polled.
    expect((await ai.operations.get({ operation: ops[0]! })).done).toBe(true);

    const notEmpty = await sdkError(ai.fileSearchStores.delete({ name }));
    expect(notEmpty.status).toBe(400);
    expect(notEmpty.message).toMatch(/FAILED_PRECONDITION.*holds 3 documents/);
    await ai.fileSearchStores.delete({ name, config: { force: true } });
    expect((await sdkError(ai.fileSearchStores.get({ name }))).status).toBe(404);
    expect(await fs.index.countChunks('team-a', storeId)).toBe(0);
    expect((await sdkError(ai.operations.get({ operation: ops[1]! }))).status).toBe(404);
    // The imported file is the Files API's own and stays.
    expect((await ai.files.get({ name: file.name! })).state).toBe('ACTIVE');
  });

  it('lists stores with paging, newest first, and deletes an empty store without force', async () => {
    const ai = h.client({ key: KEY_B });
    const names: string[] = [];
    for (let i = 0; i < 5; i++) {
      names.push((await ai.fileSearchStores.create({ config: { displayName: `s${i}` } })).name!);
      await new Promise((r) => setTimeout(r, 2)); // distinct createTime
    }
    const pager = await ai.fileSearchStores.list({ config: { pageSize: 2 } });
    const pages = [pager.page.map((s) => s.displayName)];
    while (pager.hasNextPage()) pages.push((await pager.nextPage()).map((s) => s.displayName));
    expect(pages).toEqual([['s4', 's3'], ['s2', 's1'], ['s0']]);
    for (const name of names) await ai.fileSearchStores.delete({ name });
    const empty = await h.fetch('/v1beta/fileSearchStores', { key: KEY_B });
    expect(await empty.json()).toEqual({});
  });
});

describe.each(STORE_KINDS)('File Search isolation between projects (%s)', (store) => {
  let fs: FileSearchHarness;
  let h: Harness;
  beforeAll(async () => {
    fs = await startFileSearchHarness(store);
    h = fs.h;
  });
  afterAll(() => fs.close());

  it("project B can neither see, import into, upload into, delete nor poll project A's stores, documents and operations", async () => {
    const a = h.client();
    const storeA = (await a.fileSearchStores.create({ config: { displayName: 'a' } })).name!;
    const fileA = await a.files.upload({
      file: new Blob(['secret of team a'], { type: 'text/plain' }),
    });
    const upload = await poll(
      a,
      await a.fileSearchStores.uploadToFileSearchStore({
        fileSearchStoreName: storeA,
        file: new Blob(['alpha words'], { type: 'text/plain' }),
      }),
    );
    const imported = await poll(
      a,
      await a.fileSearchStores.importFile({ fileSearchStoreName: storeA, fileName: fileA.name! }),
    );
    const docA = upload.response!.documentName!;
    // An unfinished upload session of A's.
    const start = await h.fetch(`/upload/v1beta/${storeA}:uploadToFileSearchStore`, {
      method: 'POST',
      headers: {
        'x-goog-upload-protocol': 'resumable',
        'x-goog-upload-command': 'start',
        'x-goog-upload-header-content-length': '5',
        'x-goog-upload-header-content-type': 'text/plain',
      },
      body: '{}',
    });
    expect(start.status).toBe(200);
    const sessionA = new URL(start.headers.get('x-goog-upload-url')!);

    const b = h.client({ key: KEY_B });
    const storeB = (await b.fileSearchStores.create({ config: { displayName: 'b' } })).name!;
    const fileB = await b.files.upload({ file: new Blob(['b'], { type: 'text/plain' }) });
    const notFound = async (promise: Promise<unknown>) =>
      expect((await sdkError(promise)).status).toBe(404);

    await notFound(b.fileSearchStores.get({ name: storeA }));
    const listed: string[] = [];
    for await (const s of await b.fileSearchStores.list()) listed.push(s.name!);
    expect(listed).toEqual([storeB]);
    await notFound(b.fileSearchStores.delete({ name: storeA, config: { force: true } }));
    await notFound(
      b.fileSearchStores.importFile({ fileSearchStoreName: storeA, fileName: fileB.name! }),
    );
    // A's file is not B's to import, into B's own store either.
    const foreignFile = await sdkError(
      b.fileSearchStores.importFile({ fileSearchStoreName: storeB, fileName: fileA.name! }),
    );
    expect(foreignFile).toMatchObject({
      status: 404,
      message: expect.stringMatching(/fileName: file/),
    });
    await notFound(
      b.fileSearchStores.uploadToFileSearchStore({
        fileSearchStoreName: storeA,
        file: new Blob(['intrusion'], { type: 'text/plain' }),
      }),
    );
    // A's upload session, with B's key: chunk, query and cancel are all not found.
    for (const command of ['upload, finalize', 'query', 'cancel']) {
      const res = await h.fetch(sessionA.pathname + sessionA.search, {
        method: 'POST',
        key: KEY_B,
        headers: { 'x-goog-upload-command': command, 'x-goog-upload-offset': '0' },
        body: command === 'upload, finalize' ? 'bytes' : undefined,
      });
      expect({ command, status: res.status }).toEqual({ command, status: 404 });
    }
    // The session is not found at another store's path either, even with A's key.
    const elsewhere = await h.fetch(
      `/upload/v1beta/${storeB}:uploadToFileSearchStore${sessionA.search}`,
      { method: 'POST', headers: { 'x-goog-upload-command': 'query' } },
    );
    expect(elsewhere.status).toBe(404);
    await notFound(b.fileSearchStores.documents.list({ parent: storeA }));
    await notFound(b.fileSearchStores.documents.get({ name: docA }));
    await notFound(b.fileSearchStores.documents.delete({ name: docA, config: { force: true } }));
    await notFound(b.operations.get({ operation: upload }));
    await notFound(b.operations.get({ operation: imported }));

    // Nothing of A's changed.
    const after = await a.fileSearchStores.get({ name: storeA });
    expect([after.activeDocumentsCount, after.pendingDocumentsCount]).toEqual(['2', '0']);
    expect((await a.fileSearchStores.documents.get({ name: docA })).state).toBe('STATE_ACTIVE');
    const finish = await h.fetch(sessionA.pathname + sessionA.search, {
      method: 'POST',
      headers: { 'x-goog-upload-command': 'upload, finalize', 'x-goog-upload-offset': '0' },
      body: 'hello',
    });
    expect(finish.headers.get('x-goog-upload-status')).toBe('final');
    expect(await finish.json()).toMatchObject({
      name: expect.stringContaining(`${storeA}/upload/operations/`),
    });
  });
});
