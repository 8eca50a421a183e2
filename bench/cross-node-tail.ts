/**
 * Cross-node tail latency: how long after an event is durable a reader on another node gets it,
 * with PostgreSQL LISTEN/NOTIFY wake-ups and with polling alone. Prints a Markdown table.
 *
 *   npx tsx bench/cross-node-tail.ts [--runs 20] [--tokens 40] [--delay-ms 20] [--poll-ms 200]
 *
 * Two server nodes in this process on one fresh PostgreSQL database, the scripted upstream
 * (test/support/fake-upstream.ts) streaming `--tokens` text chunks `--delay-ms` apart. Each run
 * streams a background interaction on node A (A's own stream gets each event the moment it is
 * durable) and follows it on node B with `last_event_id`; the latency of an event is the time
 * B's stream got it minus the time A's stream got it (one clock). `--poll-ms` is the nodes' poll
 * interval (the server default is 200 ms for tails).
 */
import { parseArgs } from 'node:util';
import { createServer, type Server } from '../src/server.js';
import { createTestDatabase } from '../test/support/databases.js';
import { startFakeUpstream } from '../test/support/fake-upstream.js';
import { KEY_A, testConfig } from '../test/support/harness.js';
import { fmtMs, summarize } from './support/stats.js';

const { values: argv } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    tokens: { type: 'string', default: '40' },
    'delay-ms': { type: 'string', default: '20' },
    'poll-ms': { type: 'string', default: '200' },
  },
});
const runs = Number(argv.runs);
const tokens = Number(argv.tokens);
const delayMs = Number(argv['delay-ms']);
const pollMs = Number(argv['poll-ms']);
const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const headers = { 'content-type': 'application/json', 'x-goog-api-key': KEY_A };

/** Reads an SSE response, calling `onEvent(id, time)` for every event with an id. */
async function read(res: Response, onEvent: (id: number, at: number) => void): Promise<void> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    const at = performance.now();
    text += decoder.decode(value, { stream: true });
    let cut: number;
    while ((cut = text.indexOf('\n\n')) >= 0) {
      const block = text.slice(0, cut);
      text = text.slice(cut + 2);
      const id = /^id: (\d+)$/m.exec(block)?.[1];
      if (id) onEvent(Number(id), at);
    }
  }
}

async function measure(notify: boolean): Promise<number[]> {
  const upstream = await startFakeUpstream(() => ({
    text: Array.from({ length: tokens }, (_, i) => `t${i} `),
    delayMs,
  }));
  const db = await createTestDatabase('postgres');
  const nodes: Server[] = [];
  const urls: string[] = [];
  for (const id of ['a', 'b']) {
    const server = await createServer({
      config: testConfig(upstream.url, { server: { node_id: id, notify } }),
      databaseUrl: db.url,
      logger: false,
      pollMs,
    });
    nodes.push(server);
    urls.push((await server.listen('127.0.0.1', 0)).replace('[::1]', '127.0.0.1'));
  }
  const latencies: number[] = [];
  try {
    for (let r = 0; r < runs; r++) {
      const onA = new Map<number, number>();
      const onB = new Map<number, number>();
      const res = await fetch(`${urls[0]}/v1beta/interactions`, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          model: 'gemini-3.5-flash',
          input: `run ${r}`,
          stream: true,
          background: true,
        }),
      });
      let id = '';
      const reader = res.body!.getReader();
      const first = new TextDecoder().decode((await reader.read()).value);
      id = /"id":"([^"]+)"/.exec(first)![1]!;
      reader.releaseLock();
      const tail = fetch(`${urls[1]}/v1beta/interactions/${id}?stream=true&last_event_id=2`, {
        headers,
      }).then((b) => read(b, (seq, at) => onB.set(seq, at)));
      await read(res, (seq, at) => onA.set(seq, at));
      await tail;
      for (const [seq, at] of onB) {
        const a = onA.get(seq);
        if (a !== undefined) latencies.push(at - a);
      }
    }
  } finally {
    for (const n of nodes) await n.close(0);
    await upstream.close();
    await db.drop();
  }
  return latencies;
}

const rows: string[] = [];
for (const notify of [false, true]) {
  log(`${notify ? 'NOTIFY' : 'poll only'}: ${runs} runs of ${tokens} chunks`);
  const s = summarize(await measure(notify));
  rows.push(
    `| ${notify ? 'LISTEN/NOTIFY + poll' : `poll only (${pollMs} ms)`} | ${s.count} | ${fmtMs(s.p50)} | ${fmtMs(s.p99)} | ${fmtMs(s.max)} |`,
  );
}
console.log('| wake-up | events | p50 | p99 | max |');
console.log('| --- | --- | --- | --- | --- |');
for (const row of rows) console.log(row);
