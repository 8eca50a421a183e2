/**
 * The per-chunk path alone: long streamed answers through the server (openai-compatible backend
 * → the fake upstream), nothing else. For profiling what one upstream chunk costs the server
 * (bench/server-overhead.ts reports the number among its other workloads).
 *
 *   npx tsx bench/chunk-path.ts [--db sqlite|postgres] [--chunks 1000] [--clients 4]
 *                               [--duration 5] [--cpu-prof DIR]
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createTestDatabase, type StoreKind } from '../test/support/databases.js';
import { KEY_A } from '../test/support/harness.js';
import { BenchChild } from './support/processes.js';
import { runStreams } from './support/streaming.js';

const { values: argv } = parseArgs({
  options: {
    db: { type: 'string', default: 'sqlite' },
    chunks: { type: 'string', default: '1000' },
    clients: { type: 'string', default: '4' },
    duration: { type: 'string', default: '5' },
    'cpu-prof': { type: 'string' },
  },
});
const chunks = Number(argv.chunks);

async function main(): Promise<void> {
  const db = await createTestDatabase(argv.db as StoreKind);
  const profArgs = argv['cpu-prof']
    ? ['--cpu-prof', `--cpu-prof-dir=${resolve(argv['cpu-prof'])}`]
    : [];
  const upstream = await BenchChild.start('upstream', ['upstream']);
  const server = await BenchChild.start('server', ['server', upstream.url, db.url], profArgs);
  try {
    const lastWord = `w${chunks - 1} `;
    const target = {
      url: `${server.url}/v1beta/interactions`,
      headers: { 'x-goog-api-key': KEY_A },
      body: JSON.stringify({ model: 'gemini-3.5-flash', input: `CHUNKS:${chunks}`, stream: true }),
      isText: (m: string) => m.includes('event: step.delta') && m.includes('"type":"text"'),
      verify: (body: string) =>
        body.includes(lastWord) && body.includes('interaction.completed') ? null : 'incomplete',
    };
    await runStreams(target, Number(argv.clients), 1); // warm-up
    await server.sample(); // samples count from the previous one
    const run = await runStreams(target, Number(argv.clients), Number(argv.duration));
    const cpu = await server.sample();
    const cpuMicros = (cpu.userMs + cpu.systemMs) * 1000;
    const n = run.timings.length;
    process.stdout.write(
      `${n} streams of ${chunks} chunks, failures: ${JSON.stringify([...run.failures])}; ` +
        `server CPU ${(cpuMicros / (n * chunks)).toFixed(2)} µs/chunk (user ${((cpu.userMs * 1000) / (n * chunks)).toFixed(2)}) (ELU ${(cpu.eventLoopUtilization * 100).toFixed(0)}%)\n`,
    );
  } finally {
    await server.close();
    await upstream.close();
    await db.drop();
  }
}

await main();
