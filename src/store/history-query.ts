import { sql, type RawBuilder } from 'kysely';
import type { DatabaseKind } from './database.js';

/** One link of a conversation chain; `depth` 0 is the interaction asked for. */
export interface HistoryRow {
  id: string;
  parent_id: string | null;
  input_steps: string;
  output_steps: string | null;
  depth: number;
}

/*
 * Why this query is written per dialect. A turn loads its whole chain: one recursive query that,
 * at each step, must look the parent up by primary key — the cost of a turn then grows with its
 * depth only, never with the number of rows in the project. Left to their planners, both
 * databases may instead scan the project's rows once per step (SQLite has no statistics unless
 * ANALYZE ran; PostgreSQL's estimates for a fresh or fast-growing table are as bad), which made a
 * turn at depth 1,000 cost seconds in a store of 100k interactions. So the join order is fixed
 * in the SQL itself, independent of statistics:
 * - SQLite: `CROSS JOIN` is SQLite's documented way to keep the left table outer: the chain
 *   drives, `interactions` is probed by `id` (its primary-key index).
 * - PostgreSQL: a `LATERAL` subquery with `LIMIT 1` cannot be flattened into a join the planner
 *   could reorder or hash: it runs once per chain row, as an index scan on the primary key.
 * test/store/history-plan.test.ts asserts both plans (EXPLAIN), with and without statistics.
 *
 * `stopAt`: interactions whose history the caller has (its tips cache): the walk ends at the
 * first of them it reaches, that row included, instead of at the root.
 */
export function historyQuery(
  kind: DatabaseKind,
  project: string,
  id: string,
  stopAt: readonly string[] = [],
): RawBuilder<HistoryRow> {
  const stop =
    stopAt.length === 0
      ? sql``
      : kind === 'sqlite'
        ? sql` and c.id not in (select value from json_each(${JSON.stringify(stopAt)}))`
        : sql` where c.id <> all(${stopAt}::text[])`;
  const recursiveStep =
    kind === 'sqlite'
      ? sql`select i.id, i.parent_id, i.input_steps, i.output_steps, c.depth + 1
            from chain c cross join interactions i
            where i.id = c.parent_id and i.project = ${project}${stop}`
      : sql`select p.id, p.parent_id, p.input_steps, p.output_steps, c.depth + 1
            from chain c cross join lateral (
              select i.id, i.parent_id, i.input_steps, i.output_steps from interactions i
              where i.id = c.parent_id and i.project = ${project} limit 1
            ) p${stop}`;
  return sql<HistoryRow>`with recursive chain(id, parent_id, input_steps, output_steps, depth) as (
      select id, parent_id, input_steps, output_steps, 0 from interactions
      where id = ${id} and project = ${project}
      union all
      ${recursiveStep}
    )
    select id, parent_id, input_steps, output_steps, depth from chain`;
}
