/**
 * Benchmark of the llama-cpp backend.
 *
 *   npx tsx bench/llama-cpp.ts [model.gguf] [--threads N] [--turns N] [--tokens N] [--runs N]
 *
 * The model path defaults to $OI_TEST_GGUF, then the test fixture.
 *
 * 1. Decode throughput: node-llama-cpp's LlamaChatSession used directly vs our in-process
 *    model (createLlamaCppModel().doStream) vs the whole server in its own process (streamed
 *    over HTTP; with stream_batch_ms 100 (default), 50 and 0 (every token)); same
 *    prompt, same maxTokens, greedy, in interleaved rounds with a ratio per round.
 * 2. Time to first token of turn N of one conversation (N = 1…turns), with
 *    KV-cache reuse vs. without (kvReuse: false evaluates every prompt from
 *    scratch), replaying the same prompts.
 *
 * Prints Markdown tables.
 */
import { execSync } from 'node:child_process';
import { cpus } from 'node:os';
import type {
  LanguageModelV3Prompt,
  LanguageModelV3StreamPart,
  LanguageModelV3Usage,
} from '@ai-sdk/provider';
import { LlamaChatSession } from 'node-llama-cpp';
import {
  createLlamaCppModel,
  getSharedLlama,
  type LlamaCppLanguageModel,
} from '../src/models/llama-cpp/index.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startChildServer, writeConfig } from '../test/support/child-server.js';

const args = process.argv.slice(2);
function flag(name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  if (i >= 0 && args[i + 1] !== undefined) {
    const v = Number(args[i + 1]);
    args.splice(i, 2);
    return v;
  }
  return fallback;
}
const threads = flag('threads', 1);
const turns = flag('turns', 50);
const maxTokens = flag('tokens', 256);
const runs = flag('runs', 9);
const answerTokens = flag('answer-tokens', 16);
const modelPath =
  args[0] ?? process.env.OI_TEST_GGUF ?? '/work/shared/models/llama-2-tiny-random.gguf';

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const fmt = (n: number, d = 1) => n.toFixed(d);

async function streamRun(
  model: LlamaCppLanguageModel,
  prompt: LanguageModelV3Prompt,
  tokens: number,
) {
  const t0 = performance.now();
  const { stream } = await model.doStream({ prompt, maxOutputTokens: tokens });
  let first: number | undefined;
  let last = t0;
  let text = '';
  let usage: LanguageModelV3Usage | undefined;
  for await (const part of stream as unknown as AsyncIterable<LanguageModelV3StreamPart>) {
    if (part.type === 'text-delta') {
      const now = performance.now();
      first ??= now;
      last = now;
      text += part.delta;
    } else if (part.type === 'finish') usage = part.usage;
  }
  const end = performance.now();
  return { t0, first: first ?? end, last, end, text, usage: usage as LanguageModelV3Usage };
}

interface Run {
  /** output tokens / (end − request start) */
  e2e: number;
  /** (tokens − 1) / (last text − first text) */
  decode: number;
  /** first text − request start, ms */
  ttft: number;
  tokens: number;
}

function runOf(t0: number, first: number | undefined, last: number, end: number, n: number): Run {
  return {
    e2e: n / ((end - t0) / 1000),
    decode: (n - 1) / ((last - (first ?? end)) / 1000),
    ttft: (first ?? end) - t0,
    tokens: n,
  };
}

async function throughput() {
  const prompt = 'Write a long story about a lighthouse keeper.';
  const system = 'You are a helpful assistant.';

  const model = createLlamaCppModel({ modelPath, contextSize: 2048, maxSequences: 1, threads });
  const llama = await getSharedLlama(false);
  const lm = await llama.loadModel({ modelPath, gpuLayers: 0 });
  const ctx = await lm.createContext({ contextSize: 2048, sequences: 1, threads });

  // The whole server (HTTP, validation, event log on SQLite, SSE, the model on its worker
  // thread) in its own process, as a client meets it: as configured by default (text handed
  // over at most every 100 ms), every 50 ms, and every token, to show what the pacing buys.
  const dbDir = mkdtempSync(join(tmpdir(), 'oi-bench-'));
  const servers: { name: string; baseUrl: string; stop: () => Promise<unknown> }[] = [];
  for (const [name, batch] of [
    ['through the server (default: stream_batch_ms 100)', undefined],
    ['through the server, stream_batch_ms 50', 50],
    ['through the server, stream_batch_ms 0 (every token)', 0],
  ] as const) {
    const dir = mkdtempSync(join(dbDir, 's-'));
    const configPath = writeConfig(dir, {
      models: [
        {
          name: '*',
          backend: 'llama-cpp',
          path: modelPath,
          gpu: false,
          context_size: 2048,
          max_sequences: 1,
          threads,
          ...(batch !== undefined ? { stream_batch_ms: batch } : {}),
        },
      ],
    });
    const server = await startChildServer([
      '--config',
      configPath,
      '--db',
      `sqlite:${join(dir, 'bench.db')}`,
    ]);
    servers.push({
      name,
      baseUrl: server.baseUrl,
      stop: () => {
        server.process.kill('SIGTERM');
        return server.exited;
      },
    });
  }

  const runServed = async (base: string, i: number): Promise<Run> => {
    const t0 = performance.now();
    const res = await fetch(`${base}/v1beta/interactions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'gemini-3.5-flash',
        system_instruction: system,
        input: `${prompt} (${i})`,
        stream: true,
        generation_config: { max_output_tokens: maxTokens },
      }),
    });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let first: number | undefined;
    let last = t0;
    let buffered = '';
    let n = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffered += decoder.decode(value, { stream: true });
      const now = performance.now();
      if (buffered.includes('"type":"text"')) {
        first ??= now;
        last = now;
      }
      const usage = /"total_output_tokens":(\d+)/.exec(buffered);
      if (usage) n = Number(usage[1]);
      buffered = buffered.slice(Math.max(0, buffered.lastIndexOf('\n\n')));
    }
    return runOf(t0, first, last, performance.now(), n);
  };

  const runBackend = async (i: number): Promise<Run> => {
    // a different prompt each run so no run benefits from the previous one's cache
    const r = await streamRun(
      model,
      [
        { role: 'system', content: system },
        { role: 'user', content: [{ type: 'text', text: `${prompt} (${i})` }] },
      ],
      maxTokens,
    );
    return runOf(r.t0, r.first, r.last, r.end, r.usage.outputTokens.total ?? 0);
  };
  const runDirect = async (i: number): Promise<Run> => {
    const seq = ctx.getSequence();
    const session = new LlamaChatSession({ contextSequence: seq, systemPrompt: system });
    const meter = seq.tokenMeter.getState();
    const t0 = performance.now();
    let first: number | undefined;
    let last = t0;
    await session.prompt(`${prompt} (${i})`, {
      maxTokens,
      onTextChunk: () => {
        const now = performance.now();
        first ??= now;
        last = now;
      },
    });
    const end = performance.now();
    const n = seq.tokenMeter.diff(meter).usedOutputTokens;
    session.dispose({ disposeSequence: true });
    return runOf(t0, first, last, end, n);
  };

  const direct: Run[] = [];
  const backend: Run[] = [];
  const served: Run[][] = servers.map(() => []);
  /** Per round: each implementation's decode rate over the mean of the two direct runs around it. */
  const pairRatios: number[][] = [[], ...servers.map(() => [])];
  await runDirect(-1);
  await runBackend(-1);
  for (const s of servers) await runServed(s.baseUrl, -1);
  // Rounds of direct, others, direct: machine noise (which drifts by ±20 % here) hits a round's
  // runs alike, and the ratio is taken within the round.
  for (let i = 0; i < runs; i++) {
    const before = await runDirect(i);
    const others: Run[] = [];
    const order = [() => runBackend(i), ...servers.map((s) => () => runServed(s.baseUrl, i))];
    const results = new Array<Run>(order.length);
    const idx = order.map((_, k) => k);
    if (i % 2) idx.reverse();
    for (const k of idx) results[k] = await order[k]!();
    others.push(...results);
    const after = await runDirect(i + 10_000);
    direct.push(before, after);
    const ref = (before.decode + after.decode) / 2;
    backend.push(others[0]!);
    pairRatios[0]!.push(others[0]!.decode / ref);
    servers.forEach((_, k) => {
      served[k]!.push(others[k + 1]!);
      pairRatios[k + 1]!.push(others[k + 1]!.decode / ref);
    });
  }
  for (const s of servers) await s.stop();
  rmSync(dbDir, { recursive: true, force: true });
  await model.dispose();
  await ctx.dispose();
  await lm.dispose();

  const rows = [
    '| implementation | output tokens | decode tok/s (median) | decode tok/s (min–max) | decode ÷ direct (median of rounds) | end-to-end tok/s (median) | TTFT ms (median) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  const table: [string, Run[], number[] | undefined][] = [
    ['LlamaChatSession (node-llama-cpp), used directly', direct, undefined],
    ['createLlamaCppModel().doStream (in-process)', backend, pairRatios[0]],
    ...servers.map((s, k): [string, Run[], number[]] => [s.name, served[k]!, pairRatios[k + 1]!]),
  ];
  for (const [name, xs, ratios] of table) {
    const d = xs.map((b) => b.decode);
    rows.push(
      `| ${name} | ${xs[0]?.tokens} | ${fmt(median(d))} | ${fmt(Math.min(...d))}–${fmt(Math.max(...d))} | ${ratios ? `${fmt(median(ratios), 3)}×` : '1'} | ${fmt(median(xs.map((b) => b.e2e)))} | ${fmt(median(xs.map((b) => b.ttft)))} |`,
    );
  }
  return rows.join('\n');
}

async function ttft() {
  const contextSize = 4096;
  const reuse = createLlamaCppModel({ modelPath, contextSize, maxSequences: 1, threads });
  const cold = createLlamaCppModel({
    modelPath,
    contextSize,
    maxSequences: 1,
    threads,
    kvReuse: false,
  });
  const prompt: LanguageModelV3Prompt = [
    { role: 'system', content: 'You are a helpful assistant. Keep answers short.' },
  ];
  await streamRun(reuse, [{ role: 'user', content: [{ type: 'text', text: 'warm up' }] }], 2);
  await streamRun(cold, [{ role: 'user', content: [{ type: 'text', text: 'warm up' }] }], 2);
  const results: {
    n: number;
    prompt: number;
    evalReuse: number;
    ttftReuse: number;
    evalCold: number;
    ttftCold: number;
  }[] = [];
  for (let n = 1; n <= turns; n++) {
    prompt.push({
      role: 'user',
      content: [{ type: 'text', text: `Question number ${n}: what happens next in the story?` }],
    });
    const r = await streamRun(reuse, prompt, answerTokens);
    if ((r.usage.inputTokens.total ?? 0) + answerTokens + 64 >= contextSize) break;
    const c = await streamRun(cold, prompt, answerTokens);
    results.push({
      n,
      prompt: r.usage.inputTokens.total ?? 0,
      evalReuse: r.usage.inputTokens.noCache ?? 0,
      ttftReuse: r.first - r.t0,
      evalCold: c.usage.inputTokens.noCache ?? 0,
      ttftCold: c.first - c.t0,
    });
    prompt.push({ role: 'assistant', content: [{ type: 'text', text: r.text }] });
  }
  await reuse.dispose();
  await cold.dispose();

  // Buckets of 10 turns with medians: single turns are at the mercy of machine noise.
  const rows = [
    '| turns | prompt tokens (mean) | evaluated, reuse (mean) | TTFT ms, reuse (median) | evaluated, no reuse (mean) | TTFT ms, no reuse (median) | speed-up (medians) |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const bucket = Math.max(1, Math.min(10, Math.ceil(results.length / 5)));
  for (let i = 0; i < results.length; i += bucket) {
    const b = results.slice(i, i + bucket);
    const mr = median(b.map((r) => r.ttftReuse));
    const mc = median(b.map((r) => r.ttftCold));
    rows.push(
      `| ${b[0]?.n}–${b.at(-1)?.n} | ${fmt(mean(b.map((r) => r.prompt)), 0)} | ${fmt(mean(b.map((r) => r.evalReuse)), 0)} | ${fmt(mr)} | ${fmt(mean(b.map((r) => r.evalCold)), 0)} | ${fmt(mc)} | ${fmt(mc / mr)}× |`,
    );
  }
  const sum = (f: (r: (typeof results)[number]) => number) => results.reduce((a, r) => a + f(r), 0);
  rows.push(
    `| all ${results.length} (sums) | ${sum((r) => r.prompt)} | ${sum((r) => r.evalReuse)} | ${fmt(sum((r) => r.ttftReuse))} (sum) | ${sum((r) => r.evalCold)} | ${fmt(sum((r) => r.ttftCold))} (sum) | ${fmt(sum((r) => r.ttftCold) / sum((r) => r.ttftReuse))}× |`,
  );
  return rows.join('\n');
}

function machine(): string {
  let nproc = String(cpus().length);
  try {
    nproc = execSync('nproc').toString().trim();
  } catch {
    /* not on Linux */
  }
  return `nproc ${nproc}, ${cpus()[0]?.model ?? 'unknown CPU'}, node ${process.version}, threads ${threads}`;
}

const header = `# llama-cpp backend benchmark\n\nmodel: \`${modelPath}\`  \nmachine: ${machine()}\n`;
console.log(header);
console.log(`## Decode throughput (${maxTokens} tokens, greedy, ${runs} runs)\n`);
console.log(await throughput());
console.log(
  `\n## Time to first token of turn N (answers of ${answerTokens} tokens, contextSize 4096)\n`,
);
console.log(await ttft());
