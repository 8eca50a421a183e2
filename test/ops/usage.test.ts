import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_KINDS } from '../support/databases.js';
import { KEY_A, KEY_B, startHarness, type Harness } from '../support/harness.js';
import { echoScript, lastUserText, type UpstreamScript } from '../support/fake-upstream.js';
import { openDatabase } from '../../src/store/database.js';
import { KeyStore } from '../../src/store/key-store.js';
import { USAGE_COLUMNS, type UsageRow } from '../../src/store/usage-store.js';
import { cli } from '../support/cli.js';

const ADMIN_TOKEN = 'admin-token-for-usage-tests';
const yamlId = (key: string) =>
  `yaml:${createHash('sha256').update(key).digest('hex').slice(0, 12)}`;

/** Tool calls for "call tools", thoughts for "think", else an echo; every answer has its own usage. */
const workloadScript: UpstreamScript = (body, index) => {
  const text = lastUserText(body);
  if (text === 'call tools')
    return {
      toolCalls: [
        { name: 'lookup', arguments: '{"q":"a"}' },
        { name: 'lookup', arguments: '{"q":"b"}' },
      ],
      usage: { prompt_tokens: 30, completion_tokens: 9 },
    };
  if (text === 'think')
    return {
      reasoning: ['hmm'],
      text: ['done'],
      usage: { prompt_tokens: 12, completion_tokens: 4, reasoning_tokens: 7 },
    };
  return { ...echoScript(body, index), usage: { prompt_tokens: 10 + index, completion_tokens: 3 } };
};

interface Stored {
  id: string;
  model: string;
  usage?: Record<string, number>;
  steps: { type: string }[];
  created: string;
}

describe.each(STORE_KINDS)('usage report from the stored interactions (%s)', (kind) => {
  let h: Harness;
  let managedKey: string;
  let managedId: string;
  /** What the API returned for each interaction of the workload, with the key that made it. */
  const made: { key: string; project: string; interaction: Stored }[] = [];

  beforeAll(async () => {
    h = await startHarness({
      store: kind,
      script: workloadScript,
      config: { admin: { token: ADMIN_TOKEN } },
    });
    const handle = openDatabase(h.db.url);
    try {
      const created = await new KeyStore(handle).create({ project: 'team-a', name: 'managed' });
      managedKey = created.key;
      managedId = created.record.id;
    } finally {
      await handle.db.destroy();
    }
    const workload: [string, string, object][] = [
      [KEY_A, 'team-a', { model: 'gemini-3.5-flash', input: 'one' }],
      [KEY_A, 'team-a', { model: 'gemini-3.5-flash', input: 'two' }],
      [KEY_A, 'team-a', { model: 'test-model', input: 'think' }],
      [
        KEY_A,
        'team-a',
        {
          model: 'gemini-3.5-flash',
          input: 'call tools',
          tools: [{ type: 'function', name: 'lookup', parameters: { type: 'object' } }],
        },
      ],
      [managedKey, 'team-a', { model: 'gemini-3.5-flash', input: 'three' }],
      [KEY_B, 'team-b', { model: 'gemini-3.5-pro', input: 'four' }],
      [KEY_B, 'team-b', { model: 'gemini-3.5-pro', input: 'think' }],
    ];
    for (const [key, project, body] of workload) {
      const res = await h.fetch('/v1beta/interactions', {
        method: 'POST',
        key,
        body: JSON.stringify(body),
      });
      expect(res.status).toBe(200);
      const { id } = (await res.json()) as { id: string };
      // As stored: read back, not the create response.
      const got = await h.fetch(`/v1beta/interactions/${id}`, { key });
      made.push({ key, project, interaction: (await got.json()) as Stored });
    }
  });
  afterAll(async () => h?.close());

  /** The report computed by hand from what the API returned. */
  function expected(filter: (m: (typeof made)[number]) => boolean = () => true): UsageRow[] {
    const groups = new Map<string, UsageRow>();
    for (const m of made.filter(filter)) {
      const { interaction: i } = m;
      const apiKey = m.key === managedKey ? managedId : yamlId(m.key);
      const id = [i.created.slice(0, 10), m.project, apiKey, i.model].join('|');
      const row = groups.get(id) ?? {
        day: i.created.slice(0, 10),
        project: m.project,
        api_key: apiKey,
        model: i.model,
        interactions: 0,
        input_tokens: 0,
        output_tokens: 0,
        cached_tokens: 0,
        thought_tokens: 0,
        total_tokens: 0,
        tool_calls: 0,
      };
      row.interactions += 1;
      row.input_tokens += i.usage?.total_input_tokens ?? 0;
      row.output_tokens += i.usage?.total_output_tokens ?? 0;
      row.cached_tokens += i.usage?.total_cached_tokens ?? 0;
      row.thought_tokens += i.usage?.total_thought_tokens ?? 0;
      row.total_tokens += i.usage?.total_tokens ?? 0;
      row.tool_calls += i.steps.filter((s) => s.type.endsWith('_call')).length;
      groups.set(id, row);
    }
    return [...groups.values()];
  }
  const sorted = (rows: UsageRow[]) =>
    [...rows].sort((x, y) =>
      [x.day, x.project, x.api_key, x.model]
        .join('|')
        .localeCompare([y.day, y.project, y.api_key, y.model].join('|')),
    );

  it('the workload has what the report must count: thoughts, tool calls, two keys of one project, two models', () => {
    const all = expected();
    expect(all.reduce((n, r) => n + r.tool_calls, 0)).toBe(2);
    expect(all.reduce((n, r) => n + r.thought_tokens, 0)).toBe(14);
    expect(all.filter((r) => r.project === 'team-a').map((r) => r.api_key)).toContain(managedId);
    expect(new Set(all.map((r) => r.model)).size).toBeGreaterThanOrEqual(2);
    expect(all.length).toBeGreaterThanOrEqual(4);
  });

  it('usage --format json: rows and totals equal the sums over the stored interactions', async () => {
    const out = await cli(['usage', '--db', h.db.url, '--format', 'json']);
    expect(out.code, out.stderr).toBe(0);
    const report = JSON.parse(out.stdout) as { rows: UsageRow[]; total: UsageRow };
    expect(report.rows).toEqual(sorted(expected()));
    const sum = (c: keyof UsageRow) =>
      made.length && expected().reduce((n, r) => n + (r[c] as number), 0);
    expect(report.total).toMatchObject({
      interactions: made.length,
      input_tokens: sum('input_tokens'),
      output_tokens: sum('output_tokens'),
      thought_tokens: sum('thought_tokens'),
      total_tokens: sum('total_tokens'),
      tool_calls: 2,
    });
  });

  it('usage --project, --since in the future, --format csv and table', async () => {
    const [teamB, future, csv, table] = await Promise.all([
      cli(['usage', '--db', h.db.url, '--project', 'team-b', '--format', 'json']),
      cli(['usage', '--db', h.db.url, '--since', '2999-01-01', '--format', 'json']),
      cli(['usage', '--db', h.db.url, '--format', 'csv']),
      cli(['usage', '--db', h.db.url]),
    ]);
    expect((JSON.parse(teamB.stdout) as { rows: UsageRow[] }).rows).toEqual(
      sorted(expected((m) => m.project === 'team-b')),
    );
    expect((JSON.parse(future.stdout) as { rows: UsageRow[] }).rows).toEqual([]);
    const lines = csv.stdout.split('\r\n');
    expect(lines[0]).toBe(USAGE_COLUMNS.join(','));
    expect(lines.slice(1, -1)).toEqual(
      sorted(expected()).map((r) => USAGE_COLUMNS.map((c) => r[c]).join(',')),
    );
    const tableLines = table.stdout.trimEnd().split('\n');
    expect(tableLines[0]).toMatch(/^DAY +PROJECT +API_KEY +MODEL +INTERACTIONS +INPUT_TOKENS/);
    expect(tableLines.at(-1)).toMatch(new RegExp(`^total +${made.length} `));
    const bad = await cli(['usage', '--db', h.db.url, '--since', 'yesterday']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--since: 'yesterday' is not a day");
  });

  it('GET /admin/usage with the admin token: the same report; without it 401; API keys do not open it', async () => {
    const url = `${h.baseUrl}/admin/usage`;
    const ok = await fetch(`${url}?project=team-a`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { rows: UsageRow[] }).rows).toEqual(
      sorted(expected((m) => m.project === 'team-a')),
    );
    const csv = await fetch(`${url}?format=csv`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(csv.headers.get('content-type')).toContain('text/csv');
    expect((await csv.text()).split('\r\n')[0]).toBe(USAGE_COLUMNS.join(','));
    const attempts: Record<string, string>[] = [
      {},
      { authorization: 'Bearer wrong-token' },
      { 'x-goog-api-key': KEY_A },
    ];
    for (const headers of attempts) {
      const res = await fetch(url, { headers });
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { status: string } }).error.status).toBe(
        'UNAUTHENTICATED',
      );
    }
    const bad = await fetch(`${url}?since=soon`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toContain(
      'since:',
    );
  });
});

describe('a server without admin.token', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ store: 'sqlite' });
  });
  afterAll(async () => h?.close());

  it('has no admin API (404)', async () => {
    const res = await fetch(`${h.baseUrl}/admin/usage`, { headers: { authorization: 'Bearer x' } });
    expect(res.status).toBe(404);
  });
});
