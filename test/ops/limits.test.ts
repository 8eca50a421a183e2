import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { STORE_KINDS, createTestDatabase, type TestDatabase } from '../support/databases.js';
import { KEY_A, KEY_B, startHarness, type Harness } from '../support/harness.js';
import { echoScript } from '../support/fake-upstream.js';
import { openDatabase, type DatabaseHandle } from '../../src/store/database.js';
import { KeyStore, type UsageLimits } from '../../src/store/key-store.js';
import type { LimitKind } from '../../src/api/limits.js';

const PROJECT_RPM_KEY = 'project-rpm-key-0003';
const PROJECT_BYTES_KEY = 'project-bytes-key-0004';

const create = (h: Harness, key: string, body: object = {}) =>
  h.fetch('/v1beta/interactions', {
    method: 'POST',
    key,
    body: JSON.stringify({ model: 'gemini-3.5-flash', input: 'hi', ...body }),
  });

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`gave up waiting for ${what}`);
}

describe.each(STORE_KINDS)('limits of keys and projects across two nodes (%s)', (kind) => {
  let db: TestDatabase;
  let a: Harness;
  let b: Harness;
  let handle: DatabaseHandle;
  let keys: KeyStore;
  const rejected: [LimitKind, string, string][] = [];
  // The limits' clock stands still in the middle of a minute: windows never roll over mid-test.
  const now = Math.floor(Date.now() / 60_000) * 60_000 + 30_000;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    const config = (node: string) => ({
      server: { node_id: node },
      keys: [
        { key: KEY_A, project: 'team-a' },
        { key: KEY_B, project: 'team-b' },
        { key: PROJECT_RPM_KEY, project: 'team-r' },
        { key: PROJECT_BYTES_KEY, project: 'team-s' },
      ],
      projects: { 'team-r': { rpm: 2 }, 'team-s': { stored_bytes: 200 } },
    });
    const onLimitRejected = (k: LimitKind, project: string, scope: string) =>
      rejected.push([k, project, scope]);
    a = await startHarness({
      store: kind,
      db,
      config: config('node-a'),
      clock: () => now,
      onLimitRejected,
    });
    b = await startHarness({
      store: kind,
      db,
      config: config('node-b'),
      clock: () => now,
      onLimitRejected,
    });
    handle = openDatabase(db.url);
    keys = new KeyStore(handle);
  });
  afterAll(async () => {
    await handle?.db.destroy();
    await a?.close();
    await b?.close();
    await db?.drop();
  });

  const newKey = async (limits: UsageLimits, project = 'team-k') =>
    (await keys.create({ project, limits })).key;
  const storedFor = async (column: 'project' | 'api_key_id', value: string) =>
    Number(
      (
        await handle.db
          .selectFrom('interactions')
          .select((eb) => eb.fn.countAll<number | string>().as('n'))
          .where(column, '=', value)
          .executeTakeFirstOrThrow()
      ).n,
    );

  it('rpm: 5 on a key: five requests pass on either node, the sixth gets 429 + Retry-After, and nothing is stored for it', async () => {
    const key = await newKey({ rpm: 5 });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await create(i % 2 ? b : a, key)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    const before = rejected.length;
    for (const node of [b, a]) {
      const res = await create(node, key);
      expect(res.status).toBe(429);
      expect(res.headers.get('retry-after')).toBe('30');
      expect(await res.json()).toEqual({
        error: {
          code: 'resource_exhausted',
          status: 'RESOURCE_EXHAUSTED',
          message: 'API key is over its limit of 5 requests per minute',
        },
      });
    }
    // Reads count too: the key stays refused this minute.
    expect((await b.fetch('/v1beta/interactions/nope', { key })).status).toBe(429);
    const record = (await keys.list({ project: 'team-k' })).find((k) => k.limits.rpm === 5)!;
    expect(await storedFor('api_key_id', record.id)).toBe(5);
    expect(rejected.slice(before)).toEqual([
      ['rpm', 'team-k', 'key'],
      ['rpm', 'team-k', 'key'],
      ['rpm', 'team-k', 'key'],
    ]);
  });

  it('rpm of a project (config projects:) holds for its keys: keys: entries and managed ones together', async () => {
    const managed = await newKey({}, 'team-r');
    expect((await create(a, PROJECT_RPM_KEY)).status).toBe(200);
    expect((await create(b, managed)).status).toBe(200);
    const res = await create(a, managed);
    expect(res.status).toBe(429);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe(
      "project 'team-r' is over its limit of 2 requests per minute",
    );
    expect(await storedFor('project', 'team-r')).toBe(2);
    // Other projects are not affected.
    expect((await create(b, KEY_B)).status).toBe(200);
  });

  it('rpm counts upload requests too (they authenticate in their own scope)', async () => {
    const key = await newKey({ rpm: 1 });
    expect((await a.fetch('/v1beta/interactions/v1_none', { key })).status).toBe(404);
    const res = await b.fetch('/upload/v1beta/files', {
      method: 'POST',
      key,
      headers: {
        'x-goog-upload-protocol': 'resumable',
        'x-goog-upload-command': 'start',
        'x-goog-upload-header-content-length': '5',
        'x-goog-upload-header-content-type': 'text/plain',
      },
      body: JSON.stringify({ file: { displayName: 'x.txt' } }),
    });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('30');
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe(
      'API key is over its limit of 1 requests per minute',
    );
  });

  it('tpm: counted from the stored usage of finished interactions; over it → 429 on the other node', async () => {
    const key = await newKey({ tpm: 10 });
    const first = await create(a, key);
    expect(first.status).toBe(200);
    const { usage } = (await first.json()) as { usage: { total_tokens: number } };
    expect(usage.total_tokens).toBeGreaterThanOrEqual(10);
    const res = await create(b, key);
    expect(res.status).toBe(429);
    const retryAfter = Number(res.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe(
      `API key used ${usage.total_tokens} tokens in the last minute (limit 10 per minute)`,
    );
  });

  it('concurrent runs: with one running on node A, node B refuses a second; when it ends, B accepts', async () => {
    const key = await newKey({ concurrent_runs: 1 });
    a.upstream.script = () => ({ text: ['slow'], hold: true });
    try {
      const started = await create(a, key, { background: true });
      expect(started.status).toBe(200);
      const { id } = (await started.json()) as { id: string };
      await a.upstream.waitForHeld(1);
      const refused = await create(b, key);
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(((await refused.json()) as { error: { message: string } }).error.message).toBe(
        'API key already runs 1 interactions (limit 1 at once)',
      );
      a.upstream.release();
      await until(
        async () =>
          (
            (await (await b.fetch(`/v1beta/interactions/${id}`, { key })).json()) as {
              status: string;
            }
          ).status === 'completed',
        'the held run to complete',
      );
      await until(
        async () =>
          Number(
            (
              await sql<{ n: number | string }>`select count(*) as n from run_leases`.execute(
                handle.db,
              )
            ).rows[0]!.n,
          ) === 0,
        'the lease to be dropped',
      );
      expect((await create(b, key)).status).toBe(200);
    } finally {
      a.upstream.script = echoScript;
      a.upstream.release();
    }
  });

  it("a dead node's leases do not count (its heartbeat is a minute old)", async () => {
    const { key, record } = await keys.create({
      project: 'team-k',
      limits: { concurrent_runs: 1 },
    });
    const old = new Date(now - 120_000).toISOString();
    await handle.db.insertInto('nodes').values({ node_id: 'dead-node', heartbeat: old }).execute();
    await handle.db
      .insertInto('run_leases')
      .values({
        id: 'lease_dead',
        project: 'team-k',
        api_key_id: record.id,
        node_id: 'dead-node',
        started: old,
      })
      .execute();
    expect((await create(b, key)).status).toBe(200);
    const left = await handle.db
      .selectFrom('run_leases')
      .select('id')
      .where('id', '=', 'lease_dead')
      .execute();
    expect(left).toEqual([]);
  });

  it('stored bytes of a project: over it, new interactions are refused (429) and nothing is stored', async () => {
    expect((await create(a, PROJECT_BYTES_KEY, { input: 'x'.repeat(300) })).status).toBe(200);
    const res = await create(b, PROJECT_BYTES_KEY);
    expect(res.status).toBe(429);
    const { message } = ((await res.json()) as { error: { message: string } }).error;
    expect(message).toMatch(
      /^project 'team-s' stores (\d+) bytes \(limit 200\); delete interactions or files to make room$/,
    );
    expect(Number(/stores (\d+)/.exec(message)![1])).toBeGreaterThan(300);
    expect(await storedFor('project', 'team-s')).toBe(1);
  });
});
