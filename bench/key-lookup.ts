/**
 * Key lookup and limits: what a managed key (one indexed query per request) and an `rpm` limit
 * (one upsert per request) cost against a configured key, on a cheap authenticated request
 * (GET of an interaction that does not exist: auth, the limit, one store read, 404).
 * Prints a Markdown table to stdout; writes nothing into the repo.
 *
 *   npx tsx bench/key-lookup.ts [--connections 8] [--duration 5] [--db sqlite|postgres]
 *
 * The server runs in this process with the load generator (both share one core's event loop),
 * so compare the rows with each other, not with other benchmarks.
 */
import { parseArgs } from 'node:util';
import { parseConfig } from '../src/config.js';
import { createServer } from '../src/server.js';
import { openDatabase } from '../src/store/database.js';
import { KeyStore } from '../src/store/key-store.js';
import { createTestDatabase, type StoreKind } from '../test/support/databases.js';
import { KEY_A } from '../test/support/harness.js';
import { autocannon } from './support/autocannon.js';

const { values: argv } = parseArgs({
  options: {
    connections: { type: 'string', default: '8' },
    duration: { type: 'string', default: '5' },
    db: { type: 'string', default: 'sqlite' },
  },
});
const dbKind = argv.db as StoreKind;
if (dbKind !== 'sqlite' && dbKind !== 'postgres') throw new Error('--db: sqlite or postgres');

const db = await createTestDatabase(dbKind);
const server = await createServer({
  config: parseConfig({
    models: [
      { name: '*', backend: 'openai-compatible', base_url: 'http://127.0.0.1:9/v1', model: 'x' },
    ],
    keys: [{ key: KEY_A, project: 'team-a' }],
  }),
  databaseUrl: db.url,
  logger: false,
});
const base = (await server.listen('127.0.0.1', 0)).replace('[::1]', '127.0.0.1');
const handle = openDatabase(db.url);
const keys = new KeyStore(handle);
const managed = (await keys.create({ project: 'team-a' })).key;
const limited = (await keys.create({ project: 'team-a', limits: { rpm: 1e9 } })).key;

const rows: string[] = [];
for (const [name, key] of [
  ['configured key (keys:)', KEY_A],
  ['managed key', managed],
  ['managed key with rpm', limited],
] as const) {
  const result = await autocannon({
    url: `${base}/v1beta/interactions/v1_missing`,
    headers: { 'x-goog-api-key': key },
    connections: Number(argv.connections),
    duration: Number(argv.duration),
  });
  const n404 = result.statusCodeStats['404']?.count ?? 0;
  if (n404 !== result.requests.sent && n404 < result.requests.total)
    throw new Error(`${name}: unexpected statuses ${JSON.stringify(result.statusCodeStats)}`);
  rows.push(
    `| ${name} | ${Math.round(result.requests.average)} | ${result.latency.p50} | ${result.latency.p99} |`,
  );
  process.stderr.write(`[bench] ${name} done\n`);
}
process.stdout.write(
  `${dbKind}, ${argv.connections} connections, ${argv.duration} s each\n\n| key | req/s | p50 ms | p99 ms |\n|---|---|---|---|\n${rows.join('\n')}\n`,
);
await handle.db.destroy();
await server.close(0);
await db.drop();
