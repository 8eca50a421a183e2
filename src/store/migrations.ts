import {
  Migrator,
  PostgresAdapter,
  sql,
  type ColumnDefinitionBuilder,
  type Kysely,
  type Migration,
  type MigrationProvider,
} from 'kysely';

/** Migrations are code (not files on disk) so the published package carries them. */
const migrations: Record<string, Migration> = {
  '0001_interactions_and_events': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('interactions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('project', 'text', (c) => c.notNull())
        .addColumn('parent_id', 'text')
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('model', 'text')
        .addColumn('agent', 'text')
        .addColumn('created', 'text', (c) => c.notNull())
        .addColumn('updated', 'text', (c) => c.notNull())
        .addColumn('background', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('owner_node', 'text')
        .addColumn('input_steps', 'text', (c) => c.notNull())
        .addColumn('output_steps', 'text')
        .addColumn('request', 'text', (c) => c.notNull())
        .addColumn('usage', 'text')
        .addColumn('errors', 'text')
        .addColumn('cancel_requested', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .createIndex('interactions_project_id')
        .on('interactions')
        .columns(['project', 'id'])
        .execute();
      await db.schema
        .createIndex('interactions_unfinished')
        .on('interactions')
        .columns(['status', 'owner_node'])
        .execute();
      await db.schema
        .createIndex('interactions_created')
        .on('interactions')
        .column('created')
        .execute();
      await db.schema
        .createTable('events')
        .addColumn('interaction_id', 'text', (c) =>
          c.notNull().references('interactions.id').onDelete('cascade'),
        )
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('data', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('events_pk', ['interaction_id', 'seq'])
        .execute();
      await db.schema
        .createTable('nodes')
        .addColumn('node_id', 'text', (c) => c.primaryKey())
        .addColumn('heartbeat', 'text', (c) => c.notNull())
        .execute();
    },
  },
  // The Files API (src/store/file-store.ts): resumable upload sessions, the files they produce,
  // and on PostgreSQL the bytes themselves (src/store/blob-store-postgres.ts).
  '0002_files': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('uploads')
        .addColumn('upload_id', 'text', (c) => c.primaryKey())
        .addColumn('project', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('target', 'text', (c) => c.notNull())
        .addColumn('mime_type', 'text', (c) => c.notNull())
        .addColumn('size_bytes', 'bigint', (c) => c.notNull())
        .addColumn('received_bytes', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('blob_key', 'text', (c) => c.notNull().unique())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('result', 'text')
        .addColumn('create_time', 'text', (c) => c.notNull())
        .addColumn('expiration_time', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('uploads_project_state')
        .on('uploads')
        .columns(['project', 'state'])
        .execute();
      await db.schema
        .createIndex('uploads_expiration')
        .on('uploads')
        .column('expiration_time')
        .execute();
      await db.schema
        .createTable('files')
        .addColumn('project', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('blob_key', 'text', (c) => c.notNull().unique())
        .addColumn('display_name', 'text')
        .addColumn('mime_type', 'text', (c) => c.notNull())
        .addColumn('size_bytes', 'bigint', (c) => c.notNull())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('error', 'text')
        .addColumn('create_time', 'text', (c) => c.notNull())
        .addColumn('update_time', 'text', (c) => c.notNull())
        .addColumn('expiration_time', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('files_pk', ['project', 'id'])
        .execute();
      await db.schema
        .createIndex('files_project_created')
        .on('files')
        .columns(['project', 'create_time', 'id'])
        .execute();
      await db.schema
        .createIndex('files_expiration')
        .on('files')
        .column('expiration_time')
        .execute();
      // SQLite keeps bytes in a directory beside the database file instead.
      if (db.getExecutor().adapter instanceof PostgresAdapter) {
        await db.schema
          .createTable('blob_chunks')
          .addColumn('blob_key', 'text', (c) => c.notNull())
          .addColumn('start_offset', 'bigint', (c) => c.notNull())
          .addColumn('data', 'bytea', (c) => c.notNull())
          .addPrimaryKeyConstraint('blob_chunks_pk', ['blob_key', 'start_offset'])
          .execute();
      }
    },
  },
  // File Search stores, their documents and ingestion operations (src/store/file-search-store.ts).
  // The chunks, vectors and words of active documents belong to the search index's own tables.
  '0003_file_search': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('file_search_stores')
        .addColumn('project', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('display_name', 'text')
        .addColumn('embedding_model', 'text', (c) => c.notNull())
        .addColumn('embedding_dimensions', 'integer')
        .addColumn('create_time', 'text', (c) => c.notNull())
        .addColumn('update_time', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('file_search_stores_pk', ['project', 'id'])
        .execute();
      await db.schema
        .createIndex('file_search_stores_created')
        .on('file_search_stores')
        .columns(['project', 'create_time', 'id'])
        .execute();
      await db.schema
        .createTable('file_search_documents')
        .addColumn('project', 'text', (c) => c.notNull())
        .addColumn('store_id', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('display_name', 'text')
        .addColumn('mime_type', 'text', (c) => c.notNull())
        .addColumn('size_bytes', 'bigint', (c) => c.notNull())
        .addColumn('custom_metadata', 'text', (c) => c.notNull())
        .addColumn('chunking', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('error', 'text')
        // The bytes of an uploaded document until it is ingested; an import reads its file.
        .addColumn('blob_key', 'text', (c) => c.unique())
        .addColumn('source_file', 'text')
        .addColumn('operation_id', 'text', (c) => c.notNull())
        .addColumn('create_time', 'text', (c) => c.notNull())
        .addColumn('update_time', 'text', (c) => c.notNull())
        // The ingestion lease: which node works on a pending document, until when.
        .addColumn('lease_owner', 'text')
        .addColumn('lease_token', 'text')
        .addColumn('lease_expires', 'text')
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addPrimaryKeyConstraint('file_search_documents_pk', ['project', 'store_id', 'id'])
        .execute();
      await db.schema
        .createIndex('file_search_documents_created')
        .on('file_search_documents')
        .columns(['project', 'store_id', 'create_time', 'id'])
        .execute();
      await db.schema
        .createIndex('file_search_documents_counts')
        .on('file_search_documents')
        .columns(['project', 'store_id', 'state', 'size_bytes'])
        .execute();
      await db.schema
        .createIndex('file_search_documents_pending')
        .on('file_search_documents')
        .columns(['state', 'lease_expires'])
        .execute();
      await db.schema
        .createTable('file_search_operations')
        .addColumn('project', 'text', (c) => c.notNull())
        .addColumn('store_id', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('document_id', 'text', (c) => c.notNull())
        .addColumn('done', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('error', 'text')
        .addColumn('metadata', 'text', (c) => c.notNull())
        .addColumn('create_time', 'text', (c) => c.notNull())
        .addColumn('update_time', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('file_search_operations_pk', ['project', 'store_id', 'id'])
        .execute();
    },
  },
  // The File Search index (src/store/search-index/): per store its embedding dimension, per
  // document what citations show and the customMetadata that filters see, per chunk its text.
  // Words: FTS5 on SQLite, a generated tsvector on PostgreSQL. Vectors: on SQLite, sqlite-vec
  // vec0 tables, one per dimension, created by the first document of that dimension; on
  // PostgreSQL a real[] column (an exact scan in SQL, or pgvector's operator when it is there).
  '0004_search_index': {
    async up(db: Kysely<unknown>) {
      const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
      const serialKey = (c: ColumnDefinitionBuilder) =>
        postgres ? c.primaryKey().generatedByDefaultAsIdentity() : c.primaryKey().autoIncrement();
      const keyType = postgres ? 'bigint' : 'integer';
      await db.schema
        .createTable('search_stores')
        .addColumn('store_key', keyType, serialKey)
        .addColumn('project', 'text', (c) => c.notNull())
        .addColumn('store_id', 'text', (c) => c.notNull())
        .addColumn('dimension', 'integer', (c) => c.notNull())
        .addUniqueConstraint('search_stores_project_store', ['project', 'store_id'])
        .execute();
      await db.schema
        .createTable('search_documents')
        .addColumn('doc_key', keyType, serialKey)
        .addColumn('store_key', keyType, (c) =>
          c.notNull().references('search_stores.store_key').onDelete('cascade'),
        )
        .addColumn('document_id', 'text', (c) => c.notNull())
        .addColumn('display_name', 'text')
        .addColumn('document_name', 'text', (c) => c.notNull())
        .addColumn('mime_type', 'text', (c) => c.notNull())
        .addColumn('custom_metadata', 'text', (c) => c.notNull())
        .addUniqueConstraint('search_documents_store_document', ['store_key', 'document_id'])
        .execute();
      // One row per scalar value and per element of a string list; filters test them with
      // EXISTS. Strings compare byte-wise on both stores (SQLite's BINARY, PostgreSQL's "C").
      await db.schema
        .createTable('search_metadata')
        .addColumn('doc_key', keyType, (c) =>
          c.notNull().references('search_documents.doc_key').onDelete('cascade'),
        )
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('string_value', postgres ? sql`text collate "C"` : 'text')
        .addColumn('numeric_value', postgres ? 'double precision' : 'real')
        .execute();
      await db.schema
        .createIndex('search_metadata_doc_key')
        .on('search_metadata')
        .columns(['doc_key', 'key'])
        .execute();
      let chunks = db.schema
        .createTable('search_chunks')
        .addColumn('chunk_key', keyType, serialKey)
        .addColumn('doc_key', keyType, (c) =>
          c.notNull().references('search_documents.doc_key').onDelete('cascade'),
        )
        .addColumn('store_key', keyType, (c) => c.notNull())
        .addColumn('position', 'integer', (c) => c.notNull())
        .addColumn('text', 'text', (c) => c.notNull())
        .addColumn('page_number', 'integer')
        .addColumn('token_count', 'integer', (c) => c.notNull());
      if (postgres) {
        chunks = chunks
          .addColumn('embedding', sql`real[]`, (c) => c.notNull())
          .addColumn('words', sql`tsvector`, (c) =>
            c.generatedAlwaysAs(sql`to_tsvector('english', text)`).stored(),
          );
      }
      await chunks.execute();
      await db.schema
        .createIndex('search_chunks_doc_key')
        .on('search_chunks')
        .column('doc_key')
        .execute();
      await db.schema
        .createIndex('search_chunks_store_key')
        .on('search_chunks')
        .column('store_key')
        .execute();
      if (postgres) {
        await db.schema
          .createIndex('search_chunks_words')
          .on('search_chunks')
          .using('gin')
          .column('words')
          .execute();
      } else {
        // Contentless: the text lives in search_chunks once; rows are deleted by rowid.
        await sql`create virtual table search_words using fts5(text, content='', contentless_delete=1, tokenize='porter unicode61')`.execute(
          db,
        );
      }
    },
  },
  // Background runs on the run queue (src/engine/run-queue.ts): how many times a node took the
  // run over after its node died, so a run that kills every node it lands on stops.
  '0005_run_attempts': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('interactions')
        .addColumn('run_attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
    },
  },
  // Custom agents (`/agents`, src/store/agent-store.ts): per project, the definition as JSON;
  // listed in creation order.
  '0006_agents': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('agents')
        .addColumn('project', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('definition', 'text', (c) => c.notNull())
        .addColumn('created', 'text', (c) => c.notNull())
        .addColumn('updated', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('agents_pk', ['project', 'id'])
        .execute();
      await db.schema
        .createIndex('agents_project_created')
        .on('agents')
        .columns(['project', 'created', 'id'])
        .execute();
    },
  },
  // Operating a shared server (docs/operations.md): managed API keys (only a SHA-256 of each
  // key is stored), which key created an interaction (usage per key), per-minute request
  // counters, and the leases of running interactions (concurrent-run limits across nodes).
  '0007_keys_limits_usage': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('project', 'text', (c) => c.notNull())
        .addColumn('name', 'text')
        .addColumn('key_hash', 'text', (c) => c.notNull().unique())
        .addColumn('key_prefix', 'text', (c) => c.notNull())
        .addColumn('limits', 'text', (c) => c.notNull())
        .addColumn('created', 'text', (c) => c.notNull())
        .addColumn('expires', 'text')
        .addColumn('revoked', 'text')
        .execute();
      await db.schema
        .createIndex('api_keys_project')
        .on('api_keys')
        .columns(['project', 'created'])
        .execute();
      await db.schema.alterTable('interactions').addColumn('api_key_id', 'text').execute();
      await db.schema
        .createIndex('interactions_project_updated')
        .on('interactions')
        .columns(['project', 'updated'])
        .execute();
      await db.schema
        .createIndex('interactions_key_updated')
        .on('interactions')
        .columns(['api_key_id', 'updated'])
        .execute();
      await db.schema
        .createTable('limit_windows')
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('window_start', 'bigint', (c) => c.notNull())
        .addColumn('requests', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('limit_windows_pk', ['scope', 'window_start'])
        .execute();
      await db.schema
        .createTable('run_leases')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('project', 'text', (c) => c.notNull())
        .addColumn('api_key_id', 'text')
        .addColumn('node_id', 'text', (c) => c.notNull())
        .addColumn('started', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('run_leases_project')
        .on('run_leases')
        .column('project')
        .execute();
      await db.schema.createIndex('run_leases_key').on('run_leases').column('api_key_id').execute();
    },
  },
  // Webhooks (src/webhooks/, src/store/webhook-store.ts): registered endpoints per project;
  // the outbox of events, written in the transaction that stores an interaction's terminal
  // state; and one delivery per event and target, retried until delivered or too old.
  '0008_webhooks': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('webhooks')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('project', 'text', (c) => c.notNull())
        .addColumn('name', 'text')
        .addColumn('uri', 'text', (c) => c.notNull())
        .addColumn('subscribed_events', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('secrets', 'text', (c) => c.notNull())
        .addColumn('failures', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('create_time', 'text', (c) => c.notNull())
        .addColumn('update_time', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('webhooks_project_created')
        .on('webhooks')
        .columns(['project', 'create_time', 'id'])
        .execute();
      await db.schema
        .createTable('webhook_events')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('project', 'text', (c) => c.notNull())
        .addColumn('interaction_id', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('created', 'text', (c) => c.notNull())
        .addColumn('fanned_out', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .createIndex('webhook_events_pending')
        .on('webhook_events')
        .columns(['fanned_out', 'created'])
        .execute();
      await db.schema
        .createTable('webhook_deliveries')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('event_id', 'text', (c) => c.notNull())
        .addColumn('project', 'text', (c) => c.notNull())
        .addColumn('target', 'text', (c) => c.notNull())
        .addColumn('webhook_id', 'text')
        .addColumn('uri', 'text', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt', 'text', (c) => c.notNull())
        .addColumn('last_error', 'text')
        .addColumn('created', 'text', (c) => c.notNull())
        .addColumn('updated', 'text', (c) => c.notNull())
        .addUniqueConstraint('webhook_deliveries_event_target', ['event_id', 'target'])
        .execute();
      await db.schema
        .createIndex('webhook_deliveries_due')
        .on('webhook_deliveries')
        .columns(['state', 'next_attempt'])
        .execute();
    },
  },
  // Per project, a counter that every deletion of interactions bumps in the deleting
  // transaction: nodes cache conversation histories (src/store/conversation-tips.ts) and use an
  // entry only while the counter they read with the tip's row is the one it was filled under.
  // A trigger rather than the store's delete methods: it also counts what deletes without them
  // (a node of an older version during a rolling upgrade, an operator's SQL). It runs after the
  // delete, so it locks counters after rows, in project order (PostgreSQL: once per statement,
  // from the deleted rows; SQLite's triggers are per row and its writers never interleave).
  // A row is never deleted, so a counter never goes back to a value it had.
  '0009_history_generations': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('history_generations')
        .addColumn('project', 'text', (c) => c.primaryKey())
        .addColumn('generation', 'bigint', (c) => c.notNull())
        .execute();
      if (db.getExecutor().adapter instanceof PostgresAdapter) {
        await sql`create function history_generations_bump() returns trigger
          language plpgsql as $$
          begin
            insert into history_generations (project, generation)
              select project, 1 from deleted_interactions group by project order by project
              on conflict (project) do update set generation = history_generations.generation + 1;
            return null;
          end $$`.execute(db);
        await sql`create trigger interactions_history_generation after delete on interactions
          referencing old table as deleted_interactions
          for each statement execute function history_generations_bump()`.execute(db);
      } else {
        await sql`create trigger interactions_history_generation after delete on interactions
          begin
            insert into history_generations (project, generation) values (old.project, 1)
              on conflict (project) do update set generation = generation + 1;
          end`.execute(db);
      }
    },
  },
};

class CodeMigrationProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations;
  }
}

export async function migrateToLatest(db: Kysely<unknown>): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: new CodeMigrationProvider(),
    migrationTableName: 'oi_migrations',
    migrationLockTableName: 'oi_migrations_lock',
    // Migration numbers are handed out per feature: one may land after a later number ran.
    allowUnorderedMigrations: true,
  });
  const { error } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
}
