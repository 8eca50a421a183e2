import { randomUUID } from 'node:crypto';
import { CompiledQuery, sql, type Kysely, type Transaction } from 'kysely';
import { countStoreError } from '../metrics/index.js';
import type { DatabaseHandle, DatabaseKind } from './database.js';
import { parameter, valuesList } from './row-insert.js';
import { newestFirstPage, type ListCursor } from './newest-first.js';
import { classifyStoreError, toStoreError } from './store-errors.js';

/**
 * Rows of webhooks (src/webhooks/): registered endpoints per project, the outbox of events
 * (written with an interaction's terminal state, see `webhookEventsInsert`) and deliveries (one
 * per event and target, retried until delivered, too old, or their webhook is disabled). Every
 * query a client can reach takes the project.
 */

interface WebhooksTable {
  id: string;
  project: string;
  name: string | null;
  uri: string;
  subscribed_events: string;
  state: string;
  secrets: string;
  failures: number;
  create_time: string;
  update_time: string;
}

interface WebhookEventsTable {
  id: string;
  project: string;
  interaction_id: string;
  type: string;
  created: string;
  fanned_out: number;
}

interface WebhookDeliveriesTable {
  id: string;
  event_id: string;
  project: string;
  target: string;
  webhook_id: string | null;
  uri: string;
  payload: string;
  state: string;
  attempts: number;
  next_attempt: string;
  last_error: string | null;
  created: string;
  updated: string;
}

type Schema = {
  webhooks: WebhooksTable;
  webhook_events: WebhookEventsTable;
  webhook_deliveries: WebhookDeliveriesTable;
};

/** A signing secret as stored: `sealed` is the secret, encrypted when a key is configured. */
export interface StoredSecret {
  sealed: string;
  /** Kept for the truncated form shown on get (never the whole secret). */
  truncated: string;
  created: string;
  expire_time?: string;
}

export interface WebhookRecord {
  id: string;
  project: string;
  name: string | null;
  uri: string;
  subscribedEvents: string[];
  state: string;
  secrets: StoredSecret[];
  failures: number;
  createTime: string;
  updateTime: string;
}

export interface WebhookEventRow {
  id: string;
  project: string;
  interactionId: string;
  type: string;
  created: string;
}

export interface DeliveryRecord {
  id: string;
  eventId: string;
  project: string;
  /** The webhook's id, or `uri:<uri>` for a request's `webhook_config.uris`. */
  target: string;
  webhookId: string | null;
  uri: string;
  payload: string;
  state: 'pending' | 'delivered' | 'failed';
  attempts: number;
  nextAttempt: string;
  lastError: string | null;
  created: string;
  updated: string;
}

/** Runs SQL on the transaction that inserts deliveries (pg-boss `send({db})` enqueues there). */
export interface SqlExecutor {
  executeSql(text: string, values: unknown[]): Promise<{ rows: unknown[] }>;
}

/** What fanning out an event needs to know of its interaction. */
export interface FanOutContext {
  event: WebhookEventRow;
  /** The interaction's echoed request fields (`webhook_config` among them); null when deleted. */
  request: Record<string, unknown> | null;
  /** The project's webhooks subscribed to the event, enabled ones only. */
  webhooks: WebhookRecord[];
}

/** Interaction statuses that emit an event, and the event's type. */
export const TERMINAL_EVENT_TYPES: Record<string, string> = {
  completed: 'interaction.completed',
  failed: 'interaction.failed',
  requires_action: 'interaction.requires_action',
  cancelled: 'interaction.cancelled',
};

/**
 * The outbox rows of interactions' terminal events, written in the statement or transaction that
 * stores their terminal status, for those anything may want: the request named `webhook_config`,
 * or its project has an enabled webhook. One statement for all the terminal states stored
 * together (a group commit, or creates written whole), so a dozen finished interactions nobody
 * listens to cost one cheap query. `from` names where the interactions' rows are read: the
 * table, or the data-modifying CTE that inserts them in the same PostgreSQL statement (a sibling
 * CTE does not see the table's new rows); `offset`: PostgreSQL parameters already taken by the
 * statement this one is part of. `undefined` when no status emits an event.
 */
export function webhookEventsInsert(
  kind: DatabaseKind,
  terminal: readonly { interactionId: string; status: string; created: string }[],
  from: 'interactions' | 'created' = 'interactions',
  offset = 0,
): { sql: string; parameters: string[] } | undefined {
  const parameters: string[] = [];
  for (const t of terminal) {
    const type = TERMINAL_EVENT_TYPES[t.status];
    if (type)
      parameters.push(`evt_${randomUUID().replace(/-/g, '')}`, t.interactionId, type, t.created);
  }
  if (parameters.length === 0) return undefined;
  // VALUES columns are named column1 … columnN on both engines. A plain substring test (the key
  // is written exactly so in stored JSON) is half the cost of LIKE's case-folding scan.
  const last = parameter(kind, offset + parameters.length + 1);
  const contains =
    kind === 'postgres' ? `strpos(i.request, ${last}) > 0` : `instr(i.request, ${last}) > 0`;
  return {
    sql: `insert into webhook_events (id, project, interaction_id, type, created, fanned_out)
    select v.column1, i.project, i.id, v.column3, v.column4, 0
    from (values ${valuesList(kind, parameters.length / 4, 4, offset)}) v
    join ${from} i on i.id = v.column2
    where ${contains}
      or exists (select 1 from webhooks w where w.project = i.project and w.state = 'enabled')`,
    parameters: [...parameters, '"webhook_config"'],
  };
}

const toRecord = (row: WebhooksTable): WebhookRecord => ({
  id: row.id,
  project: row.project,
  name: row.name,
  uri: row.uri,
  subscribedEvents: JSON.parse(row.subscribed_events) as string[],
  state: row.state,
  secrets: JSON.parse(row.secrets) as StoredSecret[],
  failures: Number(row.failures),
  createTime: row.create_time,
  updateTime: row.update_time,
});

const toRow = (r: WebhookRecord): WebhooksTable => ({
  id: r.id,
  project: r.project,
  name: r.name,
  uri: r.uri,
  subscribed_events: JSON.stringify(r.subscribedEvents),
  state: r.state,
  secrets: JSON.stringify(r.secrets),
  failures: r.failures,
  create_time: r.createTime,
  update_time: r.updateTime,
});

const toDelivery = (row: WebhookDeliveriesTable): DeliveryRecord => ({
  id: row.id,
  eventId: row.event_id,
  project: row.project,
  target: row.target,
  webhookId: row.webhook_id,
  uri: row.uri,
  payload: row.payload,
  state: row.state as DeliveryRecord['state'],
  attempts: Number(row.attempts),
  nextAttempt: row.next_attempt,
  lastError: row.last_error,
  created: row.created,
  updated: row.updated,
});

const deliveryRow = (d: DeliveryRecord): WebhookDeliveriesTable => ({
  id: d.id,
  event_id: d.eventId,
  project: d.project,
  target: d.target,
  webhook_id: d.webhookId,
  uri: d.uri,
  payload: d.payload,
  state: d.state,
  attempts: d.attempts,
  next_attempt: d.nextAttempt,
  last_error: d.lastError,
  created: d.created,
  updated: d.updated,
});

/** The transaction as pg-boss's `db` option wants it. */
const executorOf = (trx: Transaction<Schema>): SqlExecutor => ({
  executeSql: async (text, values) => {
    const result = await trx.executeQuery(CompiledQuery.raw(text, values));
    return { rows: result.rows as unknown[] };
  },
});

export class WebhookStore {
  private readonly db: Kysely<Schema>;

  constructor(handle: DatabaseHandle) {
    // This module owns its tables; the shared DatabaseSchema describes the others.
    this.db = handle.db as unknown as Kysely<Schema>;
  }

  async create(record: WebhookRecord): Promise<void> {
    await guard(() => this.db.insertInto('webhooks').values(toRow(record)).execute());
  }

  async get(project: string, id: string): Promise<WebhookRecord | undefined> {
    const row = await guard(() =>
      this.db
        .selectFrom('webhooks')
        .selectAll()
        .where('project', '=', project)
        .where('id', '=', id)
        .executeTakeFirst(),
    );
    return row ? toRecord(row) : undefined;
  }

  /** Newest first; `limit + 1` rows tell whether another page follows. */
  async list(project: string, limit: number, cursor?: ListCursor): Promise<WebhookRecord[]> {
    const rows = await guard(() =>
      newestFirstPage(
        this.db.selectFrom('webhooks').selectAll().where('project', '=', project),
        limit,
        cursor,
      ).execute(),
    );
    return rows.map(toRecord);
  }

  /** Writes the record's changed fields; false when it no longer exists. */
  async save(record: WebhookRecord): Promise<boolean> {
    const { id, project, ...set } = toRow(record);
    const result = await guard(() =>
      this.db
        .updateTable('webhooks')
        .set(set)
        .where('project', '=', project)
        .where('id', '=', id)
        .executeTakeFirst(),
    );
    return Number(result.numUpdatedRows) === 1;
  }

  /** Deletes the webhook and its undelivered deliveries. */
  async delete(project: string, id: string): Promise<boolean> {
    return guard(() =>
      this.db.transaction().execute(async (trx) => {
        const result = await trx
          .deleteFrom('webhooks')
          .where('project', '=', project)
          .where('id', '=', id)
          .executeTakeFirst();
        if (Number(result.numDeletedRows) !== 1) return false;
        await trx
          .deleteFrom('webhook_deliveries')
          .where('webhook_id', '=', id)
          .where('state', '=', 'pending')
          .execute();
        return true;
      }),
    );
  }

  async getById(id: string): Promise<WebhookRecord | undefined> {
    const row = await guard(() =>
      this.db.selectFrom('webhooks').selectAll().where('id', '=', id).executeTakeFirst(),
    );
    return row ? toRecord(row) : undefined;
  }

  /** A failed delivery attempt to the webhook; disables it at `maxFailures` in a row. */
  async recordFailure(id: string, maxFailures: number, now: string): Promise<boolean> {
    return guard(() =>
      this.db.transaction().execute(async (trx) => {
        await trx
          .updateTable('webhooks')
          .set((eb) => ({ failures: eb('failures', '+', 1) }))
          .where('id', '=', id)
          .execute();
        const disabled = await trx
          .updateTable('webhooks')
          .set({ state: 'disabled_due_to_failed_deliveries', update_time: now })
          .where('id', '=', id)
          .where('state', '=', 'enabled')
          .where('failures', '>=', maxFailures)
          .executeTakeFirst();
        return Number(disabled.numUpdatedRows) === 1;
      }),
    );
  }

  async resetFailures(id: string): Promise<void> {
    await guard(() =>
      this.db
        .updateTable('webhooks')
        .set({ failures: 0 })
        .where('id', '=', id)
        .where('failures', '>', 0)
        .execute(),
    );
  }

  /** Events not yet fanned out into deliveries, oldest first. */
  async pendingEvents(limit: number): Promise<WebhookEventRow[]> {
    const rows = await guard(() =>
      this.db
        .selectFrom('webhook_events')
        .select(['id', 'project', 'interaction_id', 'type', 'created'])
        .where('fanned_out', '=', 0)
        .orderBy('created')
        .limit(limit)
        .execute(),
    );
    return rows.map((r) => ({
      id: r.id,
      project: r.project,
      interactionId: r.interaction_id,
      type: r.type,
      created: r.created,
    }));
  }

  /**
   * Turns one event into its deliveries in one transaction: claims the event (another node that
   * claimed it first wins), asks `plan` for the deliveries, inserts them and lets `enqueue` add
   * their jobs in the same transaction. Returns the deliveries (none when already claimed).
   */
  async fanOut(
    event: WebhookEventRow,
    plan: (context: FanOutContext) => DeliveryRecord[],
    enqueue?: (executor: SqlExecutor, deliveries: DeliveryRecord[]) => Promise<void>,
  ): Promise<DeliveryRecord[]> {
    return guard(() =>
      this.db.transaction().execute(async (trx) => {
        const claimed = await trx
          .updateTable('webhook_events')
          .set({ fanned_out: 1 })
          .where('id', '=', event.id)
          .where('fanned_out', '=', 0)
          .executeTakeFirst();
        if (Number(claimed.numUpdatedRows) !== 1) return [];
        const interaction = await sql<{ request: string }>`select request from interactions
          where id = ${event.interactionId} and project = ${event.project}`.execute(trx);
        const requestText = interaction.rows[0]?.request;
        const webhooks = (
          await trx
            .selectFrom('webhooks')
            .selectAll()
            .where('project', '=', event.project)
            .where('state', '=', 'enabled')
            .execute()
        )
          .map(toRecord)
          .filter((w) => w.subscribedEvents.includes(event.type));
        const deliveries = plan({
          event,
          request: requestText ? (JSON.parse(requestText) as Record<string, unknown>) : null,
          webhooks,
        });
        await this.insertDeliveries(trx, deliveries, enqueue);
        return deliveries;
      }),
    );
  }

  /** Inserts deliveries made outside an event (`:ping`), with their jobs. */
  async addDeliveries(
    deliveries: DeliveryRecord[],
    enqueue?: (executor: SqlExecutor, deliveries: DeliveryRecord[]) => Promise<void>,
  ): Promise<void> {
    await guard(() =>
      this.db.transaction().execute((trx) => this.insertDeliveries(trx, deliveries, enqueue)),
    );
  }

  private async insertDeliveries(
    trx: Transaction<Schema>,
    deliveries: DeliveryRecord[],
    enqueue?: (executor: SqlExecutor, deliveries: DeliveryRecord[]) => Promise<void>,
  ): Promise<void> {
    if (deliveries.length === 0) return;
    await trx
      .insertInto('webhook_deliveries')
      .values(deliveries.map(deliveryRow))
      .onConflict((oc) => oc.columns(['event_id', 'target']).doNothing())
      .execute();
    if (enqueue) await enqueue(executorOf(trx), deliveries);
  }

  async getDelivery(id: string): Promise<DeliveryRecord | undefined> {
    const row = await guard(() =>
      this.db.selectFrom('webhook_deliveries').selectAll().where('id', '=', id).executeTakeFirst(),
    );
    return row ? toDelivery(row) : undefined;
  }

  /** Pending deliveries due at `now`, oldest due first (the in-process worker's queue). */
  async dueDeliveries(now: string, limit: number): Promise<DeliveryRecord[]> {
    const rows = await guard(() =>
      this.db
        .selectFrom('webhook_deliveries')
        .selectAll()
        .where('state', '=', 'pending')
        .where('next_attempt', '<=', now)
        .orderBy('next_attempt')
        .limit(limit)
        .execute(),
    );
    return rows.map(toDelivery);
  }

  /** The earliest next attempt of a pending delivery (when the worker should look again). */
  async nextDue(): Promise<string | undefined> {
    const row = await guard(() =>
      this.db
        .selectFrom('webhook_deliveries')
        .select((eb) => eb.fn.min('next_attempt').as('next'))
        .where('state', '=', 'pending')
        .executeTakeFirst(),
    );
    return row?.next ?? undefined;
  }

  /** Records an attempt's outcome (only while the delivery is still pending). */
  async settle(
    id: string,
    outcome: {
      state: DeliveryRecord['state'];
      attempts: number;
      nextAttempt?: string;
      error?: string | null;
      now: string;
    },
  ): Promise<void> {
    await guard(() =>
      this.db
        .updateTable('webhook_deliveries')
        .set({
          state: outcome.state,
          attempts: outcome.attempts,
          ...(outcome.nextAttempt ? { next_attempt: outcome.nextAttempt } : {}),
          last_error: outcome.error ?? null,
          updated: outcome.now,
        })
        .where('id', '=', id)
        .where('state', '=', 'pending')
        .execute(),
    );
  }

  /** Gives up the pending deliveries of a webhook that was disabled. */
  async failPendingOf(webhookId: string, reason: string, now: string): Promise<void> {
    await guard(() =>
      this.db
        .updateTable('webhook_deliveries')
        .set({ state: 'failed', last_error: reason, updated: now })
        .where('webhook_id', '=', webhookId)
        .where('state', '=', 'pending')
        .execute(),
    );
  }

  /** Deletes settled deliveries and fanned-out events last touched before `before`. */
  async sweep(before: string): Promise<number> {
    return guard(async () => {
      const deliveries = await this.db
        .deleteFrom('webhook_deliveries')
        .where('state', '!=', 'pending')
        .where('updated', '<', before)
        .executeTakeFirst();
      await this.db
        .deleteFrom('webhook_events')
        .where('fanned_out', '=', 1)
        .where('created', '<', before)
        .execute();
      return Number(deliveries.numDeletedRows);
    });
  }

  /** Deliveries of a project (tests and operators look at them; not an API resource). */
  async deliveriesOf(project: string): Promise<DeliveryRecord[]> {
    const rows = await guard(() =>
      this.db
        .selectFrom('webhook_deliveries')
        .selectAll()
        .where('project', '=', project)
        .orderBy('created')
        .execute(),
    );
    return rows.map(toDelivery);
  }
}

async function guard<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (err) {
    countStoreError('webhooks', classifyStoreError(err));
    throw toStoreError(err);
  }
}
