import { CompiledQuery, sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  openDatabase,
  type DatabaseHandle,
  type DatabaseSchema,
} from '../../src/store/database.js';
import { historyQuery } from '../../src/store/history-query.js';
import { SqlStore } from '../../src/store/sql-store.js';
import { STORE_KINDS, createTestDatabase, type TestDatabase } from '../support/databases.js';

/*
 * The history query's PLAN, not its speed: at every step of the chain the parent must be found
 * through an index on `id` (a keyed lookup), never by scanning the project's interactions — with
 * no statistics at all (SQLite never gathers them by itself; a fresh PostgreSQL table has none),
 * and after ANALYZE.
 */
const FILLER = 3_000;
const DEPTH = 40;

async function fill(db: Kysely<DatabaseSchema>): Promise<void> {
  const row = (id: string, parent: string | null) => ({
    id,
    project: 'p1',
    parent_id: parent,
    status: 'completed',
    model: 'm',
    agent: null,
    created: '2026-06-01T10:00:00Z',
    updated: '2026-06-01T10:00:00Z',
    background: 0,
    owner_node: null,
    input_steps: '[]',
    output_steps: '[]',
    request: '{}',
    usage: null,
    errors: null,
    cancel_requested: 0,
  });
  const filler = Array.from({ length: FILLER }, (_, i) => row(`filler${i}`, null));
  for (let i = 0; i < filler.length; i += 200)
    await db
      .insertInto('interactions')
      .values(filler.slice(i, i + 200))
      .execute();
  const chain = Array.from({ length: DEPTH }, (_, i) => row(`turn${i}`, i ? `turn${i - 1}` : null));
  await db.insertInto('interactions').values(chain).execute();
}

describe.each(STORE_KINDS)('history query plan (%s)', (kind) => {
  let db: TestDatabase;
  let handle: DatabaseHandle;
  beforeAll(async () => {
    db = await createTestDatabase(kind);
    const store = SqlStore.open(db.url);
    await store.migrate();
    await store.close();
    handle = openDatabase(db.url);
    await fill(handle.db);
  });
  afterAll(async () => {
    await handle.db.destroy();
    await db.drop();
  });

  // with and without ancestors to stop at (the caller's cached tips)
  async function plan(stopAt: string[] = []): Promise<string[]> {
    const compiled = historyQuery(kind, 'p1', `turn${DEPTH - 1}`, stopAt).compile(handle.db);
    const explain = kind === 'sqlite' ? 'EXPLAIN QUERY PLAN ' : 'EXPLAIN ';
    const { rows } = await handle.db.executeQuery<Record<string, string>>(
      CompiledQuery.raw(explain + compiled.sql, [...compiled.parameters]),
    );
    return rows.map((r) => (kind === 'sqlite' ? r.detail! : r['QUERY PLAN']!));
  }

  function expectKeyedLookups(lines: string[]): void {
    const text = lines.join('\n');
    if (kind === 'sqlite') {
      // The anchor row and each parent: SEARCH … (id=?), never SCAN of the table.
      expect(text).not.toMatch(/^SCAN (i|interactions)\b/m);
      expect(text).toMatch(
        /^SEARCH interactions USING (INDEX \w+|PRIMARY KEY) \((project=\? AND )?id=\?\)$/m,
      );
      expect(text).toMatch(/^RECURSIVE STEP$/m);
      // The chain drives the join (outer loop), and each step probes the table by the parent id.
      const drive = lines.indexOf('SCAN c');
      const probe = lines.findIndex((l) => /^SEARCH i USING /.test(l));
      expect(drive).toBeGreaterThanOrEqual(0);
      expect(probe).toBeGreaterThan(drive);
      expect(text).toMatch(/^SEARCH i USING (INDEX \w+|PRIMARY KEY) \((project=\? AND )?id=\?\)$/m);
    } else {
      expect(text).not.toMatch(/Seq Scan on interactions|Hash Join|Merge Join|Bitmap/);
      expect(text).toMatch(/Recursive Union/);
      expect(text).toMatch(/Nested Loop/);
      expect(text).toMatch(/WorkTable Scan on chain c/);
      // …and each step probes the primary key (or the (project, id) index) by the parent's id.
      expect(text).toMatch(/Index (Only )?Scan using \w+ on interactions i\b/);
      expect(text).toMatch(/Index Cond: .*\(id = c\.parent_id\)/);
    }
  }

  const STOP_AT = ['turn3', 'filler7', 'elsewhere'];

  it('looks every parent up by id without statistics', async () => {
    expectKeyedLookups(await plan());
    expectKeyedLookups(await plan(STOP_AT));
  });

  it('still does after ANALYZE', async () => {
    await sql`analyze`.execute(handle.db);
    expectKeyedLookups(await plan());
    expectKeyedLookups(await plan(STOP_AT));
  });

  it('walks the whole chain, oldest first, and stays inside the project', async () => {
    const store = SqlStore.open(db.url);
    try {
      const chain = await store.loadHistory('p1', `turn${DEPTH - 1}`);
      expect(chain?.broken).toBe(false);
      const other = await store.loadHistory('p2', `turn${DEPTH - 1}`);
      expect(other).toBeUndefined();
      const { rows } = await historyQuery(kind, 'p1', `turn${DEPTH - 1}`).execute(handle.db);
      expect(rows).toHaveLength(DEPTH);
      expect(new Set(rows.map((r) => r.id)).size).toBe(DEPTH);
      // told where to stop, it ends at the first of those ancestors it reaches, that one included
      const { rows: part } = await historyQuery(kind, 'p1', `turn${DEPTH - 1}`, STOP_AT).execute(
        handle.db,
      );
      expect(part.map((r) => [r.id, Number(r.depth)])).toEqual(
        Array.from({ length: DEPTH - 3 }, (_, i) => [`turn${DEPTH - 1 - i}`, i]),
      );
    } finally {
      await store.close();
    }
  });
});
