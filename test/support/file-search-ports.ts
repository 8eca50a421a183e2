/**
 * TEMPORARY (until src/models/embeddings and src/store/search-index land on main): minimal
 * stand-ins for File Search's embeddings and index, so the API and the ingestion lifecycle can be
 * tested now. The index writes real rows in the caller's transaction.
 */
import { sql, type Kysely } from 'kysely';
import { createHash } from 'node:crypto';
import type { FileSearchPorts } from '../../src/server.js';
import type {
  IndexedChunk,
  IndexedDocument,
  SearchIndex,
  SearchQuery,
} from '../../src/store/search-index/types.js';
import { openDatabase } from '../../src/store/database.js';

const DIMENSIONS = 8;

function vector(text: string): number[] {
  const digest = createHash('sha256').update(text).digest();
  return Array.from({ length: DIMENSIONS }, (_, i) => digest[i]! / 255);
}

export interface Gate {
  /** Embedding calls wait while the gate is closed. */
  close(): void;
  open(): void;
  /** Embedding calls made so far. */
  calls: number;
  /** Fail the next `n` calls. */
  failNext(n: number): void;
}

export async function temporaryPorts(
  databaseUrl: string,
): Promise<Omit<FileSearchPorts, 'reader'> & { gate: Gate }> {
  const db = openDatabase(databaseUrl).db as unknown as Kysely<unknown>;
  await sql`create table if not exists temp_chunks (project text, store_id text, document_id text, position integer, text text, page_number integer)`.execute(
    db,
  );
  let waiting: Promise<void> | undefined;
  let release = () => {};
  let failures = 0;
  const gate: Gate = {
    calls: 0,
    close() {
      waiting ??= new Promise<void>((r) => (release = r));
    },
    open() {
      release();
      waiting = undefined;
    },
    failNext(n) {
      failures = n;
    },
  };
  const index: SearchIndex = {
    async addDocument(document: IndexedDocument, chunks: IndexedChunk[], trx) {
      for (const c of chunks) {
        await sql`insert into temp_chunks values (${document.project}, ${document.storeId}, ${document.documentId}, ${c.position}, ${c.text}, ${c.pageNumber ?? null})`.execute(
          trx ?? db,
        );
      }
    },
    async removeDocument(project, storeId, documentId, trx) {
      await sql`delete from temp_chunks where project = ${project} and store_id = ${storeId} and document_id = ${documentId}`.execute(
        trx ?? db,
      );
    },
    async removeStore(project, storeId, trx) {
      await sql`delete from temp_chunks where project = ${project} and store_id = ${storeId}`.execute(
        trx ?? db,
      );
    },
    async search(_query: SearchQuery) {
      return [];
    },
    async countChunks(project, storeId) {
      const { rows } = await sql<{
        n: number | string;
      }>`select count(*) as n from temp_chunks where project = ${project} and store_id = ${storeId}`.execute(
        db,
      );
      return Number(rows[0]!.n);
    },
  };
  return {
    gate,
    index,
    embeddings: {
      resolve: (name) =>
        name === undefined || name === 'embed-test' ? { publicName: 'embed-test' } : undefined,
      async embedDocuments(_name, texts) {
        gate.calls++;
        await waiting;
        if (failures > 0) {
          failures--;
          throw new Error('upstream embeddings unavailable');
        }
        return texts.map(vector);
      },
    },
  };
}
