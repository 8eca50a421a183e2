import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import Database from 'better-sqlite3';
import { STORE_KINDS, createTestDatabase, type TestDatabase } from '../support/databases.js';
import { KEY_A, startHarness, type Harness } from '../support/harness.js';
import { cli } from '../support/cli.js';
import { openDatabase, sqliteFilePath } from '../../src/store/database.js';
import { KeyStore, hashApiKey } from '../../src/store/key-store.js';

/** Every text value in every table of the database, for "never in clear" checks. */
async function dumpDatabase(url: string): Promise<string> {
  const file = sqliteFilePath(url);
  if (file !== undefined) {
    const db = new Database(file, { readonly: true });
    try {
      const tables = db
        .prepare(`select name from sqlite_master where type = 'table' and name not like 'sqlite_%'`)
        .all() as { name: string }[];
      return tables
        .map((t) => JSON.stringify(db.prepare(`select * from "${t.name}"`).all()))
        .join('\n');
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows: tables } = await client.query<{ tablename: string }>(
      `select tablename from pg_tables where schemaname = 'public'`,
    );
    const parts: string[] = [];
    for (const t of tables)
      parts.push(JSON.stringify((await client.query(`select * from "${t.tablename}"`)).rows));
    return parts.join('\n');
  } finally {
    await client.end();
  }
}

const create = (h: Harness, key: string | null, input = 'hi') =>
  h.fetch('/v1beta/interactions', {
    method: 'POST',
    key,
    body: JSON.stringify({ model: 'gemini-3.5-flash', input }),
  });

describe.each(STORE_KINDS)('managed API keys on two nodes (%s)', (kind) => {
  let db: TestDatabase;
  let a: Harness;
  let b: Harness;
  beforeAll(async () => {
    db = await createTestDatabase(kind);
    a = await startHarness({ store: kind, db, config: { server: { node_id: 'node-a' } } });
    b = await startHarness({ store: kind, db, config: { server: { node_id: 'node-b' } } });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await db?.drop();
  });

  it('keys create (CLI) prints the key once; it works on both nodes; the database holds only its SHA-256', async () => {
    const made = await cli([
      'keys',
      'create',
      '--db',
      db.url,
      '--project',
      'team-c',
      '--name',
      'ci bot',
      '--rpm',
      '100',
      '--tpm',
      '5000',
    ]);
    expect(made.code, made.stderr).toBe(0);
    const [key, blank, ...details] = made.stdout.split('\n');
    expect(key).toMatch(/^oi_[A-Za-z0-9_-]{43}$/);
    expect(blank).toBe('');
    expect(details.join('\n')).toMatch(
      /id: +key_[0-9a-f]{16}\nproject: +team-c\nname: +ci bot\nlimits: +rpm=100 tpm=5000\nexpires: +never/,
    );
    expect(made.stderr).toContain('shown only this once');

    for (const node of [a, b]) {
      const res = await create(node, key!, `from ${node === a ? 'A' : 'B'}`);
      expect(res.status).toBe(200);
    }
    // The key acts for its project only: team-a's interactions are not found with it.
    const mine = (await (await create(a, KEY_A)).json()) as { id: string };
    expect((await b.fetch(`/v1beta/interactions/${mine.id}`, { key: key! })).status).toBe(404);

    const dump = await dumpDatabase(db.url);
    expect(dump).not.toContain(key!);
    expect(dump).not.toContain(key!.slice(10));
    expect(dump).toContain(hashApiKey(key!));
  });

  it('keys list shows id, project, name, prefix, limits and status; --format json parses', async () => {
    const table = await cli(['keys', 'list', '--db', db.url]);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID +PROJECT +NAME +KEY +LIMITS +CREATED +EXPIRES +STATUS$/);
    expect(lines[1]).toMatch(
      /^key_[0-9a-f]{16} +team-c +ci bot +oi_\S{6}… +rpm=100 tpm=5000 +\S+Z +never +active$/,
    );
    const json = await cli(['keys', 'list', '--db', db.url, '--format', 'json']);
    const keys = JSON.parse(json.stdout) as { id: string; project: string; limits: object }[];
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ project: 'team-c', limits: { rpm: 100, tpm: 5000 } });
    expect(JSON.stringify(keys)).not.toMatch(/key_hash|[0-9a-f]{64}/);
  });

  it('a revoked key is refused (401) by both nodes on their next request; keys list --all shows it revoked', async () => {
    const handle = openDatabase(db.url);
    const store = new KeyStore(handle);
    try {
      const { key, record } = await store.create({ project: 'team-d' });
      // Both nodes have just accepted it (nothing they could keep in a cache decides).
      expect((await create(a, key)).status).toBe(200);
      expect((await create(b, key)).status).toBe(200);
      const revoked = await cli(['keys', 'revoke', '--db', db.url, record.id]);
      expect(revoked).toMatchObject({ code: 0, stdout: `revoked ${record.id}\n` });
      for (const node of [a, b]) {
        const res = await create(node, key);
        expect(res.status).toBe(401);
        expect(await res.json()).toEqual({
          error: {
            code: 'unauthenticated',
            status: 'UNAUTHENTICATED',
            message: 'x-goog-api-key: API key not valid',
          },
        });
      }
      const again = await cli(['keys', 'revoke', '--db', db.url, record.id]);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain(`no active key with id '${record.id}'`);
      const all = await cli(['keys', 'list', '--db', db.url, '--all', '--project', 'team-d']);
      expect(all.stdout).toMatch(new RegExp(`${record.id} +team-d .* revoked \\S+Z\\n$`));
      const active = await cli(['keys', 'list', '--db', db.url, '--project', 'team-d']);
      expect(active.stdout.trimEnd().split('\n')).toHaveLength(1); // the header only
    } finally {
      await handle.db.destroy();
    }
  });

  it('an expired key is refused; the keys: of the config file keep working beside managed ones', async () => {
    const handle = openDatabase(db.url);
    try {
      const { key } = await new KeyStore(handle).create({
        project: 'team-e',
        expires: new Date(Date.now() - 1000).toISOString(),
      });
      expect((await create(a, key)).status).toBe(401);
      expect((await create(b, KEY_A)).status).toBe(200);
      expect((await create(a, 'oi_not-a-key-at-all')).status).toBe(401);
      expect((await create(a, null)).status).toBe(401);
    } finally {
      await handle.db.destroy();
    }
  });
});

describe.each(STORE_KINDS)('a server without keys: in the config (%s)', (kind) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ store: kind, config: { keys: undefined } });
  });
  afterAll(async () => h?.close());

  it('is open until a managed key exists, then requires one', async () => {
    expect((await create(h, null)).status).toBe(200);
    const handle = openDatabase(h.db.url);
    try {
      const { key } = await new KeyStore(handle).create({ project: 'team-f' });
      expect((await create(h, null)).status).toBe(401);
      expect((await create(h, 'some-other-key')).status).toBe(401);
      const res = await create(h, key);
      expect(res.status).toBe(200);
      // Project isolation: what the open server made (project default) is not team-f's.
      expect(
        (
          await h.fetch(`/v1beta/interactions/${((await res.json()) as { id: string }).id}`, {
            key,
          })
        ).status,
      ).toBe(200);
    } finally {
      await handle.db.destroy();
    }
  });
});

describe('keys command line', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
  });
  afterAll(async () => db?.drop());

  it('refuses what it cannot run: exit 2 with the reason', async () => {
    const cases: [string[], string][] = [
      [['keys', 'create', '--db', 'sqlite::memory:'], '--project: required'],
      [
        ['keys', 'create', '--db', 'sqlite::memory:', '--project', 'p', '--rpm', 'x'],
        "--rpm: 'x' is not a positive whole number",
      ],
      [
        ['keys', 'create', '--db', 'sqlite::memory:', '--project', 'p', '--expires', 'soon'],
        "--expires: 'soon' is not a date",
      ],
      [
        ['keys', 'create', '--db', 'sqlite::memory:', '--project', 'p', '--expires', '2001-01-01'],
        'is not in the future',
      ],
      [['keys', 'revoke', '--db', 'sqlite::memory:'], 'give the id'],
      [['keys', 'list', '--format', 'xml'], "--format: expected table or json, got 'xml'"],
    ];
    const results = await Promise.all(cases.map(([args]) => cli(args)));
    results.forEach((r, i) => {
      expect(r.code, cases[i]![0].join(' ')).toBe(2);
      expect(r.stderr).toContain(cases[i]![1]);
      expect(r.stderr).toContain('--help');
    });
  });

  it('--help and --version on keys, keys create|list|revoke and usage', async () => {
    const helps = await Promise.all(
      [['keys'], ['keys', 'create'], ['keys', 'list'], ['keys', 'revoke'], ['usage']].map((c) =>
        cli([...c, '--help']),
      ),
    );
    expect(helps.map((h) => h.code)).toEqual([0, 0, 0, 0, 0]);
    expect(helps[1]!.stdout).toContain('Usage: open-interactions keys create --project P');
    expect(helps[4]!.stdout).toContain('--format F          table (default), json or csv');
    const version = await cli(['keys', 'create', '--version']);
    expect(version.stdout).toMatch(/^open-interactions \d+\.\d+\.\d+/);
  });

  it('--expires with a duration is stored as a time that far ahead', async () => {
    const made = await cli([
      'keys',
      'create',
      '--db',
      db.url,
      '--project',
      'p',
      '--expires',
      '30d',
      '--format',
      'json',
    ]);
    expect(made.code, made.stderr).toBe(0);
    const key = JSON.parse(made.stdout) as { key: string; expires: string };
    const days = (Date.parse(key.expires) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThanOrEqual(30);
  });
});
