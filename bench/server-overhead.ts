/**
 * Server overhead: the same scripted upstream hit directly and through the server, under
 * concurrency. Prints Markdown tables to stdout (progress to stderr); writes nothing into the repo.
 *
 *   npx tsx bench/server-overhead.ts [--connections 16] [--duration 10] [--warmup 3]
 *                                    [--db sqlite|postgres] [--cpu-prof DIR]
 *
 * Three processes: this one (load generator), the fake upstream (test/support/fake-upstream.ts,
 * the default echo script: a role chunk, 2 text chunks, a finish chunk, usage, [DONE]) and the
 * server (src/server.ts, openai-compatible backend → the fake upstream, SQLite file in a temp dir
 * or a fresh PostgreSQL database). Every response is checked; any failure exits non-zero.
 */
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { sql, type Kysely } from 'kysely';
import { openDatabase } from '../src/store/database.js';
import { createTestDatabase, type StoreKind } from '../test/support/databases.js';
import { KEY_A } from '../test/support/harness.js';
import { autocannon, type AutocannonResult } from './support/autocannon.js';
import { BenchChild, type CpuSample } from './support/processes.js';
import { fmtMs, fmtRate, fmtRatio, summarize, type Summary } from './support/stats.js';
import { runStreams, type StreamRun, type StreamTarget } from './support/streaming.js';

const { values: argv } = parseArgs({
  options: {
    connections: { type: 'string', default: '16' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    db: { type: 'string', default: 'sqlite' },
    'cpu-prof': { type: 'string' },
  },
});
const connections = Number(argv.connections);
const duration = Number(argv.duration);
const warmup = Number(argv.warmup);
const dbKind = argv.db as StoreKind;
if (!Number.isInteger(connections) || connections < 1)
  throw new Error('--connections: a positive integer');
if (!(duration > 0) || !(warmup >= 0)) throw new Error('--duration / --warmup: seconds');
if (dbKind !== 'sqlite' && dbKind !== 'postgres') throw new Error('--db: sqlite or postgres');

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const problems: string[] = [];

const CREATE_BODY = JSON.stringify({ model: 'gemini-3.5-flash', input: 'hello' });
const STREAM_BODY = JSON.stringify({ model: 'gemini-3.5-flash', input: 'hello', stream: true });
const SERVER_HEADERS = { 'content-type': 'application/json', 'x-goog-api-key': KEY_A };

// Response checks (every response is checked, not sampled).
const upstreamBodyOk = (body: string) =>
  body.includes('"content":"echo: ') && body.endsWith('data: [DONE]\n\n');
const createBodyOk = (body: string) =>
  body.includes('"status":"completed"') &&
  body.includes('"type":"model_output"') &&
  body.includes('echo: ');
const SERVER_STREAM_END = 'event: done\ndata: [DONE]\n\n';

interface LoadResult {
  result: AutocannonResult;
  latency: Summary;
  reqPerSec: number;
  cpu: Cpu;
}

/** CPU during a measured run: per process (ms) and the whole machine (busy share of all cores). */
interface Cpu {
  server?: CpuSample;
  upstream: CpuSample;
  client: number;
  machineBusy: number;
  /** Busy share of all cores outside the three bench processes (the database, anything else). */
  outsideBusy: number;
}

interface StreamResult {
  run: StreamRun;
  firstByte: Summary;
  firstText: Summary;
  end: Summary;
  perSec: number;
  cpu: Cpu;
}

async function main(): Promise<void> {
  const db = await createTestDatabase(dbKind);
  log(`database: ${dbKind === 'sqlite' ? db.url : db.url.replace(/\/\/[^@]*@/, '//…@')}`);
  const upstream = await BenchChild.start('upstream', ['upstream']);
  const profArgs = argv['cpu-prof']
    ? ['--cpu-prof', `--cpu-prof-dir=${resolve(argv['cpu-prof'])}`]
    : [];
  const server = await BenchChild.start('server', ['server', upstream.url, db.url], profArgs);
  log(`upstream ${upstream.url}, server ${server.url}`);
  try {
    // Sanity: one create through the server; the body the AI SDK sent upstream for it is what
    // the direct runs send.
    const check = await fetch(`${server.url}/v1beta/interactions`, {
      method: 'POST',
      headers: SERVER_HEADERS,
      body: CREATE_BODY,
    });
    const checkText = await check.text();
    if (check.status !== 200 || !createBodyOk(checkText))
      throw new Error(`sanity create failed: ${check.status} ${checkText}`);
    const upstreamBody = JSON.stringify(await upstream.lastRequest());
    log(`upstream request body (as sent by the AI SDK): ${upstreamBody}`);

    const upstreamTarget = {
      url: `${upstream.url}/chat/completions`,
      headers: { 'content-type': 'application/json', authorization: 'Bearer upstream-secret' },
      body: upstreamBody,
    };

    // 1. Non-streaming create vs the upstream's streamed completion read to the end.
    const loadUpstream = await load('upstream direct', upstreamTarget, upstreamBodyOk, [upstream]);
    const loadServer = await load(
      'server create',
      { url: `${server.url}/v1beta/interactions`, headers: SERVER_HEADERS, body: CREATE_BODY },
      createBodyOk,
      [upstream, server],
    );
    const stillRunning = await server.idle();
    if (stillRunning > 0) problems.push(`${stillRunning} runs still active after the create load`);

    // 2. Streaming: time to first byte / first text token.
    const streamUpstream = await streams(
      'upstream stream',
      {
        ...upstreamTarget,
        isText: (m) => /"content":"[^"]/.test(m),
        verify: (b) => (upstreamBodyOk(b) ? null : 'upstream stream incomplete'),
      },
      [upstream],
    );
    const streamServer = await streams(
      'server stream',
      {
        url: `${server.url}/v1beta/interactions`,
        headers: SERVER_HEADERS,
        body: STREAM_BODY,
        isText: (m) => m.includes('event: step.delta\n') && m.includes('"delta":{"type":"text"'),
        verify: (b) =>
          b.endsWith(SERVER_STREAM_END) &&
          b.includes('event: interaction.completed\n') &&
          b.includes('"status":"completed"')
            ? null
            : `server stream incomplete: …${b.slice(-200)}`,
      },
      [upstream, server],
    );
    if ((await server.idle()) > 0) problems.push('runs still active after the stream load');

    // Every interaction the server created must be stored as completed.
    const statuses = await storedStatuses(db.url);
    const stored = Object.values(statuses).reduce((a, b) => a + b, 0);
    const bad = Object.entries(statuses).filter(([s]) => s !== 'completed');
    if (bad.length > 0)
      problems.push(`stored interactions not completed: ${JSON.stringify(statuses)}`);
    const minimum = loadServer.result['2xx'] + streamServer.run.timings.length;
    if (stored < minimum)
      problems.push(`only ${stored} interactions stored, expected at least ${minimum}`);

    printReport({ loadUpstream, loadServer, streamUpstream, streamServer, stored, upstreamBody });
  } finally {
    await server.close();
    await upstream.close();
    await db.drop();
    if (argv['cpu-prof']) log(`server CPU profile written to ${resolve(argv['cpu-prof'])}`);
  }
  if (problems.length > 0) {
    for (const p of problems) process.stderr.write(`FAILED: ${p}\n`);
    process.exitCode = 1;
  }
}

/** Starts measuring CPU; the returned function ends the measurement. */
async function measureCpu(children: BenchChild[]): Promise<() => Promise<Cpu>> {
  await Promise.all(children.map((c) => c.sample()));
  const client = process.cpuUsage();
  const machine = machineTimes();
  const start = performance.now();
  return async () => {
    const u = process.cpuUsage(client);
    const m = machineTimes();
    const wallMs = performance.now() - start;
    const [upstream, server] = await Promise.all(children.map((c) => c.sample()));
    const clientMs = (u.user + u.system) / 1000;
    const benchMs = [upstream, server].reduce(
      (a, c) => a + (c ? c.userMs + c.systemMs : 0),
      clientMs,
    );
    const machineBusy = 1 - (m.idle - machine.idle) / (m.total - machine.total);
    return {
      upstream: upstream!,
      server,
      client: clientMs,
      machineBusy,
      outsideBusy: Math.max(0, machineBusy - benchMs / (wallMs * cpus().length)),
    };
  };
}

function machineTimes(): { idle: number; total: number } {
  let idle = 0;
  let total = 0;
  for (const { times } of cpus()) {
    idle += times.idle;
    total += times.user + times.nice + times.sys + times.idle + times.irq;
  }
  return { idle, total };
}

async function load(
  name: string,
  target: { url: string; headers: Record<string, string>; body: string },
  verifyBody: (body: string) => boolean,
  children: BenchChild[],
): Promise<LoadResult> {
  const run = async (seconds: number, latencies?: number[]) => {
    const instance = autocannon({
      url: target.url,
      method: 'POST',
      headers: target.headers,
      body: target.body,
      connections,
      duration: seconds,
      timeout: 30,
      verifyBody,
    });
    // autocannon's own histogram has 1 ms resolution; keep the exact times of 2xx responses.
    if (latencies)
      instance.on(
        'response',
        (_c, status, _b, ms) => status >= 200 && status < 300 && latencies.push(ms),
      );
    const result = await instance;
    const failed = result.errors + result.timeouts + result.non2xx + result.mismatches;
    if (failed > 0) {
      problems.push(
        `${name}: ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx, ${result.mismatches} bad bodies (${JSON.stringify(result.statusCodeStats)})`,
      );
    }
    return result;
  };
  if (warmup > 0) {
    log(`${name}: warm-up ${warmup}s`);
    await run(warmup);
  }
  log(`${name}: ${duration}s × ${connections} connections`);
  const latencies: number[] = [];
  const stopCpu = await measureCpu(children);
  const result = await run(duration, latencies);
  const cpu = await stopCpu();
  return { result, latency: summarize(latencies), reqPerSec: result['2xx'] / result.duration, cpu };
}

async function streams(
  name: string,
  target: StreamTarget,
  children: BenchChild[],
): Promise<StreamResult> {
  const check = (run: StreamRun) => {
    for (const [message, count] of run.failures) problems.push(`${name}: ${count}× ${message}`);
  };
  if (warmup > 0) {
    log(`${name}: warm-up ${warmup}s`);
    check(await runStreams(target, connections, warmup));
  }
  log(`${name}: ${duration}s × ${connections} clients`);
  const stopCpu = await measureCpu(children);
  const run = await runStreams(target, connections, duration);
  const cpu = await stopCpu();
  check(run);
  return {
    run,
    firstByte: summarize(run.timings.map((t) => t.firstByteMs)),
    firstText: summarize(run.timings.map((t) => t.firstTextMs)),
    end: summarize(run.timings.map((t) => t.endMs)),
    perSec: run.timings.length / run.seconds,
    cpu,
  };
}

async function storedStatuses(url: string): Promise<Record<string, number>> {
  const { db } = openDatabase(url);
  try {
    const { rows } = await sql<{
      status: string;
      n: number | string;
    }>`select status, count(*) as n from interactions group by status`.execute(
      db as Kysely<unknown>,
    );
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  } finally {
    await db.destroy();
  }
}

/** The checked-out revision (read-only git queries), so a table can be tied to the code it measured. */
function revision(): string {
  try {
    const git = (...args: string[]) =>
      execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const head = git('rev-parse', '--short', 'HEAD');
    return git('status', '--porcelain', '--', 'src')
      ? `${head} + uncommitted changes in src/`
      : head;
  } catch {
    return 'unknown revision';
  }
}

function cpuPerRequest(sample: CpuSample | undefined, count: number): string {
  if (!sample || count === 0) return '–';
  return `${((sample.userMs + sample.systemMs) / count).toFixed(3)} ms (ELU ${(sample.eventLoopUtilization * 100).toFixed(0)}%)`;
}

function printReport(r: {
  loadUpstream: LoadResult;
  loadServer: LoadResult;
  streamUpstream: StreamResult;
  streamServer: StreamResult;
  stored: number;
  upstreamBody: string;
}): void {
  const { loadUpstream: lu, loadServer: ls, streamUpstream: su, streamServer: ss } = r;
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const out: string[] = [];
  out.push(
    `**${dbKind === 'sqlite' ? 'SQLite' : 'PostgreSQL'}**, ${connections} connections, ${duration} s per run (after ${warmup} s warm-up), ` +
      `node ${process.version}, ${cpus().length}× ${cpu.trim()}, ${Math.round(totalmem() / 2 ** 30)} GiB, revision ${revision()}. ` +
      `${r.stored} interactions stored, all \`completed\`${problems.length ? ' — **FAILURES, see stderr**' : ''}.`,
  );
  out.push('');
  out.push('Non-streaming create (autocannon; latency = request sent → full response read):');
  out.push('');
  out.push('| target | requests | req/s | p50 | p99 |');
  out.push('| --- | ---: | ---: | ---: | ---: |');
  out.push(
    `| upstream direct (\`POST /chat/completions\`, stream read to \`[DONE]\`) | ${lu.result['2xx']} | ${fmtRate(lu.reqPerSec)} | ${fmtMs(lu.latency.p50)} | ${fmtMs(lu.latency.p99)} |`,
  );
  out.push(
    `| server (\`POST /v1beta/interactions\`, stored) | ${ls.result['2xx']} | ${fmtRate(ls.reqPerSec)} | ${fmtMs(ls.latency.p50)} | ${fmtMs(ls.latency.p99)} |`,
  );
  out.push(
    `| **ratio server / upstream** | | ${fmtRatio(ls.reqPerSec / lu.reqPerSec)} | ${fmtRatio(ls.latency.p50 / lu.latency.p50)} | ${fmtRatio(ls.latency.p99 / lu.latency.p99)} |`,
  );
  out.push('');
  out.push(
    `Streaming (${connections} concurrent clients, one request after the other; first byte = status line and headers, first text = first text token, end = stream complete):`,
  );
  out.push('');
  out.push(
    '| target | streams | streams/s | first byte p50 | p99 | first text p50 | p99 | end p50 | p99 |',
  );
  out.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const [label, s] of [
    ['upstream direct (first `content` chunk)', su],
    ['server `"stream":true` (first text `step.delta`)', ss],
  ] as const) {
    out.push(
      `| ${label} | ${s.run.timings.length} | ${fmtRate(s.perSec)} | ${fmtMs(s.firstByte.p50)} | ${fmtMs(s.firstByte.p99)} | ${fmtMs(s.firstText.p50)} | ${fmtMs(s.firstText.p99)} | ${fmtMs(s.end.p50)} | ${fmtMs(s.end.p99)} |`,
    );
  }
  out.push(
    `| **ratio server / upstream** | | ${fmtRatio(ss.perSec / su.perSec)} | ${fmtRatio(ss.firstByte.p50 / su.firstByte.p50)} | ${fmtRatio(ss.firstByte.p99 / su.firstByte.p99)} | ${fmtRatio(ss.firstText.p50 / su.firstText.p50)} | ${fmtRatio(ss.firstText.p99 / su.firstText.p99)} | ${fmtRatio(ss.end.p50 / su.end.p50)} | ${fmtRatio(ss.end.p99 / su.end.p99)} |`,
  );
  out.push('');
  out.push(
    'CPU time per request (user + system; ELU = event-loop utilisation of that process; machine = busy share of all cores, and in brackets the part outside these three processes: the database and anything else running):',
  );
  out.push('');
  out.push('| run | load generator | upstream process | server process | machine |');
  out.push('| --- | ---: | ---: | ---: | ---: |');
  const cpuRow = (label: string, c: Cpu, n: number) =>
    `| ${label} | ${(c.client / n).toFixed(3)} ms | ${cpuPerRequest(c.upstream, n)} | ${cpuPerRequest(c.server, n)} | ${(c.machineBusy * 100).toFixed(0)}% (${(c.outsideBusy * 100).toFixed(0)}%) |`;
  out.push(cpuRow('create: upstream direct', lu.cpu, lu.result['2xx']));
  out.push(cpuRow('create: server', ls.cpu, ls.result['2xx']));
  out.push(cpuRow('stream: upstream direct', su.cpu, su.run.timings.length));
  out.push(cpuRow('stream: server', ss.cpu, ss.run.timings.length));
  out.push('');
  process.stdout.write(out.join('\n') + '\n');
  log(`upstream body used for the direct runs: ${r.upstreamBody}`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
