/**
 * What embedding with a local GGUF costs the server's own thread: the llama-cpp embedding model
 * in-process (on the calling thread) against the same model on its worker thread (what the
 * server runs), both through `embedAll` exactly as file-search ingestion calls it.
 *
 *   npx tsx bench/embeddings.ts [model.gguf] [--texts N] [--chars N] [--rounds N] [--context N]
 *
 * The model defaults to ../shared/models/stories260K.gguf (1 llama.cpp thread). For each round
 * and each mode (order alternating between rounds) it embeds N texts of about `chars` characters
 * (made-up prose, different per text) and measures on the calling thread:
 * - main-thread busy time (event-loop utilisation × wall time), per text;
 * - the event loop's delay (`monitorEventLoopDelay`, 1 ms resolution): p99 and max, i.e. how
 *   long a request arriving meanwhile would have waited;
 * - texts per second.
 * Prints a Markdown table of medians over the rounds.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { resolve } from 'node:path';
import { createLlamaCppEmbeddingModel } from '../src/models/llama-cpp/embedding.js';
import { embedAll } from '../src/models/embeddings/embed-all.js';
import { createLlamaCppWorkerEmbeddingModel } from '../src/models/embeddings/llama-cpp-worker.js';
import type { ResolvedEmbeddingModel } from '../src/models/embeddings/types.js';

const args = process.argv.slice(2);
function flag(name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  if (i < 0 || args[i + 1] === undefined) return fallback;
  const value = Number(args[i + 1]);
  args.splice(i, 2);
  return value;
}
const count = flag('texts', 400);
const chars = flag('chars', 1200);
const rounds = flag('rounds', 5);
const contextSize = flag('context', 512);
const modelPath = resolve(args[0] ?? '../shared/models/stories260K.gguf');

const WORDS =
  'the a little girl dog park ran happy sun tree boat river played found asked mother friend ' +
  'big small red blue day night home school ball cat bird flew sang jumped looked said went';
const vocabulary = WORDS.split(' ');
/** Deterministic prose: text i differs from text j. */
function text(i: number): string {
  let out = '';
  let state = i * 2654435761;
  while (out.length < chars) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    out += `${vocabulary[state % vocabulary.length]}${state % 11 === 0 ? '. ' : ' '}`;
  }
  return out;
}
const texts = Array.from({ length: count }, (_, i) => text(i));

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

interface Sample {
  busyMsPerText: number;
  p99Ms: number;
  maxMs: number;
  textsPerSecond: number;
}

async function measure(target: Pick<ResolvedEmbeddingModel, 'model' | 'request' | 'batching'>) {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  const elu = performance.eventLoopUtilization();
  const start = performance.now();
  histogram.enable();
  await embedAll(target, texts, { kind: 'document' });
  histogram.disable();
  const wall = performance.now() - start;
  const used = performance.eventLoopUtilization(elu);
  return {
    busyMsPerText: (used.utilization * wall) / count,
    p99Ms: histogram.percentile(99) / 1e6,
    maxMs: histogram.max / 1e6,
    textsPerSecond: count / (wall / 1000),
  } satisfies Sample;
}

const options = {
  modelPath,
  contextSize,
  threads: 1,
  gpu: false as const,
  maxEmbeddingsPerCall: 16,
};
const batching = { maxTexts: 16, maxBytes: 256 * 1024, maxParallelCalls: 1 };
const request = () => ({ prefix: '' });
const modes = {
  'in-process (calling thread)': createLlamaCppEmbeddingModel(options),
  'worker thread (the server)': createLlamaCppWorkerEmbeddingModel(options),
};
const samples = new Map<string, Sample[]>(Object.keys(modes).map((k) => [k, []]));

// warm up: load the model in both, once
for (const model of Object.values(modes))
  await embedAll({ model, request, batching }, texts.slice(0, 4), { kind: 'document' });

for (let round = 0; round < rounds; round++) {
  const order = Object.entries(modes);
  if (round % 2) order.reverse();
  for (const [name, model] of order)
    samples.get(name)!.push(await measure({ model, request, batching }));
}
for (const model of Object.values(modes)) await model.dispose();

console.log(
  `\n${count} texts of ~${chars} characters, ${modelPath.split('/').pop()}, context ${contextSize}, ` +
    `1 thread, batches of 16; medians of ${rounds} rounds\n`,
);
console.log(
  '| mode | main-thread busy per text | event-loop delay p99 | max | texts/s |\n| --- | ---: | ---: | ---: | ---: |',
);
for (const [name, list] of samples) {
  const m = (key: keyof Sample) => median(list.map((s) => s[key]));
  console.log(
    `| ${name} | ${m('busyMsPerText').toFixed(3)} ms | ${m('p99Ms').toFixed(1)} ms | ` +
      `${m('maxMs').toFixed(1)} ms | ${m('textsPerSecond').toFixed(0)} |`,
  );
}
