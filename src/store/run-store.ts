import { sql, type Kysely } from 'kysely';
import type { DatabaseHandle } from './database.js';
import { toStoreError } from './store-errors.js';

/**
 * Who runs a queued background interaction (src/engine/run-queue.ts). The queue hands a run to a
 * node; this module records that node as the run's owner (`owner_node`) and counts how many
 * times the run was taken (`run_attempts`), and finds runs whose owner stopped heartbeating so
 * that their jobs can be given back to the queue.
 */

interface RunRow {
  id: string;
  project: string;
  status: string;
  background: number;
  owner_node: string | null;
  run_attempts: number;
  cancel_requested: number;
}

interface NodeRow {
  node_id: string;
  heartbeat: string;
}

type Schema = { interactions: RunRow; nodes: NodeRow };

const UNFINISHED = ['queued', 'in_progress'];

export type ClaimOutcome =
  | { kind: 'claimed'; attempt: number; cancelRequested: boolean }
  | { kind: 'finished' }
  | { kind: 'owned'; ownerNode: string }
  | { kind: 'gone' };

export interface OrphanedRun {
  id: string;
  project: string;
  ownerNode: string;
  attempts: number;
}

export class RunStore {
  private readonly db: Kysely<Schema>;

  constructor(handle: DatabaseHandle) {
    this.db = handle.db as unknown as Kysely<Schema>;
  }

  /**
   * Makes `node` the owner of an unfinished run that has none (queued, or disowned after its
   * node died) and counts the attempt: a compare-and-set, so only one node ever takes it.
   */
  async claim(id: string, node: string): Promise<ClaimOutcome> {
    return guard(async () => {
      const row = await this.db
        .updateTable('interactions')
        .set({ owner_node: node, run_attempts: sql`run_attempts + 1` })
        .where('id', '=', id)
        .where('status', 'in', UNFINISHED)
        .where('owner_node', 'is', null)
        .returning(['run_attempts', 'cancel_requested'])
        .executeTakeFirst();
      if (row) {
        return {
          kind: 'claimed',
          attempt: Number(row.run_attempts),
          cancelRequested: Number(row.cancel_requested) === 1,
        };
      }
      const exists = await this.db
        .selectFrom('interactions')
        .select(['status', 'owner_node'])
        .where('id', '=', id)
        .executeTakeFirst();
      if (!exists) return { kind: 'gone' };
      return UNFINISHED.includes(exists.status) && exists.owner_node !== null
        ? { kind: 'owned', ownerNode: exists.owner_node }
        : { kind: 'finished' };
    });
  }

  /** Gives a run back to the queue (graceful stop): it has no owner until a node takes it. */
  async release(id: string, node: string): Promise<void> {
    await guard(() =>
      this.db
        .updateTable('interactions')
        .set({ owner_node: null })
        .where('id', '=', id)
        .where('owner_node', '=', node)
        .where('status', 'in', UNFINISHED)
        .execute(),
    );
  }

  /**
   * Unfinished background runs owned by a node whose heartbeat is older than `staleBefore` (or
   * that never wrote one), or by `deadNode` (this node, just restarted: none of them still runs).
   */
  async findOrphaned(filter: { staleBefore: string; deadNode?: string }): Promise<OrphanedRun[]> {
    return guard(async () => {
      const rows = await this.db
        .selectFrom('interactions as i')
        .leftJoin('nodes as n', 'n.node_id', 'i.owner_node')
        .select(['i.id', 'i.project', 'i.owner_node', 'i.run_attempts'])
        .where('i.status', 'in', UNFINISHED)
        .where('i.background', '=', 1)
        .where('i.owner_node', 'is not', null)
        .where((eb) =>
          eb.or([
            eb('n.heartbeat', '<', filter.staleBefore),
            eb('n.node_id', 'is', null),
            ...(filter.deadNode ? [eb('i.owner_node', '=', filter.deadNode)] : []),
          ]),
        )
        .execute();
      return rows.map((r) => ({
        id: r.id,
        project: r.project,
        ownerNode: r.owner_node!,
        attempts: Number(r.run_attempts),
      }));
    });
  }

  /** Gives a disowned run back to `ownerNode` (its job could not be retaken: the next sweep tries again). */
  async restoreOwner(id: string, ownerNode: string): Promise<void> {
    await guard(() =>
      this.db
        .updateTable('interactions')
        .set({ owner_node: ownerNode })
        .where('id', '=', id)
        .where('owner_node', 'is', null)
        .where('status', 'in', UNFINISHED)
        .execute(),
    );
  }

  /** Unfinished background runs nobody owns: queued for a takeover, or taken by a node that died before its claim. */
  async findUnowned(): Promise<{ id: string }[]> {
    return guard(() =>
      this.db
        .selectFrom('interactions')
        .select('id')
        .where('status', 'in', UNFINISHED)
        .where('background', '=', 1)
        .where('owner_node', 'is', null)
        .execute(),
    );
  }

  /** Takes an orphaned run away from its dead owner (only if it still is the owner). */
  async disown(id: string, ownerNode: string): Promise<boolean> {
    return guard(async () => {
      const result = await this.db
        .updateTable('interactions')
        .set({ owner_node: null })
        .where('id', '=', id)
        .where('owner_node', '=', ownerNode)
        .where('status', 'in', UNFINISHED)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    });
  }
}

async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toStoreError(err);
  }
}
