/**
 * History depth: the server's cost of a turn, a GET and a stream resume at conversation depth 1,
 * 10, 100 and 1,000, in a store that holds many other interactions. Prints Markdown to stdout.
 *
 *   npx tsx bench/history-depth.ts [--db sqlite|postgres] [--filler 100000] [--turns 40]
 *                                  [--depths 1,10,100,1000] [--cpu-prof DIR]
 *
 * Processes as in server-overhead.ts: this one (client), the scripted upstream and the server
 * (SQLite file in a temp dir or a fresh PostgreSQL database). Before the server starts, the store
 * gets `--filler` other interactions (two events each) in the same project, and one chain as deep
 * as the deepest depth, made of copies of a real stored turn. Then, per depth, `--turns`
 * sequential requests of each kind, in rounds over the depths after a warm-up at every depth (one
 * at a time: the p50 is a latency, the CPU the server process's user + system time over the
 * batches divided by the requests):
 * - turn: a stored create with `previous_interaction_id` = the chain's interaction at that depth;
 * - GET: `GET /v1beta/interactions/{id}` of the turn just created;
 * - resume: `GET …/{id}?stream=true&last_event_id=1` of a streamed turn at that depth.
 * Every response is checked; any failure exits non-zero.
 */
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Kysely } from 'kysely';
import { openDatabase, type DatabaseSchema } from '../src/store/database.js';
import { SqlStore } from '../src/store/sql-store.js';
import { createTestDatabase, type StoreKind } from '../test/support/databases.js';
import { KEY_A } from '../test/support/harness.js';
import { BenchChild } from './support/processes.js';
import { fmtMs, summarize } from './support/stats.js';

const { values: argv } = parseArgs({
  options: {
    db: { type: 'string', default: 'sqlite' },
    filler: { type: 'string', default: '100000' },
    turns: { type: 'string', default: '40' },
    depths: { type: 'string', default: '1,10,100,1000' },
    'cpu-prof': { type: 'string' },
  },
});
const dbKind = argv.db as StoreKind;
if (dbKind !== 'sqlite' && dbKind !== 'postgres') throw new Error('--db: sqlite or postgres');
const fillerCount = Number(argv.filler);
const turns = Number(argv.turns);
const depths = argv.depths.split(',').map(Number);
if (!Number.isInteger(fillerCount) || fillerCount < 0) throw new Error('--filler: an integer');
if (!Number.isInteger(turns) || turns < 1) throw new Error('--turns: a positive integer');
if (depths.some((d) => !Number.isInteger(d) || d < 1)) throw new Error('--depths: integers ≥ 1');
const maxDepth = Math.max(...depths);

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const HEADERS = { 'content-type': 'application/json', 'x-goog-api-key': KEY_A };
const ROWS_PER_INSERT = 250;

async function post(url: string, body: object): Promise<Record<string, unknown>> {
  const res = await fetch(`${url}/v1beta/interactions`, {
    method: 'POST',
    headers: HEADERS,
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== 200 || !text.includes('"status":"completed"'))
    throw new Error(`create failed: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/** Inserts the filler and the chain; returns the chain's ids, oldest first. */
async function seed(url: string, template: DatabaseSchema['interactions']): Promise<string[]> {
  const { db } = openDatabase(url);
  try {
    const t0 = performance.now();
    const copy = (id: string, parent: string | null) => ({ ...template, id, parent_id: parent });
    const eventRows = (id: string) => [
      { interaction_id: id, seq: 1, data: `{"event_type":"interaction.created","event_id":"1"}` },
      { interaction_id: id, seq: 2, data: `{"event_type":"interaction.completed","event_id":"2"}` },
    ];
    for (let i = 0; i < fillerCount; i += ROWS_PER_INSERT) {
      const ids = Array.from(
        { length: Math.min(ROWS_PER_INSERT, fillerCount - i) },
        (_, j) => `filler-${i + j}`,
      );
      await db.transaction().execute(async (trx) => {
        await trx
          .insertInto('interactions')
          .values(ids.map((id) => copy(id, null)))
          .execute();
        await trx.insertInto('events').values(ids.flatMap(eventRows)).execute();
      });
    }
    const chain = Array.from({ length: maxDepth }, (_, i) => `chain-${i}`);
    for (let i = 0; i < chain.length; i += ROWS_PER_INSERT) {
      await db
        .insertInto('interactions')
        .values(
          chain.slice(i, i + ROWS_PER_INSERT).map((id, j) => copy(id, chain[i + j - 1] ?? null)),
        )
        .execute();
    }
    log(
      `seeded ${fillerCount} filler interactions and a ${maxDepth}-deep chain in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    return chain;
  } finally {
    await db.destroy();
  }
}

interface Row {
  depth: number;
  turn: { cpuUs: number; p50: number };
  get: { cpuUs: number; p50: number };
  resume: { cpuUs: number; p50: number };
}

const ROUNDS = 4;

/** Server CPU (µs) and latencies of one kind of request at one depth, over several batches. */
class Acc {
  private cpuMs = 0;
  private readonly latencies: number[] = [];

  async measure(server: BenchChild, count: number, fn: () => Promise<void>): Promise<void> {
    await server.sample();
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      await fn();
      this.latencies.push(performance.now() - t0);
    }
    const cpu = await server.sample();
    this.cpuMs += cpu.userMs + cpu.systemMs;
  }

  result(): { cpuUs: number; p50: number } {
    return {
      cpuUs: (this.cpuMs * 1000) / this.latencies.length,
      p50: summarize(this.latencies).p50,
    };
  }
}

async function main(): Promise<void> {
  const db = await createTestDatabase(dbKind);
  const store = SqlStore.open(db.url);
  await store.migrate();
  await store.close();
  const upstream = await BenchChild.start('upstream', ['upstream']);
  let server = await BenchChild.start('server', ['server', upstream.url, db.url]);
  const rows: Row[] = [];
  try {
    // A real stored turn, copied to make the filler and the chain.
    const first = await post(server.url, { model: 'gemini-3.5-flash', input: 'hello' });
    const { db: reader } = openDatabase(db.url);
    const template = await (reader as Kysely<DatabaseSchema>)
      .selectFrom('interactions')
      .selectAll()
      .where('id', '=', String(first.id))
      .executeTakeFirstOrThrow();
    await reader.destroy();
    await server.close();
    const chain = await seed(db.url, template);
    // A fresh server process: nothing of the seeding is cached in it.
    const profArgs = argv['cpu-prof']
      ? ['--cpu-prof', `--cpu-prof-dir=${resolve(argv['cpu-prof'])}`]
      : [];
    server = await BenchChild.start('server', ['server', upstream.url, db.url], profArgs);

    // Per depth: a streamed turn whose events are stored (the resume target).
    const streamedIds = new Map<number, string>();
    for (const depth of depths) {
      const streamed = await fetch(`${server.url}/v1beta/interactions`, {
        method: 'POST',
        headers: HEADERS,
        body: JSON.stringify({
          model: 'gemini-3.5-flash',
          input: 'hello',
          previous_interaction_id: chain[depth - 1],
          stream: true,
        }),
      });
      const streamedText = await streamed.text();
      const streamedId = /"id":"([^"]+)"/.exec(streamedText)?.[1];
      if (!streamedId || !streamedText.includes('event: interaction.completed'))
        throw new Error(`stream failed: ${streamedText.slice(0, 300)}`);
      streamedIds.set(depth, streamedId);
    }
    const turnAt = async (depth: number) =>
      String(
        (
          await post(server.url, {
            model: 'gemini-3.5-flash',
            input: 'hello',
            previous_interaction_id: chain[depth - 1],
          })
        ).id,
      );
    const getOnce = async (id: string) => {
      const res = await fetch(`${server.url}/v1beta/interactions/${id}`, { headers: HEADERS });
      const text = await res.text();
      if (res.status !== 200 || !text.includes(`"id":"${id}"`))
        throw new Error(`GET failed: ${res.status} ${text.slice(0, 200)}`);
    };
    const resumeOnce = async (id: string) => {
      const res = await fetch(
        `${server.url}/v1beta/interactions/${id}?stream=true&last_event_id=1`,
        {
          headers: HEADERS,
        },
      );
      const text = await res.text();
      if (res.status !== 200 || !text.includes('event: interaction.completed'))
        throw new Error(`resume failed: ${res.status} ${text.slice(0, 200)}`);
    };
    // Warm-up (JIT, caches) at every depth, so that no depth pays for the first ones.
    log('warm-up');
    for (let i = 0; i < 40; i++) {
      for (const depth of depths) {
        const id = await turnAt(depth);
        await getOnce(id);
        await resumeOnce(streamedIds.get(depth)!);
      }
    }
    // Rounds over the depths, so that a change of machine load hits every depth alike.
    const acc = new Map(
      depths.map((d) => [d, { turn: new Acc(), get: new Acc(), resume: new Acc() }]),
    );
    const perRound = Math.max(1, Math.round(turns / ROUNDS));
    for (let round = 0; round < ROUNDS; round++) {
      log(`round ${round + 1}/${ROUNDS}`);
      for (const depth of depths) {
        const a = acc.get(depth)!;
        let lastId = '';
        await a.turn.measure(server, perRound, async () => {
          lastId = await turnAt(depth);
        });
        await a.get.measure(server, perRound, () => getOnce(lastId));
        await a.resume.measure(server, perRound, () => resumeOnce(streamedIds.get(depth)!));
      }
    }
    for (const depth of depths) {
      const a = acc.get(depth)!;
      rows.push({ depth, turn: a.turn.result(), get: a.get.result(), resume: a.resume.result() });
    }
  } finally {
    await server.close();
    await upstream.close();
    await db.drop();
  }
  const base = rows.find((r) => r.depth === depths[0])!;
  const out: string[] = [];
  out.push(
    `**${dbKind === 'sqlite' ? 'SQLite' : 'PostgreSQL'}**, ${fillerCount} other interactions in the project, ${turns} requests of each kind per depth (one at a time), node ${process.version}, ${cpus().length}× ${cpus()[0]?.model.trim() ?? 'CPU'}, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(
        ' ',
      )} at the end. CPU = server process user + system per request; ratio = CPU ÷ CPU at depth ${depths[0]}.`,
  );
  out.push('');
  out.push(
    '| depth | turn CPU | turn p50 | ratio | GET CPU | GET p50 | ratio | resume CPU | resume p50 | ratio |',
  );
  out.push('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const us = (v: number) => `${v.toFixed(0)} µs`;
  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
  for (const r of rows) {
    out.push(
      `| ${r.depth} | ${us(r.turn.cpuUs)} | ${fmtMs(r.turn.p50)} | ${ratio(r.turn.cpuUs, base.turn.cpuUs)} | ${us(r.get.cpuUs)} | ${fmtMs(r.get.p50)} | ${ratio(r.get.cpuUs, base.get.cpuUs)} | ${us(r.resume.cpuUs)} | ${fmtMs(r.resume.p50)} | ${ratio(r.resume.cpuUs, base.resume.cpuUs)} |`,
    );
  }
  out.push('');
  process.stdout.write(out.join('\n') + '\n');
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
