/**
 * Hostile request bodies against one server while a prober asks `/healthz` every few
 * milliseconds: the longest `/healthz` answer during each attack is how long the server's event
 * loop was blocked (every other tenant waited that long). Prints a Markdown table to stdout
 * (progress to stderr); writes nothing into the repository.
 *
 *   npx tsx bench/hostile-bodies.ts [--db sqlite|postgres] [--redos-chars 29] [--schemas 300]
 *                                   [--only <part of an attack's name>]
 *
 * Three processes: this one (the attacker and the prober), the scripted upstream (answers
 * `JSON:<text>` inputs with <text> verbatim, echoes anything else) and the server
 * (bench/support/child.ts: src/server.ts with the test config, default server settings, SQLite
 * file in a temp dir or a fresh PostgreSQL database). The server also reports the longest stall
 * of its own event loop per attack (`monitorEventLoopDelay`), which does not depend on this
 * process. Bodies are serialised and encoded before each attack, so the attacker's own work
 * never delays the prober.
 */
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createTestDatabase, type StoreKind } from '../test/support/databases.js';
import { KEY_A } from '../test/support/harness.js';
import { BenchChild } from './support/processes.js';

const { values: argv } = parseArgs({
  options: {
    db: { type: 'string', default: 'sqlite' },
    'redos-chars': { type: 'string', default: '29' },
    schemas: { type: 'string', default: '300' },
    only: { type: 'string' },
  },
});
const redosChars = Number(argv['redos-chars']);
const schemaCount = Number(argv.schemas);

const MODEL = 'gemini-3.5-flash';
const props = (n: number, extra: (i: number) => object = () => ({ type: 'string' })) =>
  Object.fromEntries(Array.from({ length: n }, (_, i) => [`p${i}`, extra(i)]));
const objectSchema = (n: number, tag = '') => ({
  type: 'object',
  properties: props(n, (i) => ({ type: 'string', description: `${tag}${i}` })),
  required: Array.from({ length: n }, (_, i) => `p${i}`),
});
const nest = (depth: number, leaf: unknown, wrap: (inner: unknown) => unknown) => {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = wrap(v);
  return v;
};
const json = (fields: Record<string, unknown>) => ({ model: MODEL, input: 'hi', ...fields });

interface Attack {
  name: string;
  /** One body, or many sent one after another. */
  bodies: () => string[];
}

const ATTACKS: Attack[] = [
  {
    name: 'input: 1e6 text items (27 MB)',
    bodies: () => [
      JSON.stringify({
        model: MODEL,
        input: Array.from({ length: 1_000_000 }, () => ({ type: 'text', text: 'xx' })),
      }),
    ],
  },
  {
    name: 'input: 200k user_input steps (13 MB)',
    bodies: () => [
      JSON.stringify({
        model: MODEL,
        input: Array.from({ length: 200_000 }, () => ({
          type: 'user_input',
          content: [{ type: 'text', text: 'x' }],
        })),
      }),
    ],
  },
  {
    name: 'input: one 30 MB string',
    bodies: () => [JSON.stringify({ model: MODEL, input: 'x'.repeat(30_000_000) })],
  },
  {
    name: 'input: 50k content items of 500 chars (26 MB)',
    bodies: () => [
      JSON.stringify({
        model: MODEL,
        input: Array.from({ length: 50_000 }, () => ({ type: 'text', text: 'y'.repeat(500) })),
      }),
    ],
  },
  {
    name: 'nesting: 1e6 levels of arrays in a field',
    bodies: () => [
      `{"model":"${MODEL}","input":"hi","environment":{"a":${'['.repeat(1e6)}${']'.repeat(1e6)}}}`,
    ],
  },
  {
    name: 'nesting: 99 levels × 100k siblings',
    bodies: () => [
      JSON.stringify(
        json({
          environment: nest(
            98,
            Array.from({ length: 100_000 }, () => 1),
            (v) => ({ a: v }),
          ),
        }),
      ),
    ],
  },
  {
    name: 'tools: 100k functions',
    bodies: () => [
      JSON.stringify(
        json({
          tools: Array.from({ length: 100_000 }, (_, i) => ({ type: 'function', name: `f${i}` })),
        }),
      ),
    ],
  },
  {
    name: 'labels: 300k keys',
    bodies: () => [
      JSON.stringify(
        json({
          labels: Object.fromEntries(Array.from({ length: 300_000 }, (_, i) => [`k${i}`, 'v'])),
        }),
      ),
    ],
  },
  {
    name: 'schema: 2,000 properties',
    bodies: () => [JSON.stringify(json({ response_format: objectSchema(2000) }))],
  },
  {
    name: 'schema: 100k properties',
    bodies: () => [JSON.stringify(json({ response_format: objectSchema(100_000) }))],
  },
  {
    // Built as text: JSON.stringify itself overflows the stack at this depth.
    name: 'schema: 10k levels deep',
    bodies: () => [
      `{"model":"${MODEL}","input":"hi","response_format":${'{"type":"object","properties":{"a":'.repeat(10_000)}{"type":"string"}${'}}'.repeat(10_000)}}`,
    ],
  },
  {
    name: `schema: ${schemaCount} distinct 40-property schemas`,
    bodies: () =>
      Array.from({ length: schemaCount }, (_, i) =>
        JSON.stringify(json({ response_format: objectSchema(40, `s${i}-`) })),
      ),
  },
  {
    name: `ReDoS: ^(a+)+$ against ${redosChars} characters`,
    bodies: () => [
      JSON.stringify({
        model: MODEL,
        input: `JSON:${JSON.stringify(`${'a'.repeat(redosChars)}!`)}`,
        response_format: { type: 'string', pattern: '^(a+)+$' },
      }),
    ],
  },
];

interface Probe {
  max: number;
  count: number;
}

/** Asks /healthz in a loop (one request at a time, keep-alive) until stopped. */
function startProber(baseUrl: string) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const url = new URL('/healthz', baseUrl);
  let current: Probe = { max: 0, count: 0 };
  let stopped = false;
  const once = () =>
    new Promise<void>((resolve, reject) => {
      const started = performance.now();
      const req = request(url, { agent }, (res) => {
        res.resume();
        res.on('end', () => {
          const ms = performance.now() - started;
          current.max = Math.max(current.max, ms);
          current.count++;
          resolve();
        });
      });
      req.on('error', reject);
      req.end();
    });
  const loop = (async () => {
    while (!stopped) {
      await once();
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    /** Starts a new measurement window and returns the previous one. */
    take(): Probe {
      const done = current;
      current = { max: 0, count: 0 };
      return done;
    },
    async stop() {
      stopped = true;
      await loop;
      agent.destroy();
    },
  };
}

function send(baseUrl: string, body: Buffer): Promise<number> {
  return new Promise((resolve) => {
    const req = request(
      new URL('/v1beta/interactions', baseUrl),
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': body.length,
          'x-goog-api-key': KEY_A,
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    // The server may answer (400) and close before the whole body is sent: the answer counts;
    // a connection closed without one is reported as status 0.
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

async function main(): Promise<void> {
  const upstream = await BenchChild.start('upstream', ['upstream', 'raw-json']);
  const db = await createTestDatabase(argv.db as StoreKind);
  const server = await BenchChild.start('server', ['server', upstream.url, db.url]);
  const prober = startProber(server.url);
  const rows: string[] = [];
  let worstDelay = 0;
  let worstProbe = 0;
  try {
    await new Promise((r) => setTimeout(r, 500));
    const idle = prober.take();
    const idleDelay = (await server.sample()).maxEventLoopDelayMs;
    rows.push(`| (idle, 0.5 s) | – | ${idleDelay.toFixed(0)} ms | ${idle.max.toFixed(0)} ms |`);
    for (const attack of ATTACKS.filter((a) => a.name.includes(argv.only ?? ''))) {
      process.stderr.write(`${attack.name} …\n`);
      // Encoded up front: encoding 30 MB inside fetch would stall this process's prober.
      const bodies = attack.bodies().map((text) => Buffer.from(text));
      prober.take();
      await server.sample();
      const statuses = new Map<number, number>();
      for (const body of bodies) {
        const status = await send(server.url, body);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
      // Let a probe that was queued behind the attack come back.
      await new Promise((r) => setTimeout(r, 50));
      const probe = prober.take();
      const delay = (await server.sample()).maxEventLoopDelayMs;
      worstDelay = Math.max(worstDelay, delay);
      worstProbe = Math.max(worstProbe, probe.max);
      const got = [...statuses].map(([s, n]) => (n > 1 ? `${s} ×${n}` : `${s}`)).join(', ');
      rows.push(
        `| ${attack.name} | ${got} | ${delay.toFixed(0)} ms | ${probe.max.toFixed(0)} ms |`,
      );
    }
  } finally {
    await prober.stop();
    await server.close();
    await upstream.close();
    await db.drop();
  }
  console.log('| attack | HTTP status | server: max event-loop delay | max /healthz latency |');
  console.log('| --- | --- | ---: | ---: |');
  for (const row of rows) console.log(row);
  console.log(
    `\nworst: event-loop delay ${worstDelay.toFixed(0)} ms, /healthz ${worstProbe.toFixed(0)} ms`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
