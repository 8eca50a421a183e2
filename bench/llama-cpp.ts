/**
 * Benchmark of the llama-cpp backend.
 *
 *   npx tsx bench/llama-cpp.ts [model.gguf] [--threads N] [--turns N] [--tokens N] [--runs N]
 *
 * The model path defaults to $OI_TEST_GGUF, then the test fixture.
 *
 * 1. Decode throughput: createLlamaCppModel().doStream vs node-llama-cpp's
 *    LlamaChatSession, same prompt, same maxTokens, greedy.
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

async function throughput() {
  const prompt = 'Write a long story about a lighthouse keeper.';
  const system = 'You are a helpful assistant.';

  const model = createLlamaCppModel({ modelPath, contextSize: 2048, maxSequences: 1, threads });
  const llama = await getSharedLlama(false);
  const lm = await llama.loadModel({ modelPath, gpuLayers: 0 });
  const ctx = await lm.createContext({ contextSize: 2048, sequences: 1, threads });
  type Run = { e2e: number; decode: number; tokens: number };
  const backend: Run[] = [];
  const direct: Run[] = [];
  const served: Run[] = [];

  // The whole server (HTTP, validation, event log on SQLite, SSE) in its own process, as a client
  // would meet it, on its own copy of the model.
  const dbDir = mkdtempSync(join(tmpdir(), 'oi-bench-'));
  const configPath = writeConfig(dbDir, {
    models: [
      {
        name: '*',
        backend: 'llama-cpp',
        path: modelPath,
        gpu: false,
        context_size: 2048,
        max_sequences: 1,
        threads,
      },
    ],
  });
  const server = await startChildServer([
    '--config',
    configPath,
    '--db',
    `sqlite:${join(dbDir, 'bench.db')}`,
  ]);
  const base = server.baseUrl;
  const runServed = async (i: number) => {
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
    const end = performance.now();
    return {
      e2e: n / ((end - t0) / 1000),
      decode: (n - 1) / ((last - (first ?? end)) / 1000),
      tokens: n,
    };
  };

  const runBackend = async (i: number) => {
    // a different prompt each run so no run benefits from the previous one's cache
    const r = await streamRun(
      model,
      [
        { role: 'system', content: system },
        { role: 'user', content: [{ type: 'text', text: `${prompt} (${i})` }] },
      ],
      maxTokens,
    );
    const n = r.usage.outputTokens.total ?? 0;
    return {
      e2e: n / ((r.end - r.t0) / 1000),
      decode: (n - 1) / ((r.last - r.first) / 1000),
      tokens: n,
    };
  };
  const runDirect = async (i: number) => {
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
    return {
      e2e: n / ((end - t0) / 1000),
      decode: (n - 1) / ((last - (first ?? end)) / 1000),
      tokens: n,
    };
  };

  await runBackend(-1);
  await runDirect(-1);
  await runServed(-1);
  // interleaved, so machine noise hits all alike
  for (let i = 0; i < runs; i++) {
    if (i % 2 === 0) {
      backend.push(await runBackend(i));
      direct.push(await runDirect(i));
      served.push(await runServed(i));
    } else {
      served.push(await runServed(i));
      direct.push(await runDirect(i));
      backend.push(await runBackend(i));
    }
  }
  server.process.kill('SIGTERM');
  await server.exited;
  rmSync(dbDir, { recursive: true, force: true });
  await model.dispose();
  await ctx.dispose();
  await lm.dispose();

  const rows = [
    '| implementation | output tokens | end-to-end tok/s (median) | decode tok/s (median) | decode tok/s (min–max) |',
    '| --- | ---: | ---: | ---: | ---: |',
  ];
  for (const [name, xs] of [
    ['createLlamaCppModel().doStream', backend],
    ['LlamaChatSession (node-llama-cpp)', direct],
    ['through the server (POST stream:true, SSE)', served],
  ] as const) {
    const d = xs.map((b) => b.decode);
    rows.push(
      `| ${name} | ${xs[0]?.tokens} | ${fmt(median(xs.map((b) => b.e2e)))} | ${fmt(median(d))} | ${fmt(Math.min(...d))}–${fmt(Math.max(...d))} |`,
    );
  }
  const ratio = median(served.map((r) => r.decode)) / median(direct.map((r) => r.decode));
  rows.push('', `server / node-llama-cpp decode ratio (medians): ${fmt(ratio, 3)}×`);
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
