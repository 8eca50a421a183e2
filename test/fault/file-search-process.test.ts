/**
 * SIGKILL during File Search ingestion, on real server processes: after a restart (or, on
 * PostgreSQL, on another node once the dead node's leases expire) every document ends active or
 * failed, the store's counts are the table's, and the index holds chunks of active documents only.
 */
import { GoogleGenAI, type UploadToFileSearchStoreOperation } from '@google/genai';
import { sql, type Kysely } from 'kysely';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/database.js';
import { startChildServer, writeConfig, type ChildServer } from '../support/child-server.js';
import { STORE_KINDS, createTestDatabase, type TestDatabase } from '../support/databases.js';
import { startFakeEmbeddings, type FakeEmbeddings } from '../support/fake-embeddings.js';
import { embeddingModels, indexedChunks, orphanChunks } from '../support/file-search.js';
import { KEY_A } from '../support/harness.js';
import { makePdf } from '../support/pdf.js';

const client = (baseUrl: string) => new GoogleGenAI({ apiKey: KEY_A, httpOptions: { baseUrl } });

const words = (n: number, tag: string) =>
  Array.from({ length: n }, (_, i) => `${tag}${i}`).join(' ');

/** Five documents, one of them long (several embedding batches) and one that cannot be read. */
async function uploadDocuments(ai: GoogleGenAI, store: string) {
  const inputs: Array<[BlobPart, string]> = [
    [words(3_000, 'long'), 'text/plain'],
    [words(50, 'short'), 'text/plain'],
    [new Uint8Array(makePdf(['first page words', 'second page words'])), 'application/pdf'],
    ['# Notes\n\nsome markdown', 'text/markdown'],
    [Buffer.from('%PDF-1.4 not really'), 'application/pdf'],
  ];
  const ops: UploadToFileSearchStoreOperation[] = [];
  for (const [data, type] of inputs) {
    ops.push(
      await ai.fileSearchStores.uploadToFileSearchStore({
        fileSearchStoreName: store,
        file: new Blob([data], { type }),
      }),
    );
  }
  return ops;
}

async function pollAll(ai: GoogleGenAI, ops: UploadToFileSearchStoreOperation[]) {
  const done = [];
  for (let op of ops) {
    for (let i = 0; !op.done; i++) {
      if (i > 3_000) throw new Error(`operation ${op.name} is not done`);
      await new Promise((r) => setTimeout(r, 20));
      op = await ai.operations.get({ operation: op });
    }
    done.push(op);
  }
  return done;
}

interface DocumentRow {
  id: string;
  state: string;
  attempts: number;
  lease_owner: string | null;
}

const documentRows = async (rows: Kysely<unknown>) =>
  (
    await sql<DocumentRow>`select id, state, attempts, lease_owner from file_search_documents order by id`.execute(
      rows,
    )
  ).rows.map((r) => ({ ...r, attempts: Number(r.attempts) }));

/** What must hold after recovery, read from the tables and through the API. */
async function expectRecovered(ai: GoogleGenAI, rows: Kysely<unknown>, store: string) {
  const docs = await documentRows(rows);
  expect(docs).toHaveLength(5);
  for (const doc of docs) expect(['STATE_ACTIVE', 'STATE_FAILED']).toContain(doc.state);
  expect(docs.filter((d) => d.state === 'STATE_FAILED')).toHaveLength(1);
  const s = await ai.fileSearchStores.get({ name: store });
  expect([s.activeDocumentsCount, s.pendingDocumentsCount, s.failedDocumentsCount]).toEqual([
    '4',
    '0',
    '1',
  ]);
  expect(await orphanChunks(rows)).toBe(0);
  const storeId = store.split('/')[1]!;
  const chunks = await indexedChunks(rows, 'team-a', storeId);
  for (const doc of docs) {
    const mine = chunks.filter((c) => c.document_id === doc.id);
    if (doc.state === 'STATE_FAILED') expect(mine).toEqual([]);
    // Whole documents only: positions 0..n-1, each once.
    else expect(mine.map((c) => c.position)).toEqual(mine.map((_, i) => i));
  }
  // The long document: 3,000 words in chunks of 200 overlapping by 20 → 17 chunks.
  expect(new Set(chunks.map((c) => c.document_id)).size).toBe(4);
  expect(chunks.filter((c) => c.text.startsWith('long')).length).toBe(17);
}

/** Fake embeddings, a database, and child servers started on it with per-node configs. */
function crashRig(kind: 'sqlite' | 'postgres') {
  const rig = {
    db: undefined as unknown as TestDatabase,
    rows: undefined as unknown as Kysely<unknown>,
    embeddings: undefined as unknown as FakeEmbeddings,
    dir: '',
    children: [] as ChildServer[],
    config(node: string, leaseSeconds = 60) {
      return writeConfig(mkdtempSync(join(rig.dir, `${node}-`)), {
        server: { node_id: node, shutdown_grace_seconds: 5 },
        keys: [{ key: KEY_A, project: 'team-a' }],
        // No chat happens here; a configured model keeps the CLI from fetching its default.
        models: [
          { name: '*', backend: 'openai-compatible', base_url: rig.embeddings.url, model: 'm' },
        ],
        embedding_models: embeddingModels(rig.embeddings.url),
        // Small batches: the long document needs several embedding calls.
        file_search: { embed_batch_chunks: 4, lease_seconds: leaseSeconds },
      });
    },
    async start(configPath: string) {
      const child = await startChildServer(['--config', configPath, '--db', rig.db.url]);
      rig.children.push(child);
      return child;
    },
    /** Uploads, lets ingestion begin, and kills the node while it holds documents mid-way. */
    async killMidIngestion(first: ChildServer) {
      const ai = client(first.baseUrl);
      const { name } = await ai.fileSearchStores.create({ config: { displayName: 'crash' } });
      rig.embeddings.pause();
      const ops = await uploadDocuments(ai, name!);
      // Both ingestion slots are inside an embedding call (held): kill the node there.
      await rig.embeddings.waitForRequests(2);
      first.process.kill('SIGKILL');
      expect((await first.exited).signal).toBe('SIGKILL');
      const held = (await documentRows(rig.rows)).filter((d) => d.lease_owner !== null);
      expect(held).toHaveLength(2);
      for (const doc of held) expect(doc.state).toBe('STATE_PENDING');
      expect(await orphanChunks(rig.rows)).toBe(0);
      rig.embeddings.resume();
      return { name: name!, ops, held };
    },
  };
  beforeAll(async () => {
    rig.dir = mkdtempSync(join(tmpdir(), 'oi-fs-fault-'));
    rig.embeddings = await startFakeEmbeddings();
    rig.db = await createTestDatabase(kind);
    rig.rows = openDatabase(rig.db.url).db as unknown as Kysely<unknown>;
  });
  afterAll(async () => {
    for (const c of rig.children) c.process.kill('SIGKILL');
    await rig.embeddings.close();
    await rig.rows.destroy();
    await rig.db.drop();
    rmSync(rig.dir, { recursive: true, force: true });
  });
  return rig;
}

describe.each(STORE_KINDS)(
  'File Search ingestion when its server process dies or stops (%s)',
  (kind) => {
    const rig = crashRig(kind);

    it('restarted on the same store, the node ingests what it held again; every document ends active or failed', async () => {
      const configPath = rig.config('node-a');
      const { name, ops, held } = await rig.killMidIngestion(await rig.start(configPath));

      const second = await rig.start(configPath);
      expect(second.output()).toMatch(/resuming document ingestions interrupted by a restart/);
      const ai = client(second.baseUrl);
      const done = await pollAll(ai, ops);
      expect(done.filter((op) => op.error).map((op) => op.error!.message)).toEqual([
        expect.stringMatching(/PDF/),
      ]);
      await expectRecovered(ai, rig.rows, name);
      // The documents it held were taken again, once.
      const after = await documentRows(rig.rows);
      for (const doc of held) expect(after.find((d) => d.id === doc.id)!.attempts).toBe(2);

      second.process.kill('SIGTERM');
      expect((await second.exited).code).toBe(0);
    }, 180_000);

    it('SIGTERM gives the documents it was ingesting back at once, without counting the attempt', async () => {
      const configPath = rig.config('node-c');
      const first = await rig.start(configPath);
      const ai = client(first.baseUrl);
      const { name } = await ai.fileSearchStores.create({});
      rig.embeddings.pause();
      const before = rig.embeddings.requests.length;
      const op = await ai.fileSearchStores.uploadToFileSearchStore({
        fileSearchStoreName: name!,
        file: new Blob([words(500, 'term')], { type: 'text/plain' }),
      });
      await rig.embeddings.waitForRequests(before + 1);
      first.process.kill('SIGTERM');
      expect((await first.exited).code).toBe(0);
      const id = (op.metadata as { documentName: string }).documentName.split('/').at(-1)!;
      const row = (await documentRows(rig.rows)).find((d) => d.id === id)!;
      expect(row).toEqual({ id, state: 'STATE_PENDING', attempts: 0, lease_owner: null });
      rig.embeddings.resume();

      const second = await rig.start(configPath);
      const [done] = await pollAll(client(second.baseUrl), [op]);
      expect(done!.error).toBeUndefined();
      expect((await documentRows(rig.rows)).find((d) => d.id === id)!.attempts).toBe(1);
      second.process.kill('SIGTERM');
      expect((await second.exited).code).toBe(0);
    }, 180_000);
  },
);

describe('SIGKILL during File Search ingestion, two nodes on one PostgreSQL', () => {
  const rig = crashRig('postgres');

  it("another node takes the dead node's documents once their leases expire", async () => {
    const { name, ops, held } = await rig.killMidIngestion(
      await rig.start(rig.config('node-a', 3)),
    );
    const other = await rig.start(rig.config('node-b', 3));
    const ai = client(other.baseUrl);
    await pollAll(ai, ops);
    await expectRecovered(ai, rig.rows, name);
    const after = await documentRows(rig.rows);
    for (const doc of held) expect(after.find((d) => d.id === doc.id)!.attempts).toBe(2);
    other.process.kill('SIGTERM');
    expect((await other.exited).code).toBe(0);
  }, 180_000);
});
