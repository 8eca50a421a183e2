/**
 * Run queue throughput: background runs completed per second on 1 and on 3 server nodes sharing
 * one PostgreSQL database (pg-boss run queue), and on one SQLite node (in-process queue) as a
 * reference. Prints a Markdown table.
 *
 *   npx tsx bench/queue-throughput.ts [--runs 200] [--nodes 1,3] [--concurrency 16] [--sqlite true]
 *                                     [--warmup 10] [--notify true]
 *
 * Per configuration: a fresh database, one scripted-upstream process (it answers each request
 * with a short echo at once) and `nodes` real server processes (bench/support/child.ts, distinct
 * node ids, default settings; `--notify false` turns off the LISTEN/NOTIFY wake-ups). This process creates `--runs` background interactions
 * (`background: true`, `POST /v1beta/interactions`), `--concurrency` creates in flight, spread
 * round-robin over the nodes, and polls the store (one COUNT query every 25 ms) until every one
 * is terminal. Throughput = runs / (time from the first create sent to all terminal); create
 * latency = time until the create's response (the interaction, `in_progress`) was read; server
 * CPU / run = user + system CPU time of all server processes over the measurement, divided by
 * the runs (less dependent on a busy machine than the wall times; PostgreSQL's own CPU is not in it).
 *
 * Under the current design the node that accepts a background run runs it at once; its queue
 * job (recorded before the interaction) is only handed out when that node dies. So the 3-node
 * rows measure three nodes behind a client that spreads its creates, plus the queue's cost per
 * run (one job sent and deleted), not nodes pulling work from a shared queue.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import pg from 'pg';
import { TERMINAL_STATUSES } from '../src/protocol/types.js';
import { createTestDatabase, type StoreKind } from '../test/support/databases.js';
import { KEY_A } from '../test/support/harness.js';
import { BenchChild } from './support/processes.js';
import { fmtMs, summarize } from './support/stats.js';

const { values: argv } = parseArgs({
  options: {
    runs: { type: 'string', default: '200' },
    nodes: { type: 'string', default: '1,3' },
    concurrency: { type: 'string', default: '16' },
    sqlite: { type: 'string', default: 'true' },
    warmup: { type: 'string', default: '10' },
    notify: { type: 'string', default: 'true' },
  },
});
const runs = Number(argv.runs);
const nodeCounts = argv.nodes.split(',').map(Number);
const concurrency = Number(argv.concurrency);
const warmup = Number(argv.warmup);
/** A configuration that has not finished in this long is reported as timed out. */
const TIMEOUT_MS = 120_000;
const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const headers = { 'content-type': 'application/json', 'x-goog-api-key': KEY_A };
const terminal = [...TERMINAL_STATUSES];

/** Read-only store queries from the bench process (the nodes are separate processes). */
interface StoreProbe {
  /** Measured interactions (input `run …`) in a terminal status. */
  terminalCount(): Promise<number>;
  /** Measured interactions by status and by the node that ran them. */
  breakdown(): Promise<{ status: string; owner: string | null; n: number }[]>;
  close(): Promise<void>;
}

async function probe(kind: StoreKind, url: string): Promise<StoreProbe> {
  // Warm-up interactions are told apart by their `background` flag: they are created in the
  // foreground (so they are finished when the warm-up is) and the measured ones in background.
  if (kind === 'sqlite') {
    const db = new Database(url.slice('sqlite:'.length), { readonly: true, fileMustExist: true });
    const marks = terminal.map(() => '?').join(',');
    const count = db.prepare(
      `SELECT count(*) AS n FROM interactions WHERE background = 1 AND status IN (${marks})`,
    );
    const groups = db.prepare(
      `SELECT status, owner_node AS owner, count(*) AS n FROM interactions
       WHERE background = 1 GROUP BY status, owner_node ORDER BY owner_node, status`,
    );
    return {
      terminalCount: async () => (count.get(...terminal) as { n: number }).n,
      breakdown: async () => groups.all() as { status: string; owner: string | null; n: number }[],
      close: async () => {
        db.close();
      },
    };
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return {
    async terminalCount() {
      const r = await client.query<{ n: string }>(
        `SELECT count(*) AS n FROM interactions WHERE background = 1 AND status = ANY($1)`,
        [terminal],
      );
      return Number(r.rows[0]!.n);
    },
    async breakdown() {
      const r = await client.query<{ status: string; owner: string | null; n: string }>(
        `SELECT status, owner_node AS owner, count(*) AS n FROM interactions
         WHERE background = 1 GROUP BY status, owner_node ORDER BY owner_node, status`,
      );
      return r.rows.map((row) => ({ ...row, n: Number(row.n) }));
    },
    close: () => client.end(),
  };
}

async function create(url: string, input: string, background: boolean): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1beta/interactions`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ model: 'gemini-3.5-flash', input, background }),
  });
  const body = (await res.json()) as { status?: string };
  const ms = performance.now() - t0;
  if (res.status !== 200) throw new Error(`create: HTTP ${res.status} ${JSON.stringify(body)}`);
  if (background && body.status !== 'in_progress' && !TERMINAL_STATUSES.has(body.status as never))
    throw new Error(`create: unexpected status ${body.status}`);
  return ms;
}

interface Row {
  label: string;
  seconds: number;
  /** When the last create's response was read (seconds after the first was sent). */
  createdSeconds: number;
  /** CPU time (user + system) of all server processes during the measurement, per run. */
  cpuMsPerRun: number;
  createMs: number[];
  breakdown: { status: string; owner: string | null; n: number }[];
  timedOut: boolean;
}

async function measure(kind: StoreKind, nodeCount: number): Promise<Row> {
  const label = `${kind === 'postgres' ? 'PostgreSQL' : 'SQLite'}, ${nodeCount} node${nodeCount > 1 ? 's' : ''}`;
  const db = await createTestDatabase(kind);
  const upstream = await BenchChild.start('upstream', ['upstream']);
  const nodes: BenchChild[] = [];
  let store: StoreProbe | undefined;
  try {
    // One after the other: the first creates the schema (migrations, pg-boss), the others find it.
    for (let i = 0; i < nodeCount; i++)
      nodes.push(
        await BenchChild.start(`node-${i}`, ['server', upstream.url, db.url, `node-${i}`]),
      );
    store = await probe(kind, db.url);
    // Warm-up: `--warmup` foreground creates on each node (JIT, connection pools), not counted.
    for (const node of nodes)
      for (let i = 0; i < warmup; i++) await create(node.url, `warm ${i}`, false);

    log(`${label}: ${runs} background runs, ${concurrency} creates in flight`);
    const createMs: number[] = [];
    let next = 0;
    for (const node of nodes) await node.sample();
    const start = performance.now();
    const client = async () => {
      for (let i = next++; i < runs; i = next++)
        createMs.push(await create(nodes[i % nodeCount]!.url, `run ${i}`, true));
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, runs) }, client));
    const createdSeconds = (performance.now() - start) / 1000;
    let done = await store.terminalCount();
    while (done < runs && performance.now() - start < TIMEOUT_MS) {
      await new Promise((r) => setTimeout(r, 25));
      done = await store.terminalCount();
    }
    const seconds = (performance.now() - start) / 1000;
    let cpuMs = 0;
    for (const node of nodes) {
      const cpu = await node.sample();
      cpuMs += cpu.userMs + cpu.systemMs;
    }
    return {
      label,
      seconds,
      createdSeconds,
      cpuMsPerRun: cpuMs / runs,
      createMs,
      breakdown: await store.breakdown(),
      timedOut: done < runs,
    };
  } finally {
    await store?.close();
    for (const node of nodes) await node.close();
    await upstream.close();
    await db.drop();
  }
}

const configs: [StoreKind, number][] = nodeCounts.map((n) => ['postgres', n]);
if (argv.sqlite !== 'false') configs.push(['sqlite', 1]);
const rows: Row[] = [];
for (const [kind, n] of configs) rows.push(await measure(kind, n));

console.log(
  '| store, nodes | runs | all created | all terminal | runs/s | create p50 | create p99 | server CPU / run | outcome (per node) |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const row of rows) {
  const s = summarize(row.createMs);
  const outcome = row.breakdown.map((b) => `${b.owner ?? '-'}: ${b.n} ${b.status}`).join(', ');
  console.log(
    `| ${row.label} | ${runs} | ${row.createdSeconds.toFixed(2)} s | ${row.seconds.toFixed(2)} s | ${row.timedOut ? 'timed out' : (runs / row.seconds).toFixed(1)} | ${fmtMs(s.p50)} | ${fmtMs(s.p99)} | ${row.cpuMsPerRun.toFixed(1)} ms | ${outcome} |`,
  );
}
