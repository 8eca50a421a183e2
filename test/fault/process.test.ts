import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqlStore } from '../../src/store/sql-store.js';
import { startChildServer, writeConfig, type ChildServer } from '../support/child-server.js';
import { STORE_KINDS, createTestDatabase, type TestDatabase } from '../support/databases.js';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.js';
import { KEY_A, parseSse } from '../support/harness.js';

const headers = { 'content-type': 'application/json', 'x-goog-api-key': KEY_A };

/** Reads SSE messages from a response until `stop` says enough. */
async function readUntil(res: Response, stop: (count: number) => boolean) {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    const complete = text.slice(0, text.lastIndexOf('\n\n') + 2);
    if (stop(parseSse(complete).length)) return { reader, text: complete };
  }
  return { reader, text };
}

describe.each(STORE_KINDS)('process faults (%s)', (store) => {
  let upstream: FakeUpstream;
  let db: TestDatabase;
  let dir: string;
  let configPath: string;
  const children: ChildServer[] = [];

  beforeAll(async () => {
    upstream = await startFakeUpstream(() => ({
      text: Array.from({ length: 200 }, (_, i) => `tok${i} `),
      delayMs: 15,
    }));
    db = await createTestDatabase(store);
    dir = mkdtempSync(join(tmpdir(), 'oi-fault-'));
    configPath = writeConfig(dir, {
      server: { node_id: 'node-a', shutdown_grace_seconds: 20 },
      models: [
        { name: 'gemini-*', backend: 'openai-compatible', base_url: upstream.url, model: 'm' },
      ],
      keys: [{ key: KEY_A, project: 'team-a' }],
    });
  });
  afterAll(async () => {
    for (const c of children) c.process.kill('SIGKILL');
    await upstream.close();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('SIGKILL mid-stream, restart on the same store: terminal state, and last_event_id=K replays exactly the stored events after K', async () => {
    const first = await startChildServer(['--config', configPath, '--db', db.url]);
    children.push(first);
    const res = await fetch(`${first.baseUrl}/v1beta/interactions`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        model: 'gemini-3.5-flash',
        input: 'count for a long time',
        stream: true,
      }),
    });
    const { text } = await readUntil(res, (n) => n >= 12);
    const seen = parseSse(text);
    const id = (JSON.parse(seen[0]!.data) as { interaction: { id: string } }).interaction.id;
    first.process.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');

    const second = await startChildServer(['--config', configPath, '--db', db.url]);
    children.push(second);
    const got = (await (
      await fetch(`${second.baseUrl}/v1beta/interactions/${id}`, { headers })
    ).json()) as {
      status: string;
      errors: { code: string; message: string }[];
      steps: { type: string }[];
    };
    expect(got.status).toBe('failed');
    expect(got.errors.at(-1)!.message).toMatch(/interrupted/);
    expect(got.steps.map((s) => s.type)).toEqual(['user_input', 'model_output']);

    // What the store holds is the truth; what the client saw before the kill is its prefix.
    const direct = SqlStore.open(db.url);
    const stored = await direct.listEvents(id);
    await direct.close();
    expect(stored.slice(0, seen.length).map((e) => e.data)).toEqual(seen.map((m) => m.data));
    const k = Number(seen.at(-1)!.id);
    const resumed = await fetch(
      `${second.baseUrl}/v1beta/interactions/${id}?stream=true&last_event_id=${k}`,
      { headers },
    );
    const replay = parseSse(await resumed.text());
    expect(replay.at(-1)!.data).toBe('[DONE]');
    expect(replay.slice(0, -1).map((m) => m.data)).toEqual(
      stored.filter((e) => e.seq > k).map((e) => e.data),
    );
    expect(JSON.parse(replay.at(-2)!.data)).toMatchObject({
      event_type: 'interaction.completed',
      interaction: { status: 'failed' },
    });
    expect(JSON.parse(replay.at(-3)!.data)).toMatchObject({ event_type: 'error' });

    second.process.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
  }, 60_000);

  it('SIGTERM drains: a running create finishes with 200, new creates get 503, the process exits 0', async () => {
    const server = await startChildServer(['--config', configPath, '--db', db.url]);
    children.push(server);
    upstream.script = () => ({ text: ['drained ', 'answer'], hold: true });
    const before = upstream.requests.length;
    const running = fetch(`${server.baseUrl}/v1beta/interactions`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ model: 'gemini-3.5-flash', input: 'finish me' }),
    });
    await upstream.waitForRequests(before + 1);
    server.process.kill('SIGTERM');
    // wait until the server says it is draining
    for (let i = 0; i < 100 && !server.output().includes('draining'); i++)
      await new Promise((r) => setTimeout(r, 20));
    const refused = await fetch(`${server.baseUrl}/v1beta/interactions`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ model: 'gemini-3.5-flash', input: 'too late' }),
    });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    upstream.release();
    const done = await running;
    expect(done.status).toBe(200);
    expect(((await done.json()) as { status: string }).status).toBe('completed');
    expect((await server.exited).code).toBe(0);
  }, 60_000);
});
