/**
 * The store's share of one stored non-streaming create, in-process (no HTTP, no model): the
 * write pattern before issue 11 (the row and the first two events in one transaction, the other
 * four events and the final state in a second one with an UPDATE) against the current one (the
 * row in its final state and all six events written together: one transaction on SQLite, one
 * statement on PostgreSQL). Prints CPU (user + system of this process) and wall time per create.
 *
 *   npx tsx bench/store-create.ts [--db sqlite|postgres] [--creates 2000] [--rounds 3]
 *
 * Rounds alternate between the two patterns, so that a machine whose load changes treats both
 * alike. On PostgreSQL the server's own CPU is not counted (it runs in other processes).
 */
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { InteractionRecord, InteractionUpdate, StoredEvent } from '../src/store/types.js';
import { SqlStore } from '../src/store/sql-store.js';
import { createTestDatabase, type StoreKind } from '../test/support/databases.js';

const { values: argv } = parseArgs({
  options: {
    db: { type: 'string', default: 'sqlite' },
    creates: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '3' },
  },
});
const kind = argv.db as StoreKind;
if (kind !== 'sqlite' && kind !== 'postgres') throw new Error('--db: sqlite or postgres');
const creates = Number(argv.creates);
const rounds = Number(argv.rounds);

const text = (type: string, value: string) => ({ type, content: [{ type: 'text', text: value }] });
const event = (seq: number): StoredEvent => ({
  seq,
  data: JSON.stringify({
    event_type: 'step.delta',
    event_id: String(seq),
    index: 0,
    delta: { type: 'text', text: 'echo: hello' },
  }),
});
const record = (id: string): InteractionRecord => ({
  id,
  project: 'bench',
  parentId: null,
  status: 'in_progress',
  model: 'gemini-3.5-flash',
  agent: null,
  created: '2026-12-02T12:00:00Z',
  updated: '2026-12-02T12:00:00Z',
  background: false,
  ownerNode: 'node',
  inputSteps: [text('user_input', 'hello')] as never,
  outputSteps: null,
  request: { model: 'gemini-3.5-flash', input: 'hello' },
  usage: null,
  errors: null,
});
const final: InteractionUpdate = {
  status: 'completed',
  updated: '2026-12-02T12:00:01Z',
  outputSteps: [text('model_output', 'echo: hello')] as never,
  usage: { total_tokens: 10 } as never,
};

async function main(): Promise<void> {
  const db = await createTestDatabase(kind);
  const store = SqlStore.open(db.url);
  await store.migrate();
  let n = 0;
  const patterns = {
    'two transactions (before)': async () => {
      const id = `b${n++}`;
      await store.createInteraction(record(id), [event(1), event(2)]);
      await store.appendEvents([
        { interactionId: id, events: [event(3), event(4), event(5), event(6)], update: final },
      ]);
    },
    'written whole (after)': async () => {
      const id = `a${n++}`;
      await store.appendEvents([
        {
          interactionId: id,
          create: record(id),
          events: [1, 2, 3, 4, 5, 6].map(event),
          update: final,
        },
      ]);
    },
  };
  for (const run of Object.values(patterns)) for (let i = 0; i < 200; i++) await run();
  const results = new Map<string, { cpu: number[]; wall: number[] }>();
  for (let round = 0; round < rounds; round++) {
    for (const [name, run] of Object.entries(patterns)) {
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < creates; i++) await run();
      const cpu = process.cpuUsage(cpu0);
      const r = results.get(name) ?? { cpu: [], wall: [] };
      r.cpu.push((cpu.user + cpu.system) / creates);
      r.wall.push(((performance.now() - t0) * 1000) / creates);
      results.set(name, r);
    }
  }
  await store.close();
  await db.drop();
  const fmt = (xs: number[]) => xs.map((x) => `${Math.round(x)}`).join(' / ');
  console.log(
    `**${kind}**, ${creates} creates per round, ${rounds} rounds, node ${process.version}, ${cpus().length}× ${cpus()[0]?.model.trim() ?? 'CPU'}, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} at the end.\n`,
  );
  console.log(
    '| write pattern | CPU µs per create (each round) | wall µs per create (each round) |',
  );
  console.log('| --- | ---: | ---: |');
  for (const [name, r] of results) console.log(`| ${name} | ${fmt(r.cpu)} | ${fmt(r.wall)} |`);
}

await main();
