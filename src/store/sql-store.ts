import { CompiledQuery, sql, type Kysely } from 'kysely';
import type { Step } from '../protocol/types.js';
import {
  openDatabase,
  type DatabaseHandle,
  type DatabaseSchema,
  type OpenOptions,
} from './database.js';
import { ConversationTips } from './conversation-tips.js';
import { historyQuery } from './history-query.js';
import { migrateToLatest } from './migrations.js';
import { webhookEventsInsert } from './webhook-store.js';
import { parameter, RowInsert, ROWS_PER_INSERT } from './row-insert.js';
import { classifyStoreError, toStoreError } from './store-errors.js';
import { countStoreError } from '../metrics/index.js';
import type {
  EventBatch,
  HistoryChain,
  InteractionRecord,
  InteractionUpdate,
  Store,
  StoredEvent,
  UnfinishedInteraction,
} from './types.js';
import type { EventsTable, InteractionsTable } from './database.js';

const UNFINISHED = ['queued', 'in_progress'];
/** The columns of an interaction row as `toRow` fills them (`run_attempts` keeps its default). */
const INTERACTION_COLUMNS = [
  'id',
  'project',
  'parent_id',
  'status',
  'model',
  'agent',
  'created',
  'updated',
  'background',
  'owner_node',
  'input_steps',
  'output_steps',
  'request',
  'usage',
  'errors',
  'cancel_requested',
  'api_key_id',
] as const satisfies readonly (keyof InteractionsTable)[];

function toRow(r: InteractionRecord): InteractionsTable {
  return {
    id: r.id,
    project: r.project,
    parent_id: r.parentId,
    status: r.status,
    model: r.model,
    agent: r.agent,
    created: r.created,
    updated: r.updated,
    background: r.background ? 1 : 0,
    owner_node: r.ownerNode,
    input_steps: JSON.stringify(r.inputSteps),
    output_steps: r.outputSteps ? JSON.stringify(r.outputSteps) : null,
    request: JSON.stringify(r.request),
    usage: r.usage ? JSON.stringify(r.usage) : null,
    errors: r.errors ? JSON.stringify(r.errors) : null,
    cancel_requested: 0,
    api_key_id: r.apiKeyId ?? null,
  };
}

function fromRow(row: InteractionsTable): InteractionRecord {
  return {
    id: row.id,
    project: row.project,
    parentId: row.parent_id,
    status: row.status as InteractionRecord['status'],
    model: row.model,
    agent: row.agent,
    created: row.created,
    updated: row.updated,
    background: Number(row.background) === 1,
    ownerNode: row.owner_node,
    inputSteps: JSON.parse(row.input_steps) as Step[],
    outputSteps: row.output_steps ? (JSON.parse(row.output_steps) as Step[]) : null,
    request: JSON.parse(row.request) as InteractionRecord['request'],
    usage: row.usage ? JSON.parse(row.usage) : null,
    errors: row.errors ? JSON.parse(row.errors) : null,
  };
}

/** A record with an update's fields applied (the terminal state of a create written whole). */
function withUpdate(
  record: InteractionRecord,
  u: InteractionUpdate | undefined,
): InteractionRecord {
  if (!u) return record;
  const next = { ...record };
  if (u.status !== undefined) next.status = u.status;
  if (u.updated !== undefined) next.updated = u.updated;
  if (u.outputSteps !== undefined) next.outputSteps = u.outputSteps;
  if (u.usage !== undefined) next.usage = u.usage;
  if (u.errors !== undefined) next.errors = u.errors;
  if (u.ownerNode !== undefined) next.ownerNode = u.ownerNode;
  return next;
}

/** When an update happened: its own time, or now. */
const updatedAt = (u: InteractionUpdate) => u.updated ?? new Date().toISOString();

/** A batch's terminal state, for the outbox (none when its update sets no status). */
const terminalOf = (b: EventBatch) =>
  b.update?.status
    ? [{ interactionId: b.interactionId, status: b.update.status, created: updatedAt(b.update) }]
    : [];

/** One interaction's own steps: its input, then its output. */
function ownSteps(row: { input_steps: string; output_steps: string | null }): Step[] {
  const steps = JSON.parse(row.input_steps) as Step[];
  if (row.output_steps) steps.push(...(JSON.parse(row.output_steps) as Step[]));
  return steps;
}

function updateColumns(u: InteractionUpdate): Partial<InteractionsTable> {
  const set: Partial<InteractionsTable> = {};
  if (u.status !== undefined) set.status = u.status;
  if (u.updated !== undefined) set.updated = u.updated;
  if (u.outputSteps !== undefined) set.output_steps = JSON.stringify(u.outputSteps);
  if (u.usage !== undefined) set.usage = u.usage ? JSON.stringify(u.usage) : null;
  if (u.errors !== undefined) set.errors = u.errors ? JSON.stringify(u.errors) : null;
  if (u.ownerNode !== undefined) set.owner_node = u.ownerNode;
  return set;
}

interface TipRow {
  parent_id: string | null;
  generation: number | string;
  input_steps?: string;
  output_steps?: string | null;
}

/**
 * The statement every continuing turn runs (`loadHistory`): the tip's row with its project's
 * history generation, its steps only when its history is not cached. Written out once per
 * dialect rather than built per call: kysely's builder costs more than the lookup itself.
 * Parameters: project, project, id.
 */
const tipQueries = Object.fromEntries(
  (['sqlite', 'postgres'] as const).map((kind) => {
    const p = (n: number) => parameter(kind, n);
    const text = (columns: string) =>
      `select parent_id, coalesce((select generation from history_generations where project = ${p(1)}), 0) as generation${columns} from interactions where project = ${p(2)} and id = ${p(3)}`;
    return [kind, { cached: text(''), read: text(', input_steps, output_steps') }];
  }),
) as Record<'sqlite' | 'postgres', { cached: string; read: string }>;

export class SqlStore implements Store {
  readonly dialect: 'sqlite' | 'postgres';
  private readonly db: Kysely<DatabaseSchema>;
  /**
   * Histories of recent conversation tips (conversation-tips.ts), valid while their project's
   * history generation is the one they were read under: a deletion through any node or process
   * bumps it in its own transaction, so it breaks a chain here at once.
   */
  private readonly tips = new ConversationTips();

  private readonly interactionRows: RowInsert<InteractionsTable>;
  private readonly eventRows: RowInsert<EventsTable>;

  constructor(handle: DatabaseHandle) {
    this.dialect = handle.kind;
    this.db = handle.db;
    this.interactionRows = new RowInsert(handle.kind, 'interactions', INTERACTION_COLUMNS);
    this.eventRows = new RowInsert(handle.kind, 'events', ['interaction_id', 'seq', 'data']);
  }

  /** Opens a store whose operations report a store-wide failure as `StoreUnavailableError`. */
  static open(url: string, options?: OpenOptions): SqlStore {
    return SqlStore.over(openDatabase(url, options));
  }

  /** The same over a database that other modules (the Files API) share. */
  static over(handle: DatabaseHandle): SqlStore {
    return reportingStoreErrors(new SqlStore(handle));
  }

  async migrate(): Promise<void> {
    await migrateToLatest(this.db as Kysely<unknown>);
  }

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  async createInteraction(record: InteractionRecord, events: StoredEvent[]): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await this.interactionRows.run(trx, [toRow(record)]);
      await this.eventRows.run(
        trx,
        events.map((e) => ({ interaction_id: record.id, seq: e.seq, data: e.data })),
      );
    });
  }

  async appendEvents(batches: EventBatch[]): Promise<void> {
    if (batches.length === 0) return;
    // Interactions created whole (their update already applied) go in before their events.
    const created = batches.flatMap((b) =>
      b.create ? [toRow(withUpdate(b.create, b.update))] : [],
    );
    const events = batches.flatMap((b) =>
      b.events.map((e) => ({ interaction_id: b.interactionId, seq: e.seq, data: e.data })),
    );
    const updates = batches.flatMap((b) => {
      const set = b.update && !b.create ? updateColumns(b.update) : {};
      return Object.keys(set).length > 0 ? [{ id: b.interactionId, set }] : [];
    });
    if (
      this.dialect === 'postgres' &&
      updates.length === 0 &&
      events.length > 0 &&
      events.length <= ROWS_PER_INSERT &&
      created.length <= ROWS_PER_INSERT
    ) {
      // One statement is its own transaction on PostgreSQL: one round trip instead of BEGIN,
      // the INSERTs and COMMIT. The rows of a data-modifying WITH are written whether or not the
      // main statement reads them, and the events' foreign key is checked at the statement's
      // end, when the interaction rows are there.
      // A create written whole ends in its terminal state: its webhook event (the outbox) is
      // one more CTE, reading the row from `created` (a sibling CTE does not see the table's
      // new rows).
      const parameters: unknown[] = [];
      let text = '';
      if (created.length > 0) {
        text = `with created as (${this.interactionRows.sql(created.length)} returning id, project, request)`;
        parameters.push(...this.interactionRows.parameters(created));
        const outbox = webhookEventsInsert(
          'postgres',
          batches.flatMap((b) => (b.create ? terminalOf(b) : [])),
          'created',
          parameters.length,
        );
        if (outbox) {
          text += `, outbox as (${outbox.sql})`;
          parameters.push(...outbox.parameters);
        }
        text += ' ';
      }
      text += this.eventRows.sql(events.length, parameters.length);
      parameters.push(...this.eventRows.parameters(events));
      await this.db.executeQuery(CompiledQuery.raw(text, parameters));
      return;
    }
    // A terminal state and its webhook event are durable together (the outbox): one statement
    // for every terminal state of the group.
    const outbox = webhookEventsInsert(this.dialect, batches.flatMap(terminalOf));
    await this.db.transaction().execute(async (trx) => {
      await this.interactionRows.run(trx, created);
      // All interactions' events in as few multi-row INSERTs as the chunk size allows: on
      // PostgreSQL every statement is a round trip, so a group commit must not cost one each.
      await this.eventRows.run(trx, events);
      for (const { id, set } of updates)
        await trx.updateTable('interactions').set(set).where('id', '=', id).execute();
      if (outbox) await trx.executeQuery(CompiledQuery.raw(outbox.sql, outbox.parameters));
    });
  }

  async getInteraction(project: string, id: string): Promise<InteractionRecord | undefined> {
    const row = await this.db
      .selectFrom('interactions')
      .selectAll()
      .where('project', '=', project)
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? fromRow(row) : undefined;
  }

  async listEvents(interactionId: string, afterSeq = 0): Promise<StoredEvent[]> {
    const rows = await this.db
      .selectFrom('events')
      .select(['seq', 'data'])
      .where('interaction_id', '=', interactionId)
      .where('seq', '>', afterSeq)
      .orderBy('seq')
      .execute();
    return rows.map((r) => ({ seq: Number(r.seq), data: r.data }));
  }

  async loadHistory(project: string, id: string): Promise<HistoryChain | undefined> {
    const { tips } = this;
    // The tip's row with its project's history generation: one statement, so one snapshot (on
    // PostgreSQL, one round trip). A turn continues a recent tip (or extends it by one
    // interaction): then this row is all it reads. The tip's own steps are not read when its
    // history is cached (under some generation: a stale entry falls back to the chain query).
    const { rows } = await this.db.executeQuery<TipRow>(
      CompiledQuery.raw(tipQueries[this.dialect][tips.has(project, id) ? 'cached' : 'read'], [
        project,
        project,
        id,
      ]),
    );
    const row = rows[0];
    if (!row) return undefined;
    // Read before (or with) whatever gets cached: an entry is never newer than its generation.
    const generation = Number(row.generation);
    const hit = tips.get(project, id, generation);
    if (hit) return { steps: [...hit], broken: false };
    const before = row.parent_id === null ? [] : tips.get(project, row.parent_id, generation);
    if (before && row.input_steps !== undefined) {
      const steps = [
        ...before,
        ...ownSteps({ input_steps: row.input_steps, output_steps: row.output_steps ?? null }),
      ];
      tips.set(project, id, steps, generation);
      return { steps: [...steps], broken: false };
    }
    // One recursive query walks the parent links however deep the chain is, each step a
    // primary-key lookup (see history-query.ts), up to the nearest ancestor whose history is
    // cached: with nodes taking turns of one conversation, that of its last turn here.
    return this.walkHistory(project, id, generation, tips.tipsOf(project, generation));
  }

  private async walkHistory(
    project: string,
    id: string,
    generation: number,
    stopAt: string[],
  ): Promise<HistoryChain | undefined> {
    const { tips } = this;
    const { rows: found } = await historyQuery(this.dialect, project, id, stopAt).execute(this.db);
    const rows = found.sort((x, y) => Number(y.depth) - Number(x.depth));
    if (rows.length === 0) return undefined;
    const top = rows[0]!;
    let steps: Step[] = [];
    let broken = top.parent_id !== null;
    if (stopAt.includes(top.id)) {
      // the walk stopped at a cached history (the rows below it were read after it was)
      const cached = tips.get(project, top.id, generation);
      // evicted meanwhile (other turns filled the cache): walk the whole chain
      if (cached === undefined) return this.walkHistory(project, id, generation, []);
      steps = [...cached];
      rows.shift();
      broken = false;
    }
    for (const r of rows) steps.push(...ownSteps(r));
    if (!broken) tips.set(project, id, [...steps], generation);
    return { steps, broken };
  }

  async deleteInteraction(project: string, id: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const found = await trx
        .selectFrom('interactions')
        .select('id')
        .where('project', '=', project)
        .where('id', '=', id)
        .executeTakeFirst();
      if (!found) return false;
      await trx.deleteFrom('events').where('interaction_id', '=', id).execute();
      // (a trigger bumps the project's history generation: see migrations.ts, 0009)
      await trx.deleteFrom('interactions').where('id', '=', id).execute();
      return true;
    });
  }

  async requestCancel(project: string, id: string): Promise<void> {
    await this.db
      .updateTable('interactions')
      .set({ cancel_requested: 1 })
      .where('project', '=', project)
      .where('id', '=', id)
      .execute();
  }

  async isCancelRequested(id: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('interactions')
      .select('cancel_requested')
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(row?.cancel_requested ?? 0) === 1;
  }

  async findUnfinished(filter: {
    ownerNode?: string;
    staleBefore?: string;
  }): Promise<UnfinishedInteraction[]> {
    let query = this.db
      .selectFrom('interactions as i')
      .leftJoin('nodes as n', 'n.node_id', 'i.owner_node')
      .select([
        'i.id',
        'i.project',
        (eb) =>
          eb
            .selectFrom('events as e')
            .whereRef('e.interaction_id', '=', 'i.id')
            .select((eb2) => eb2.fn.max('e.seq').as('m'))
            .as('last_seq'),
      ])
      .where('i.status', 'in', UNFINISHED);
    const { ownerNode, staleBefore } = filter;
    if (ownerNode !== undefined && staleBefore !== undefined) {
      query = query.where((eb) =>
        eb.or([
          eb('i.owner_node', '=', ownerNode),
          eb('n.heartbeat', '<', staleBefore),
          eb('n.node_id', 'is', null),
        ]),
      );
    } else if (ownerNode !== undefined) {
      query = query.where('i.owner_node', '=', ownerNode);
    } else if (staleBefore !== undefined) {
      query = query.where((eb) =>
        eb.or([eb('n.heartbeat', '<', staleBefore), eb('n.node_id', 'is', null)]),
      );
    }
    const rows = await query.execute();
    return rows.map((r) => ({ id: r.id, project: r.project, lastSeq: Number(r.last_seq ?? 0) }));
  }

  async heartbeat(node: string, at: string): Promise<void> {
    await this.db
      .insertInto('nodes')
      .values({ node_id: node, heartbeat: at })
      .onConflict((oc) => oc.column('node_id').doUpdateSet({ heartbeat: at }))
      .execute();
  }

  async deleteCreatedBefore(cutoff: string): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      const old = trx.selectFrom('interactions').select('id').where('created', '<', cutoff);
      await trx.deleteFrom('events').where('interaction_id', 'in', old).execute();
      const result = await trx
        .deleteFrom('interactions')
        .where('created', '<', cutoff)
        .executeTakeFirst();
      return Number(result.numDeletedRows ?? 0);
    });
  }
}

/**
 * Every operation but `migrate`/`close` reports a store-wide failure (connection lost, database
 * locked) as `StoreUnavailableError` — a 503 at the API edge, "retry" in the event log — and
 * anything else unchanged. One wrapper instead of a try/catch in each query.
 */
function reportingStoreErrors(store: SqlStore): SqlStore {
  const unguarded = new Set<PropertyKey>(['constructor', 'migrate', 'close']);
  return new Proxy(store, {
    get(target, key, receiver) {
      const value: unknown = Reflect.get(target, key, receiver);
      if (typeof value !== 'function' || unguarded.has(key)) return value;
      return async (...args: unknown[]) => {
        try {
          return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        } catch (err) {
          countStoreError(String(key), classifyStoreError(err));
          throw toStoreError(err);
        }
      };
    },
  });
}
