/**
 * Server overhead: the same scripted upstream hit directly and through the server, under
 * concurrency. Prints Markdown tables to stdout (progress to stderr); writes nothing into the repo.
 *
 *   npx tsx bench/server-overhead.ts [--connections 16] [--duration 10] [--warmup 3]
 *                                    [--db sqlite|postgres] [--chunks 1000] [--cpu-prof DIR]
 *
 * Four processes: this one (load generator), the fake upstream (test/support/fake-upstream.ts,
 * the default echo script: a role chunk, 2 text chunks, a finish chunk, usage, [DONE]), a bare
 * proxy (node:http in, `undici.request` out, the body piped through: the floor any gateway pays)
 * and the server (src/server.ts, openai-compatible backend → the fake upstream, SQLite file in a
 * temp dir or a fresh PostgreSQL database). Each workload runs against the upstream directly,
 * through the proxy and through the server; CPU is reported per request for every row. The long
 * stream (`--chunks`, 0 to skip) is one answer of that many text chunks. Every response is
 * checked; any failure exits non-zero.
 */
import { execFileSync } from 'node:child_process';
import { cpus, loadavg, totalmem } from 'node:os';
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
    chunks: { type: 'string', default: '1000' },
    'cpu-prof': { type: 'string' },
  },
});
const connections = Number(argv.connections);
const duration = Number(argv.duration);
const warmup = Number(argv.warmup);
const dbKind = argv.db as StoreKind;
const longChunks = Number(argv.chunks);
if (!Number.isInteger(longChunks) || longChunks < 0) throw new Error('--chunks: an integer ≥ 0');
if (!Number.isInteger(connections) || connections < 1)
  throw new Error('--connections: a positive integer');
if (!(duration > 0) || !(warmup >= 0)) throw new Error('--duration / --warmup: seconds');
if (dbKind !== 'sqlite' && dbKind !== 'postgres') throw new Error('--db: sqlite or postgres');

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const problems: string[] = [];

const CREATE_BODY = JSON.stringify({ model: 'gemini-3.5-flash', input: 'hello' });
const STREAM_BODY = JSON.stringify({ model: 'gemini-3.5-flash', input: 'hello', stream: true });
const LONG_BODY = JSON.stringify({
  model: 'gemini-3.5-flash',
  input: `CHUNKS:${longChunks}`,
  stream: true,
});
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

interface LongStreams {
  upstream: StreamResult;
  proxy: StreamResult;
  server: StreamResult;
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
  const proxy = await BenchChild.start('proxy', ['proxy', upstream.url]);
  const server = await BenchChild.start('server', ['server', upstream.url, db.url], profArgs);
  log(`upstream ${upstream.url}, proxy ${proxy.url}, server ${server.url}`);
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
    const proxyTarget = { ...upstreamTarget, url: `${proxy.url}/v1/chat/completions` };

    // 1. Non-streaming create vs the upstream's streamed completion read to the end.
    const loadUpstream = await load('upstream direct', upstreamTarget, upstreamBodyOk, [upstream]);
    const loadProxy = await load('proxy', proxyTarget, upstreamBodyOk, [upstream, proxy]);
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
    const streamProxy = await streams(
      'proxy stream',
      {
        ...proxyTarget,
        isText: (m) => /"content":"[^"]/.test(m),
        verify: (b) => (upstreamBodyOk(b) ? null : 'proxied stream incomplete'),
      },
      [upstream, proxy],
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

    // 3. One long answer: per-chunk cost.
    let long: LongStreams | undefined;
    if (longChunks > 0) {
      const sanity = await fetch(`${server.url}/v1beta/interactions`, {
        method: 'POST',
        headers: SERVER_HEADERS,
        body: LONG_BODY,
      });
      const sanityText = await sanity.text();
      if (!sanityText.endsWith(SERVER_STREAM_END))
        throw new Error(`sanity long stream failed: …${sanityText.slice(-300)}`);
      const longUpstreamBody = JSON.stringify(await upstream.lastRequest());
      const lastWord = `w${longChunks - 1} `;
      const upstreamLongOk = (b: string) =>
        b.includes(`"content":"${lastWord}"`) && b.endsWith('data: [DONE]\n\n')
          ? null
          : 'long stream incomplete';
      const isUpstreamText = (m: string) => /"content":"[^"]/.test(m);
      long = {
        upstream: await streams(
          'long stream: upstream',
          {
            ...upstreamTarget,
            body: longUpstreamBody,
            isText: isUpstreamText,
            verify: upstreamLongOk,
          },
          [upstream],
        ),
        proxy: await streams(
          'long stream: proxy',
          {
            ...proxyTarget,
            body: longUpstreamBody,
            isText: isUpstreamText,
            verify: upstreamLongOk,
          },
          [upstream, proxy],
        ),
        server: await streams(
          'long stream: server',
          {
            url: `${server.url}/v1beta/interactions`,
            headers: SERVER_HEADERS,
            body: LONG_BODY,
            isText: (m) =>
              m.includes('event: step.delta\n') && m.includes('"delta":{"type":"text"'),
            verify: (b) =>
              b.endsWith(SERVER_STREAM_END) &&
              b.includes(lastWord) &&
              b.includes('event: interaction.completed\n')
                ? null
                : `server long stream incomplete: …${b.slice(-200)}`,
          },
          [upstream, server],
        ),
      };
      if ((await server.idle()) > 0) problems.push('runs still active after the long streams');
    }

    // Every interaction the server created must be stored as completed.
    const statuses = await storedStatuses(db.url);
    const stored = Object.values(statuses).reduce((a, b) => a + b, 0);
    const bad = Object.entries(statuses).filter(([s]) => s !== 'completed');
    if (bad.length > 0)
      problems.push(`stored interactions not completed: ${JSON.stringify(statuses)}`);
    const minimum =
      loadServer.result['2xx'] +
      streamServer.run.timings.length +
      (long?.server.run.timings.length ?? 0);
    if (stored < minimum)
      problems.push(`only ${stored} interactions stored, expected at least ${minimum}`);

    printReport({
      loadUpstream,
      loadProxy,
      loadServer,
      streamUpstream,
      streamProxy,
      streamServer,
      long,
      stored,
      upstreamBody,
    });
  } finally {
    await server.close();
    await proxy.close();
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
    // children: the upstream first, then the proxy or the server (whose CPU is "server").
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

/** CPU µs of the measured (second) process per unit, and its event-loop utilisation. */
function cpuMicros(sample: CpuSample | undefined, count: number): number {
  if (!sample || count === 0) return NaN;
  return ((sample.userMs + sample.systemMs) * 1000) / count;
}

const fmtUs = (us: number) => (Number.isFinite(us) ? `${us.toFixed(0)} µs` : '–');

function cpuCell(sample: CpuSample | undefined, count: number): string {
  if (!sample || count === 0) return '–';
  return `${fmtUs(cpuMicros(sample, count))} (ELU ${(sample.eventLoopUtilization * 100).toFixed(0)}%)`;
}

function printReport(r: {
  loadUpstream: LoadResult;
  loadProxy: LoadResult;
  loadServer: LoadResult;
  streamUpstream: StreamResult;
  streamProxy: StreamResult;
  streamServer: StreamResult;
  long: LongStreams | undefined;
  stored: number;
  upstreamBody: string;
}): void {
  const { loadUpstream: lu, loadProxy: lp, loadServer: ls } = r;
  const { streamUpstream: su, streamProxy: sp, streamServer: ss } = r;
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const out: string[] = [];
  out.push(
    `**${dbKind === 'sqlite' ? 'SQLite' : 'PostgreSQL'}**, ${connections} connections, ${duration} s per run (after ${warmup} s warm-up), ` +
      `node ${process.version}, ${cpus().length}× ${cpu.trim()}, ${Math.round(totalmem() / 2 ** 30)} GiB, load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')} at the end, revision ${revision()}. ` +
      `${r.stored} interactions stored, all \`completed\`${problems.length ? ' — **FAILURES, see stderr**' : ''}.`,
  );
  out.push('');
  out.push(
    'Non-streaming create (autocannon; latency = request sent → full response read; CPU = user + system of the proxy or server process per request, ELU = its event-loop utilisation):',
  );
  out.push('');
  out.push('| target | requests | req/s | p50 | p99 | CPU / request |');
  out.push('| --- | ---: | ---: | ---: | ---: | ---: |');
  const loadRow = (label: string, l: LoadResult) =>
    `| ${label} | ${l.result['2xx']} | ${fmtRate(l.reqPerSec)} | ${fmtMs(l.latency.p50)} | ${fmtMs(l.latency.p99)} | ${cpuCell(l.cpu.server, l.result['2xx'])} |`;
  out.push(loadRow('upstream direct (`POST /chat/completions`, stream read to `[DONE]`)', lu));
  out.push(loadRow('bare proxy (node:http → `undici.request`, body piped)', lp));
  out.push(loadRow('server (`POST /v1beta/interactions`, stored)', ls));
  const createCpuRatio =
    cpuMicros(ls.cpu.server, ls.result['2xx']) / cpuMicros(lp.cpu.server, lp.result['2xx']);
  out.push(
    `| **ratio server / proxy** | | ${fmtRatio(ls.reqPerSec / lp.reqPerSec)} | ${fmtRatio(ls.latency.p50 / lp.latency.p50)} | ${fmtRatio(ls.latency.p99 / lp.latency.p99)} | ${fmtRatio(createCpuRatio)} |`,
  );
  out.push('');
  out.push(
    `Streaming (${connections} concurrent clients, one request after the other; first byte = status line and headers, first text = first text token, end = stream complete):`,
  );
  out.push('');
  out.push(
    '| target | streams | streams/s | first byte p50 | p99 | first text p50 | p99 | end p50 | p99 | CPU / stream |',
  );
  out.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const streamRow = (label: string, s: StreamResult) =>
    `| ${label} | ${s.run.timings.length} | ${fmtRate(s.perSec)} | ${fmtMs(s.firstByte.p50)} | ${fmtMs(s.firstByte.p99)} | ${fmtMs(s.firstText.p50)} | ${fmtMs(s.firstText.p99)} | ${fmtMs(s.end.p50)} | ${fmtMs(s.end.p99)} | ${cpuCell(s.cpu.server, s.run.timings.length)} |`;
  const streamRatio = (label: string, a: StreamResult, b: StreamResult) =>
    `| **${label}** | | ${fmtRatio(a.perSec / b.perSec)} | ${fmtRatio(a.firstByte.p50 / b.firstByte.p50)} | ${fmtRatio(a.firstByte.p99 / b.firstByte.p99)} | ${fmtRatio(a.firstText.p50 / b.firstText.p50)} | ${fmtRatio(a.firstText.p99 / b.firstText.p99)} | ${fmtRatio(a.end.p50 / b.end.p50)} | ${fmtRatio(a.end.p99 / b.end.p99)} | ${fmtRatio(cpuMicros(a.cpu.server, a.run.timings.length) / cpuMicros(b.cpu.server, b.run.timings.length))} |`;
  out.push(streamRow('upstream direct (first `content` chunk)', su));
  out.push(streamRow('bare proxy', sp));
  out.push(streamRow('server `"stream":true` (first text `step.delta`)', ss));
  out.push(streamRatio('ratio server / proxy', ss, sp));
  if (r.long) {
    const { upstream: lu2, proxy: lp2, server: ls2 } = r.long;
    out.push('');
    out.push(
      `Long stream: one answer of ${longChunks} text chunks (CPU / chunk = the process's CPU over all streams ÷ (streams × ${longChunks})):`,
    );
    out.push('');
    out.push(
      '| target | streams | streams/s | first byte p50 | p99 | first text p50 | p99 | end p50 | p99 | CPU / stream |',
    );
    out.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    out.push(streamRow('upstream direct', lu2));
    out.push(streamRow('bare proxy', lp2));
    out.push(streamRow('server `"stream":true`', ls2));
    out.push(streamRatio('ratio server / proxy', ls2, lp2));
    out.push('');
    const perChunk = (s: StreamResult) =>
      cpuMicros(s.cpu.server, s.run.timings.length * longChunks);
    out.push(
      `CPU per upstream chunk: proxy ${perChunk(lp2).toFixed(2)} µs, server ${perChunk(ls2).toFixed(2)} µs.`,
    );
  }
  out.push('');
  out.push(
    'CPU time per request of every process (user + system; machine = busy share of all cores, and in brackets the part outside the bench processes: the database and anything else running):',
  );
  out.push('');
  out.push('| run | load generator | upstream process | proxy / server process | machine |');
  out.push('| --- | ---: | ---: | ---: | ---: |');
  const cpuRow = (label: string, c: Cpu, n: number) =>
    `| ${label} | ${fmtUs((c.client * 1000) / n)} | ${cpuCell(c.upstream, n)} | ${cpuCell(c.server, n)} | ${(c.machineBusy * 100).toFixed(0)}% (${(c.outsideBusy * 100).toFixed(0)}%) |`;
  out.push(cpuRow('create: upstream direct', lu.cpu, lu.result['2xx']));
  out.push(cpuRow('create: proxy', lp.cpu, lp.result['2xx']));
  out.push(cpuRow('create: server', ls.cpu, ls.result['2xx']));
  out.push(cpuRow('stream: upstream direct', su.cpu, su.run.timings.length));
  out.push(cpuRow('stream: proxy', sp.cpu, sp.run.timings.length));
  out.push(cpuRow('stream: server', ss.cpu, ss.run.timings.length));
  if (r.long) {
    out.push(
      cpuRow(
        'long stream: upstream direct',
        r.long.upstream.cpu,
        r.long.upstream.run.timings.length,
      ),
    );
    out.push(cpuRow('long stream: proxy', r.long.proxy.cpu, r.long.proxy.run.timings.length));
    out.push(cpuRow('long stream: server', r.long.server.cpu, r.long.server.run.timings.length));
  }
  out.push('');
  process.stdout.write(out.join('\n') + '\n');
  log(`upstream body used for the direct runs: ${r.upstreamBody}`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
