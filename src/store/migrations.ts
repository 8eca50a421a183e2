import { Migrator, type Kysely, type Migration, type MigrationProvider } from 'kysely';

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
  });
  const { error } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
}
