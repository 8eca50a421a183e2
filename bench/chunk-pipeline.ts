/**
 * The per-chunk pipeline in one process, without sockets: an OpenAI-compatible SSE body (one
 * answer of `--chunks` text chunks, handed over in 64 kB pieces) → readChatStream → the model
 * round → the step writer → the interaction's event log (joins, fold, one group commit per
 * answer). The store is a no-op: this measures the server's own JavaScript per chunk, which on a
 * shared machine is steadier than the whole-server figures of bench/chunk-path.ts and
 * bench/server-overhead.ts (those add the HTTP, the store, GC of a busy server and the kernel).
 *
 *   npx tsx bench/chunk-pipeline.ts [--chunks 1000] [--rounds 5] [--answers 400]
 */
import { PassThrough } from 'node:stream';
import { parseArgs } from 'node:util';
import type { LanguageModelV3Usage } from '@ai-sdk/provider';
import { runModelRound } from '../src/engine/model-round.js';
import { StepWriter } from '../src/engine/step-writer.js';
import { UsageMeter } from '../src/engine/usage.js';
import { readChatStream } from '../src/models/openai-compatible/chat-stream.js';
import type { ResolvedModel } from '../src/models/types.js';
import { EventLog } from '../src/store/event-log.js';
import type { Store } from '../src/store/types.js';

const { values: argv } = parseArgs({
  options: {
    chunks: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '5' },
    answers: { type: 'string', default: '400' },
  },
});
const chunks = Number(argv.chunks);

const base = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1764680000, model: 'm' };
const sseEvent = (value: object) => `data: ${JSON.stringify(value)}\n\n`;
let sse = sseEvent({
  ...base,
  choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }],
});
for (let i = 0; i < chunks; i++)
  sse += sseEvent({
    ...base,
    choices: [{ index: 0, delta: { content: `w${i} ` }, finish_reason: null }],
  });
sse += sseEvent({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] });
sse += sseEvent({
  ...base,
  choices: [],
  usage: { prompt_tokens: 1, completion_tokens: chunks, total_tokens: chunks + 1 },
});
sse += 'data: [DONE]\n\n';
const bytes = Buffer.from(sse);
const pieces: Buffer[] = [];
for (let i = 0; i < bytes.length; i += 65536) pieces.push(bytes.subarray(i, i + 65536));

const store = { appendEvents: () => Promise.resolve() } as unknown as Store;
const eventLog = new EventLog(store, { batchWindowMs: 20 });
const usage: LanguageModelV3Usage = {
  inputTokens: { total: 1, noCache: 1, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: chunks, text: chunks, reasoning: undefined },
};
let answers = 0;

async function answer(): Promise<void> {
  const body = new PassThrough();
  const stream = readChatStream({
    body,
    warnings: [],
    metadataKey: 'upstream',
    chunkSchema: { safeParse: (data: unknown) => ({ success: true, data }) },
    convertUsage: () => usage,
  });
  const log = eventLog.open(`bench-${answers++}`, [], true);
  const writer = new StepWriter(log, 'secret', { summaries: false });
  const model = {
    model: { doStream: () => Promise.resolve({ stream }) },
  } as unknown as ResolvedModel;
  const round = runModelRound({
    model,
    call: { prompt: [] },
    writer,
    meter: new UsageMeter(),
    signal: new AbortController().signal,
    isBuiltIn: () => false,
    onWarning: () => {},
  });
  for (const piece of pieces) body.write(piece);
  body.end();
  await round;
  writer.stop();
  log.append({
    event_type: 'interaction.completed',
    interaction: { status: 'completed' },
  } as never);
  await eventLog.flush();
}

for (let i = 0; i < 200; i++) await answer(); // warm-up
for (let r = 0; r < Number(argv.rounds); r++) {
  const n = Number(argv.answers);
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < n; i++) await answer();
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(
    `${(((cpu.user + cpu.system) / n / chunks) * 1000).toFixed(0)} ns CPU per chunk\n`,
  );
}
