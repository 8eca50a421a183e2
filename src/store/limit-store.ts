/**
 * What the limits of keys and projects (src/api/limits.ts) are measured against, kept in the
 * database so that every node sharing a PostgreSQL store sees the same numbers:
 * - requests per minute: one counter row per scope and minute, bumped by an atomic upsert;
 * - tokens per minute and stored bytes: summed from the stored interactions themselves (exact,
 *   nothing to keep in step);
 * - concurrent runs: a lease row per running interaction, taken under a per-project lock (a
 *   PostgreSQL advisory lock; SQLite's single connection already runs one transaction at a time)
 *   and dropped when the run ends, or by any node once the owner stops heartbeating.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import { randomBytes } from 'node:crypto';
import type { DatabaseHandle, DatabaseKind, DatabaseSchema } from './database.js';

/** Whose usage is measured: a whole project, or one key. */
export type LimitScope = { project: string } | { keyId: string };

const scopeName = (s: LimitScope) => ('keyId' in s ? `key:${s.keyId}` : `project:${s.project}`);

export class LimitStore {
  private readonly db: Kysely<DatabaseSchema>;
  private readonly kind: DatabaseKind;

  constructor(handle: DatabaseHandle) {
    this.db = handle.db;
    this.kind = handle.kind;
  }

  /** Counts one request in the scope's window (`window` = minutes since the epoch); returns the new count. */
  async countRequest(scope: LimitScope, window: number): Promise<number> {
    const row = await this.db
      .insertInto('limit_windows')
      .values({ scope: scopeName(scope), window_start: window, requests: 1 })
      .onConflict((oc) =>
        oc
          .columns(['scope', 'window_start'])
          .doUpdateSet({ requests: sql`limit_windows.requests + 1` }),
      )
      .returning('requests')
      .executeTakeFirstOrThrow();
    return Number(row.requests);
  }

  /** Drops request counters of windows before `window`. */
  async sweepWindows(window: number): Promise<number> {
    const result = await this.db
      .deleteFrom('limit_windows')
      .where('window_start', '<', window)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /**
   * Tokens (`usage.total_tokens`) of the scope's interactions that finished at or after `since`
   * (ISO, as the rows store it), and when the oldest of them finished.
   */
  async tokensSince(
    scope: LimitScope,
    since: string,
  ): Promise<{ tokens: number; oldest: string | null }> {
    const tokens =
      this.kind === 'postgres'
        ? sql<number | string>`coalesce(sum(((usage::jsonb)->>'total_tokens')::bigint), 0)`
        : sql<number | string>`coalesce(sum(json_extract(usage, '$.total_tokens')), 0)`;
    let query = this.db
      .selectFrom('interactions')
      .select([tokens.as('tokens'), (eb) => eb.fn.min('updated').as('oldest')])
      .where('updated', '>=', since)
      .where('usage', 'is not', null);
    query =
      'keyId' in scope
        ? query.where('api_key_id', '=', scope.keyId)
        : query.where('project', '=', scope.project);
    const row = await query.executeTakeFirstOrThrow();
    return { tokens: Number(row.tokens), oldest: (row.oldest as string | null) ?? null };
  }

  /**
   * Bytes the scope holds: its interactions' stored JSON (input, output, request), and for a
   * project also its files that have not expired.
   */
  async storedBytes(scope: LimitScope, now: string): Promise<number> {
    const bytes = (column: string) =>
      this.kind === 'postgres'
        ? sql`coalesce(octet_length(${sql.ref(column)}), 0)`
        : sql`coalesce(length(cast(${sql.ref(column)} as blob)), 0)`;
    let query = this.db
      .selectFrom('interactions')
      .select(
        sql<
          number | string
        >`coalesce(sum(${bytes('input_steps')} + ${bytes('output_steps')} + ${bytes('request')}), 0)`.as(
          'bytes',
        ),
      );
    query =
      'keyId' in scope
        ? query.where('api_key_id', '=', scope.keyId)
        : query.where('project', '=', scope.project);
    let total = Number((await query.executeTakeFirstOrThrow()).bytes);
    if ('project' in scope) {
      const files = await sql<{ bytes: number | string }>`
        select coalesce(sum(size_bytes), 0) as bytes from files
        where project = ${scope.project} and expiration_time > ${now}`.execute(this.db);
      total += Number(files.rows[0]?.bytes ?? 0);
    }
    return total;
  }

  /**
   * Takes a lease for one run unless the project (or key) already runs its limit; returns the
   * lease id, or which limit refused it. Leases of nodes whose heartbeat is older than
   * `staleBefore` are dropped first (their runs died with them).
   */
  async acquireRun(input: {
    project: string;
    keyId: string | null;
    projectLimit?: number;
    keyLimit?: number;
    nodeId: string;
    staleBefore: string;
    now: string;
  }): Promise<{ lease: string } | { refused: 'project' | 'key'; running: number }> {
    return this.db.transaction().execute(async (trx) => {
      await this.lockProject(trx, input.project);
      await trx
        .deleteFrom('run_leases')
        .where('project', '=', input.project)
        .where('node_id', 'in', (eb) =>
          eb.selectFrom('nodes').select('node_id').where('heartbeat', '<', input.staleBefore),
        )
        .execute();
      if (input.projectLimit !== undefined) {
        const running = await countLeases(trx, 'project', input.project);
        if (running >= input.projectLimit) return { refused: 'project' as const, running };
      }
      if (input.keyLimit !== undefined && input.keyId !== null) {
        const running = await countLeases(trx, 'api_key_id', input.keyId);
        if (running >= input.keyLimit) return { refused: 'key' as const, running };
      }
      const lease = `lease_${randomBytes(8).toString('hex')}`;
      await trx
        .insertInto('run_leases')
        .values({
          id: lease,
          project: input.project,
          api_key_id: input.keyId,
          node_id: input.nodeId,
          started: input.now,
        })
        .execute();
      return { lease };
    });
  }

  async releaseRun(lease: string): Promise<void> {
    await this.db.deleteFrom('run_leases').where('id', '=', lease).execute();
  }

  /** Drops every lease of a node (it restarted: its runs are gone). */
  async releaseNode(nodeId: string): Promise<void> {
    await this.db.deleteFrom('run_leases').where('node_id', '=', nodeId).execute();
  }

  private async lockProject(trx: Transaction<DatabaseSchema>, project: string): Promise<void> {
    if (this.kind === 'postgres') {
      await sql`select pg_advisory_xact_lock(hashtext(${`runs:${project}`}))`.execute(trx);
    }
  }
}

async function countLeases(
  trx: Transaction<DatabaseSchema>,
  column: 'project' | 'api_key_id',
  value: string,
): Promise<number> {
  const row = await trx
    .selectFrom('run_leases')
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .where(column, '=', value)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
