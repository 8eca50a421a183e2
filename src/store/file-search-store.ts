/**
 * Rows of File Search (spec §9.3): stores, their documents, and the operations that ingest them.
 * The chunks of active documents live in the search index's own tables; this module never reads
 * them, it only hands its transaction to the index where a change must commit together with a
 * document's state (activation, deletion).
 *
 * Store counts (`activeDocumentsCount`, …, `sizeBytes`) are computed from the documents on every
 * read, not kept in counters: one GROUP BY over an index that covers it, and a count can never
 * drift from the rows it counts (a crash, a forced delete, two nodes finishing documents of one
 * store at once), nor make concurrent ingestions queue on one hot store row.
 *
 * Pending documents are the ingestion queue. A node takes one by setting a lease (owner, token,
 * expiry) in a transaction that skips rows other nodes hold (PostgreSQL `FOR UPDATE SKIP
 * LOCKED`; SQLite runs one transaction at a time); every later write of the ingestion names its
 * token, so a node that lost its lease (it stalled past the expiry and another node took the
 * document) cannot write over the new owner's work.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import type {
  CustomMetadataEntry,
  DocumentState,
  IngestionMetadata,
} from '../protocol/file-search.js';
import type { FileStatus } from '../protocol/files.js';
import type { DatabaseHandle, DatabaseKind } from './database.js';
import type { FileStore } from './file-store.js';
import { newestFirstPage, type ListCursor } from './newest-first.js';

interface StoresTable {
  project: string;
  id: string;
  display_name: string | null;
  embedding_model: string;
  embedding_dimensions: number | null;
  create_time: string;
  update_time: string;
}

interface DocumentsTable {
  project: string;
  store_id: string;
  id: string;
  display_name: string | null;
  mime_type: string;
  size_bytes: number | string;
  custom_metadata: string;
  chunking: string;
  state: string;
  error: string | null;
  blob_key: string | null;
  source_file: string | null;
  operation_id: string;
  create_time: string;
  update_time: string;
  lease_owner: string | null;
  lease_token: string | null;
  lease_expires: string | null;
  attempts: number;
}

interface OperationsTable {
  project: string;
  store_id: string;
  id: string;
  kind: string;
  document_id: string;
  done: number;
  error: string | null;
  metadata: string;
  create_time: string;
  update_time: string;
}

type Schema = {
  file_search_stores: StoresTable;
  file_search_documents: DocumentsTable;
  file_search_operations: OperationsTable;
};

export interface StoreRecord {
  project: string;
  id: string;
  displayName: string | null;
  /** The public name of the embedding model (what the registry resolves). */
  embeddingModel: string;
  /** Learnt from the first embeddings when the registry did not know it. */
  embeddingDimensions: number | null;
  createTime: string;
  updateTime: string;
}

export interface StoreCounts {
  active: number;
  pending: number;
  failed: number;
  /** Bytes of active documents. */
  sizeBytes: number;
}

export type StoreWithCounts = StoreRecord & { counts: StoreCounts };

export interface Chunking {
  maxTokensPerChunk: number;
  maxOverlapTokens: number;
}

export interface DocumentRecord {
  project: string;
  storeId: string;
  id: string;
  displayName: string | null;
  mimeType: string;
  sizeBytes: number;
  customMetadata: CustomMetadataEntry[];
  chunking: Chunking;
  state: DocumentState;
  error: FileStatus | null;
  /** Uploaded bytes, kept until the document is ingested. */
  blobKey: string | null;
  /** The Files API file an import reads (its id). */
  sourceFile: string | null;
  operationId: string;
  createTime: string;
  updateTime: string;
}

export type OperationKind = 'import' | 'upload';

export interface OperationRecord {
  project: string;
  storeId: string;
  id: string;
  kind: OperationKind;
  documentId: string;
  done: boolean;
  error: FileStatus | null;
  metadata: IngestionMetadata;
  createTime: string;
  updateTime: string;
}

/** A pending document a node holds the lease of, with what ingesting it needs of its store. */
export interface ClaimedDocument {
  document: DocumentRecord;
  store: StoreRecord;
  leaseToken: string;
  /** How many times a node has taken this document, this time included. */
  attempts: number;
}

/** Work done inside a transaction of this store (the search index's writes). */
export type InTransaction = (trx: Kysely<unknown>) => Promise<void>;

function storeFromRow(row: StoresTable): StoreRecord {
  return {
    project: row.project,
    id: row.id,
    displayName: row.display_name,
    embeddingModel: row.embedding_model,
    embeddingDimensions:
      row.embedding_dimensions === null ? null : Number(row.embedding_dimensions),
    createTime: row.create_time,
    updateTime: row.update_time,
  };
}

function documentFromRow(row: DocumentsTable): DocumentRecord {
  return {
    project: row.project,
    storeId: row.store_id,
    id: row.id,
    displayName: row.display_name,
    mimeType: row.mime_type,
    sizeBytes: Number(row.size_bytes),
    customMetadata: JSON.parse(row.custom_metadata) as CustomMetadataEntry[],
    chunking: JSON.parse(row.chunking) as Chunking,
    state: row.state as DocumentState,
    error: row.error ? (JSON.parse(row.error) as FileStatus) : null,
    blobKey: row.blob_key,
    sourceFile: row.source_file,
    operationId: row.operation_id,
    createTime: row.create_time,
    updateTime: row.update_time,
  };
}

function operationFromRow(row: OperationsTable): OperationRecord {
  return {
    project: row.project,
    storeId: row.store_id,
    id: row.id,
    kind: row.kind as OperationKind,
    documentId: row.document_id,
    done: Number(row.done) === 1,
    error: row.error ? (JSON.parse(row.error) as FileStatus) : null,
    metadata: JSON.parse(row.metadata) as IngestionMetadata,
    createTime: row.create_time,
    updateTime: row.update_time,
  };
}

function operationToRow(op: OperationRecord): OperationsTable {
  return {
    project: op.project,
    store_id: op.storeId,
    id: op.id,
    kind: op.kind,
    document_id: op.documentId,
    done: op.done ? 1 : 0,
    error: op.error ? JSON.stringify(op.error) : null,
    metadata: JSON.stringify(op.metadata),
    create_time: op.createTime,
    update_time: op.updateTime,
  };
}

const EMPTY_COUNTS: StoreCounts = { active: 0, pending: 0, failed: 0, sizeBytes: 0 };

export type DeleteOutcome =
  | { outcome: 'not_found' }
  | { outcome: 'not_empty'; documents: number }
  | { outcome: 'deleted'; blobKeys: string[] };

export class FileSearchStore {
  private readonly db: Kysely<Schema>;
  private readonly kind: DatabaseKind;

  constructor(
    handle: DatabaseHandle,
    private readonly files: FileStore,
  ) {
    // This module owns its tables; the shared DatabaseSchema describes the others.
    this.db = handle.db as unknown as Kysely<Schema>;
    this.kind = handle.kind;
  }

  /**
   * Locks a store row for the rest of the transaction (PostgreSQL): `share` while a document is
   * added (so the store cannot be deleted under it), `update` while the store is deleted.
   * SQLite runs one transaction at a time. Resolves false when the store does not exist.
   */
  private async lockStore(
    trx: Transaction<Schema>,
    project: string,
    id: string,
    mode: 'share' | 'update',
  ): Promise<boolean> {
    let query = trx
      .selectFrom('file_search_stores')
      .select('id')
      .where('project', '=', project)
      .where('id', '=', id);
    if (this.kind === 'postgres') query = mode === 'share' ? query.forShare() : query.forUpdate();
    return (await query.executeTakeFirst()) !== undefined;
  }

  async createStore(record: StoreRecord): Promise<void> {
    await this.db
      .insertInto('file_search_stores')
      .values({
        project: record.project,
        id: record.id,
        display_name: record.displayName,
        embedding_model: record.embeddingModel,
        embedding_dimensions: record.embeddingDimensions,
        create_time: record.createTime,
        update_time: record.updateTime,
      })
      .execute();
  }

  private async countsOf(
    project: string,
    ids: readonly string[],
  ): Promise<Map<string, StoreCounts>> {
    const counts = new Map<string, StoreCounts>(ids.map((id) => [id, { ...EMPTY_COUNTS }]));
    if (ids.length === 0) return counts;
    const rows = await this.db
      .selectFrom('file_search_documents')
      .select((eb) => [
        'store_id',
        'state',
        eb.fn.countAll<number | string>().as('n'),
        eb.fn.coalesce(eb.fn.sum<number | string>('size_bytes'), sql<number>`0`).as('bytes'),
      ])
      .where('project', '=', project)
      .where('store_id', 'in', ids)
      .groupBy(['store_id', 'state'])
      .execute();
    for (const row of rows) {
      const c = counts.get(row.store_id)!;
      const n = Number(row.n);
      if (row.state === 'STATE_ACTIVE') {
        c.active = n;
        c.sizeBytes = Number(row.bytes);
      } else if (row.state === 'STATE_PENDING') c.pending = n;
      else c.failed = n;
    }
    return counts;
  }

  async getStore(project: string, id: string): Promise<StoreWithCounts | undefined> {
    const row = await this.db
      .selectFrom('file_search_stores')
      .selectAll()
      .where('project', '=', project)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) return undefined;
    const counts = await this.countsOf(project, [id]);
    return { ...storeFromRow(row), counts: counts.get(id)! };
  }

  /** Up to `limit` stores of the project, newest first, after `cursor`, with their counts. */
  async listStores(
    project: string,
    limit: number,
    cursor?: ListCursor,
  ): Promise<StoreWithCounts[]> {
    const query = this.db
      .selectFrom('file_search_stores')
      .selectAll()
      .where('project', '=', project);
    const rows = await newestFirstPage(query, limit, cursor).execute();
    const counts = await this.countsOf(
      project,
      rows.map((r) => r.id),
    );
    return rows.map((row) => ({ ...storeFromRow(row), counts: counts.get(row.id)! }));
  }

  /**
   * Records the dimension of a store's embeddings the first time they are seen; resolves with the
   * dimension the store holds afterwards (an earlier one wins).
   */
  async settleDimensions(project: string, id: string, dimensions: number): Promise<number> {
    await this.db
      .updateTable('file_search_stores')
      .set({ embedding_dimensions: dimensions })
      .where('project', '=', project)
      .where('id', '=', id)
      .where('embedding_dimensions', 'is', null)
      .execute();
    const row = await this.db
      .selectFrom('file_search_stores')
      .select('embedding_dimensions')
      .where('project', '=', project)
      .where('id', '=', id)
      .executeTakeFirst();
    return row?.embedding_dimensions == null ? dimensions : Number(row.embedding_dimensions);
  }

  /**
   * Deletes a store. Without `force` a store that holds documents is refused; with it, its
   * documents and operations go too, and `removeIndex` (the index's rows) in the same transaction.
   * Returns the blob keys of documents not yet ingested (the caller deletes the bytes).
   */
  async deleteStore(
    project: string,
    id: string,
    force: boolean,
    removeIndex: InTransaction,
  ): Promise<DeleteOutcome> {
    return this.db.transaction().execute(async (trx): Promise<DeleteOutcome> => {
      if (!(await this.lockStore(trx, project, id, 'update'))) return { outcome: 'not_found' };
      const docs = await trx
        .selectFrom('file_search_documents')
        .select('blob_key')
        .where('project', '=', project)
        .where('store_id', '=', id)
        .execute();
      if (docs.length > 0 && !force) return { outcome: 'not_empty', documents: docs.length };
      await trx
        .deleteFrom('file_search_documents')
        .where('project', '=', project)
        .where('store_id', '=', id)
        .execute();
      await trx
        .deleteFrom('file_search_operations')
        .where('project', '=', project)
        .where('store_id', '=', id)
        .execute();
      await trx
        .deleteFrom('file_search_stores')
        .where('project', '=', project)
        .where('id', '=', id)
        .execute();
      await removeIndex(trx as unknown as Kysely<unknown>);
      return {
        outcome: 'deleted',
        blobKeys: docs.flatMap((d) => (d.blob_key ? [d.blob_key] : [])),
      };
    });
  }

  private documentRow(doc: DocumentRecord): DocumentsTable {
    return {
      project: doc.project,
      store_id: doc.storeId,
      id: doc.id,
      display_name: doc.displayName,
      mime_type: doc.mimeType,
      size_bytes: doc.sizeBytes,
      custom_metadata: JSON.stringify(doc.customMetadata),
      chunking: JSON.stringify(doc.chunking),
      state: doc.state,
      error: doc.error ? JSON.stringify(doc.error) : null,
      blob_key: doc.blobKey,
      source_file: doc.sourceFile,
      operation_id: doc.operationId,
      create_time: doc.createTime,
      update_time: doc.updateTime,
      lease_owner: null,
      lease_token: null,
      lease_expires: null,
      attempts: 0,
    };
  }

  private async insertDocument(
    trx: Transaction<Schema>,
    doc: DocumentRecord,
    op: OperationRecord,
  ): Promise<boolean> {
    if (!(await this.lockStore(trx, doc.project, doc.storeId, 'share'))) return false;
    await trx.insertInto('file_search_documents').values(this.documentRow(doc)).execute();
    await trx.insertInto('file_search_operations').values(operationToRow(op)).execute();
    return true;
  }

  /** A pending document and its operation (an import); false when the store is gone. */
  async addDocument(doc: DocumentRecord, op: OperationRecord): Promise<boolean> {
    return this.db.transaction().execute((trx) => this.insertDocument(trx, doc, op));
  }

  /**
   * Finishes an upload as a pending document in one transaction with marking the session final.
   * `'moved'` when the session moved on concurrently, `'no_store'` when the store was deleted.
   */
  async completeUploadAsDocument(
    uploadId: string,
    from: number,
    doc: DocumentRecord,
    op: OperationRecord,
    sessionExpiration: string,
  ): Promise<'created' | 'moved' | 'no_store'> {
    return this.db.transaction().execute(async (trx) => {
      const final = await this.files.markUploadFinal(
        trx as unknown as Kysely<unknown>,
        uploadId,
        from,
        {
          sizeBytes: doc.sizeBytes,
          result: `fileSearchStores/${doc.storeId}/upload/operations/${op.id}`,
          expirationTime: sessionExpiration,
        },
      );
      if (!final) return 'moved';
      if (!(await this.insertDocument(trx, doc, op))) {
        // Undo the session's change: the upload stays resumable until it is cancelled or expires.
        throw new StoreGoneError();
      }
      return 'created';
    });
  }

  async getDocument(
    project: string,
    storeId: string,
    id: string,
  ): Promise<DocumentRecord | undefined> {
    const row = await this.db
      .selectFrom('file_search_documents')
      .selectAll()
      .where('project', '=', project)
      .where('store_id', '=', storeId)
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? documentFromRow(row) : undefined;
  }

  async listDocuments(
    project: string,
    storeId: string,
    limit: number,
    cursor?: ListCursor,
  ): Promise<DocumentRecord[]> {
    const query = this.db
      .selectFrom('file_search_documents')
      .selectAll()
      .where('project', '=', project)
      .where('store_id', '=', storeId);
    const rows = await newestFirstPage(query, limit, cursor).execute();
    return rows.map(documentFromRow);
  }

  /**
   * Deletes a document. Without `force` an active one (it has chunks) is refused, as Google
   * refuses a non-empty document. Its operation stays (a client may still poll it).
   */
  async deleteDocument(
    project: string,
    storeId: string,
    id: string,
    force: boolean,
    removeIndex: InTransaction,
  ): Promise<DeleteOutcome> {
    return this.db.transaction().execute(async (trx): Promise<DeleteOutcome> => {
      let query = trx
        .selectFrom('file_search_documents')
        .select(['state', 'blob_key'])
        .where('project', '=', project)
        .where('store_id', '=', storeId)
        .where('id', '=', id);
      if (this.kind === 'postgres') query = query.forUpdate();
      const row = await query.executeTakeFirst();
      if (!row) return { outcome: 'not_found' };
      if (row.state === 'STATE_ACTIVE' && !force) return { outcome: 'not_empty', documents: 1 };
      await trx
        .deleteFrom('file_search_documents')
        .where('project', '=', project)
        .where('store_id', '=', storeId)
        .where('id', '=', id)
        .execute();
      if (row.state === 'STATE_ACTIVE') await removeIndex(trx as unknown as Kysely<unknown>);
      return { outcome: 'deleted', blobKeys: row.blob_key ? [row.blob_key] : [] };
    });
  }

  async getOperation(
    project: string,
    storeId: string,
    id: string,
    kind: OperationKind,
  ): Promise<OperationRecord | undefined> {
    const row = await this.db
      .selectFrom('file_search_operations')
      .selectAll()
      .where('project', '=', project)
      .where('store_id', '=', storeId)
      .where('id', '=', id)
      .where('kind', '=', kind)
      .executeTakeFirst();
    return row ? operationFromRow(row) : undefined;
  }

  /**
   * Takes up to `limit` pending documents whose lease is free (never taken, released, or expired
   * by `now`) for `owner` until `until`. Each gets its own token.
   */
  async claimDocuments(
    owner: string,
    now: string,
    until: string,
    limit: number,
    newToken: () => string,
  ): Promise<ClaimedDocument[]> {
    return this.db.transaction().execute(async (trx) => {
      let query = trx
        .selectFrom('file_search_documents')
        .selectAll()
        .where('state', '=', 'STATE_PENDING')
        .where((eb) => eb.or([eb('lease_expires', 'is', null), eb('lease_expires', '<=', now)]))
        .orderBy('create_time')
        .limit(limit);
      if (this.kind === 'postgres') query = query.forUpdate().skipLocked();
      const rows = await query.execute();
      const claimed: ClaimedDocument[] = [];
      for (const row of rows) {
        const token = newToken();
        await trx
          .updateTable('file_search_documents')
          .set({
            lease_owner: owner,
            lease_token: token,
            lease_expires: until,
            attempts: Number(row.attempts) + 1,
          })
          .where('project', '=', row.project)
          .where('store_id', '=', row.store_id)
          .where('id', '=', row.id)
          .execute();
        const store = await trx
          .selectFrom('file_search_stores')
          .selectAll()
          .where('project', '=', row.project)
          .where('id', '=', row.store_id)
          .executeTakeFirst();
        // A document outlives its store only inside a forced delete's transaction: skip it.
        if (!store) continue;
        claimed.push({
          document: documentFromRow(row),
          store: storeFromRow(store),
          leaseToken: token,
          attempts: Number(row.attempts) + 1,
        });
      }
      return claimed;
    });
  }

  /** Extends the leases `owner` still holds; resolves with the tokens that are still its own. */
  async renewLeases(owner: string, tokens: readonly string[], until: string): Promise<Set<string>> {
    if (tokens.length === 0) return new Set();
    const rows = await this.db
      .updateTable('file_search_documents')
      .set({ lease_expires: until })
      .where('lease_owner', '=', owner)
      .where('lease_token', 'in', tokens)
      .where('state', '=', 'STATE_PENDING')
      .returning('lease_token')
      .execute();
    return new Set(rows.map((r) => r.lease_token!));
  }

  /**
   * Gives a document back to the queue: another attempt may start at `notBefore` (null: at once).
   * An attempt that did not `count` (the server shut down) is not held against the document.
   */
  async releaseLease(token: string, notBefore: string | null, count: boolean): Promise<void> {
    await this.db
      .updateTable('file_search_documents')
      .set((eb) => ({
        lease_owner: null,
        lease_token: null,
        lease_expires: notBefore,
        attempts: count ? eb.ref('attempts') : eb('attempts', '-', 1),
      }))
      .where('lease_token', '=', token)
      .where('state', '=', 'STATE_PENDING')
      .execute();
  }

  /** Frees every lease `owner` held: at start-up, its earlier life's ingestions died with it. */
  async releaseOwnerLeases(owner: string): Promise<number> {
    const result = await this.db
      .updateTable('file_search_documents')
      .set({ lease_owner: null, lease_token: null, lease_expires: null })
      .where('lease_owner', '=', owner)
      .where('state', '=', 'STATE_PENDING')
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /** Writes an ingestion's progress into its operation, while the lease is the caller's. */
  async recordProgress(
    claim: ClaimedDocument,
    metadata: IngestionMetadata,
    now: string,
  ): Promise<boolean> {
    const { document: doc } = claim;
    const result = await this.db
      .updateTable('file_search_operations')
      .set({ metadata: JSON.stringify(metadata), update_time: now })
      .where('project', '=', doc.project)
      .where('store_id', '=', doc.storeId)
      .where('id', '=', doc.operationId)
      .where((eb) =>
        eb.exists(
          eb
            .selectFrom('file_search_documents')
            .select('id')
            .where('project', '=', doc.project)
            .where('store_id', '=', doc.storeId)
            .where('id', '=', doc.id)
            .where('lease_token', '=', claim.leaseToken)
            .where('state', '=', 'STATE_PENDING'),
        ),
      )
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /**
   * Ends an ingestion: the document becomes `state` (ACTIVE with `index` run in the same
   * transaction, or FAILED with `error`), its operation done. Only while the caller holds the
   * lease; false otherwise (the document was deleted or taken over, and nothing is written).
   * Resolves with the blob key whose bytes are no longer needed.
   */
  async finishDocument(
    claim: ClaimedDocument,
    outcome: { state: 'STATE_ACTIVE' | 'STATE_FAILED'; error?: FileStatus },
    metadata: IngestionMetadata,
    now: string,
    index?: InTransaction,
  ): Promise<{ finished: boolean; blobKey: string | null }> {
    return this.db.transaction().execute(async (trx) => {
      const result = await trx
        .updateTable('file_search_documents')
        .set({
          state: outcome.state,
          error: outcome.error ? JSON.stringify(outcome.error) : null,
          update_time: now,
          blob_key: null,
          lease_owner: null,
          lease_token: null,
          lease_expires: null,
        })
        .where('project', '=', claim.document.project)
        .where('store_id', '=', claim.document.storeId)
        .where('id', '=', claim.document.id)
        .where('state', '=', 'STATE_PENDING')
        .where('lease_token', '=', claim.leaseToken)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) !== 1) return { finished: false, blobKey: null };
      await trx
        .updateTable('file_search_operations')
        .set({
          done: 1,
          error: outcome.error ? JSON.stringify(outcome.error) : null,
          metadata: JSON.stringify(metadata),
          update_time: now,
        })
        .where('project', '=', claim.document.project)
        .where('store_id', '=', claim.document.storeId)
        .where('id', '=', claim.document.operationId)
        .execute();
      if (index) await index(trx as unknown as Kysely<unknown>);
      return { finished: true, blobKey: claim.document.blobKey };
    });
  }

  /** The keys among `keys` that neither a document nor an upload session owns. */
  async unownedBlobKeys(keys: readonly string[]): Promise<string[]> {
    if (keys.length === 0) return [];
    const documents = await this.db
      .selectFrom('file_search_documents')
      .select('blob_key')
      .where('blob_key', 'in', keys)
      .execute();
    const owned = new Set(documents.map((r) => r.blob_key));
    const unowned = keys.filter((k) => !owned.has(k));
    const sessions = new Set(await this.files.unownedBlobKeys(unowned));
    return unowned.filter((k) => sessions.has(k));
  }
}

/** The store of an upload was deleted before its last chunk arrived. */
export class StoreGoneError extends Error {
  constructor() {
    super('the store was deleted');
    this.name = 'StoreGoneError';
  }
}
