/**
 * History load: `loadHistory` (the store's recursive chain query) at depth 1, 10, 100 and 1,000 in
 * a store holding `filler` other interactions of the same project, no ANALYZE run; then the query
 * plan at depth 1,000 (SQLite: EXPLAIN QUERY PLAN; PostgreSQL: EXPLAIN ANALYZE). In-process, wall
 * time of the call (this process + the database), median of 5.
 *
 *   npx tsx bench/history-load.ts [sqlite|postgres] [filler, default 20000]
 */
import { CompiledQuery } from 'kysely';
import type { Step } from '../src/protocol/types.js';
import { SqlStore } from '../src/store/sql-store.js';
import { createTestDatabase } from '../test/support/databases.js';
import { openDatabase } from '../src/store/database.js';
import { historyQuery } from '../src/store/history-query.js';
const kind = (process.argv[2] ?? 'sqlite') as 'sqlite' | 'postgres';
const db = await createTestDatabase(kind);
const store = SqlStore.open(db.url);
await store.migrate();
const h = openDatabase(db.url);
const rec = (id: string, parent: string | null) => ({
  id,
  project: 'p',
  parentId: parent,
  status: 'completed' as const,
  model: 'm',
  agent: null,
  created: '2026-01-01T00:00:00Z',
  updated: '2026-01-01T00:00:00Z',
  background: false,
  ownerNode: null,
  inputSteps: [{ type: 'user_input', content: [{ type: 'text', text: 'hi' }] }] as Step[],
  outputSteps: [{ type: 'model_output', content: [{ type: 'text', text: 'echo: hi' }] }] as Step[],
  request: {},
  usage: null,
  errors: null,
});
const N = Number(process.argv[3] ?? 20000);
let t = performance.now();
for (let i = 0; i < N; i += 500) {
  await h.db
    .insertInto('interactions')
    .values(
      Array.from({ length: Math.min(500, N - i) }, (_, j) => ({
        id: `f${i + j}`,
        project: 'p',
        parent_id: null,
        status: 'completed',
        model: 'm',
        agent: null,
        created: 'x',
        updated: 'x',
        background: 0,
        owner_node: null,
        input_steps: '[]',
        output_steps: '[]',
        request: '{}',
        usage: null,
        errors: null,
        cancel_requested: 0,
      })),
    )
    .execute();
}
let parent: string | null = null;
for (let i = 0; i < 1000; i++) {
  await store.createInteraction(rec(`c${i}`, parent), []);
  parent = `c${i}`;
}
console.log(
  `${kind}: ${N} filler rows + a 1000-deep chain, seeded in ${((performance.now() - t) / 1000).toFixed(1)} s`,
);
for (const d of [0, 9, 99, 999]) {
  const times: number[] = [];
  for (let k = 0; k < 5; k++) {
    t = performance.now();
    const ch = await store.loadHistory('p', `c${d}`);
    times.push(performance.now() - t);
    if (ch!.steps.length !== 2 * (d + 1)) throw new Error('bad chain');
  }
  times.sort((a, b) => a - b);
  console.log(
    `loadHistory depth ${d + 1}: median ${times[2]!.toFixed(1)} ms (5 runs, wall, this process + database)`,
  );
}
{
  const c = historyQuery(kind, 'p', 'c999').compile(h.db);
  const q = CompiledQuery.raw(
    (kind === 'sqlite' ? 'EXPLAIN QUERY PLAN ' : 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) ') +
      c.sql,
    [...c.parameters],
  );
  console.log(
    (await h.db.executeQuery<Record<string, string | number>>(q)).rows
      .map((r) => (kind === 'sqlite' ? `${r.id} ${r.parent} ${r.detail}` : String(r['QUERY PLAN'])))
      .join('\n'),
  );
}
await store.close();
await h.db.destroy();
await db.drop();
