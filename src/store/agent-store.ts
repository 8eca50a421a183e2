import type { Kysely } from 'kysely';
import type { JsonObject } from '../protocol/types.js';
import type { DatabaseHandle } from './database.js';
import { classifyStoreError, toStoreError } from './store-errors.js';
import { countStoreError } from '../metrics/index.js';

/**
 * Rows of custom agents (`/agents`, spec §10.2): one per project and id, the definition as JSON.
 * Every query takes the project, so no agent is ever seen from another project.
 */

interface AgentsTable {
  project: string;
  id: string;
  definition: string;
  created: string;
  updated: string;
}

type Schema = { agents: AgentsTable };

export interface AgentRecord {
  project: string;
  id: string;
  /** The agent as created: base_agent, system_instruction, tools, … (see src/agents/). */
  definition: JsonObject;
  created: string;
  updated: string;
}

/** Where a listing continues: after this agent in (created, id) order. */
export interface AgentCursor {
  created: string;
  id: string;
}

const fromRow = (row: AgentsTable): AgentRecord => ({
  project: row.project,
  id: row.id,
  definition: JSON.parse(row.definition) as JsonObject,
  created: row.created,
  updated: row.updated,
});

export class AgentStore {
  private readonly db: Kysely<Schema>;

  constructor(handle: DatabaseHandle) {
    // This module owns its table; the shared DatabaseSchema describes the others.
    this.db = handle.db as unknown as Kysely<Schema>;
  }

  /** Inserts the agent; false when the project already has one with this id. */
  async create(record: AgentRecord): Promise<boolean> {
    const result = await guard(() =>
      this.db
        .insertInto('agents')
        .values({
          project: record.project,
          id: record.id,
          definition: JSON.stringify(record.definition),
          created: record.created,
          updated: record.updated,
        })
        .onConflict((oc) => oc.columns(['project', 'id']).doNothing())
        .executeTakeFirst(),
    );
    return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  async get(project: string, id: string): Promise<AgentRecord | undefined> {
    const row = await guard(() =>
      this.db
        .selectFrom('agents')
        .selectAll()
        .where('project', '=', project)
        .where('id', '=', id)
        .executeTakeFirst(),
    );
    return row ? fromRow(row) : undefined;
  }

  /** Up to `limit` agents of the project in creation order, after `after` when given. */
  async list(project: string, limit: number, after?: AgentCursor): Promise<AgentRecord[]> {
    const rows = await guard(() => {
      let query = this.db.selectFrom('agents').selectAll().where('project', '=', project);
      if (after) {
        query = query.where((eb) =>
          eb.or([
            eb('created', '>', after.created),
            eb.and([eb('created', '=', after.created), eb('id', '>', after.id)]),
          ]),
        );
      }
      return query.orderBy('created').orderBy('id').limit(limit).execute();
    });
    return rows.map(fromRow);
  }

  async delete(project: string, id: string): Promise<boolean> {
    const result = await guard(() =>
      this.db
        .deleteFrom('agents')
        .where('project', '=', project)
        .where('id', '=', id)
        .executeTakeFirst(),
    );
    return Number(result.numDeletedRows) > 0;
  }
}

/** A store-wide failure is a 503 to retry (nothing changed); anything else passes unchanged. */
async function guard<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (err) {
    countStoreError('agents', classifyStoreError(err));
    throw toStoreError(err);
  }
}
