import { GoogleGenAI } from '@google/genai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChildServer, writeConfig, type ChildServer } from '../support/child-server.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { lastUserText, startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.js';
import { expectOneStory } from '../support/event-story.js';
import { KEY_A, parseSse } from '../support/harness.js';

const headers = { 'content-type': 'application/json', 'x-goog-api-key': KEY_A };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns a value (bounded: no timing is asserted, only the outcome). */
async function until<T>(check: () => Promise<T | undefined>, what: string, tries = 600) {
  for (let i = 0; i < tries; i++) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    await sleep(200);
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** A node's config: quick heartbeats so that a dead node is noticed in seconds. */
function nodeConfig(dir: string, nodeId: string, upstreamUrl: string): string {
  return writeConfig(mkdtempSync(join(dir, `${nodeId}-`)), {
    server: { node_id: nodeId, heartbeat_seconds: 0.5, node_stale_seconds: 3 },
    run_queue: { poll_ms: 200 },
    models: [{ name: 'gemini-*', backend: 'openai-compatible', base_url: upstreamUrl, model: 'm' }],
    keys: [{ key: KEY_A, project: 'team-a' }],
  });
}

/** Issue 12: a background run whose node dies continues on another node (PostgreSQL). */
describe('background run takeover (postgres, real processes)', () => {
  let upstream: FakeUpstream;
  let db: TestDatabase;
  let dir: string;
  const children: ChildServer[] = [];

  beforeAll(async () => {
    // The first answer stops half-way for good (its node dies during it); the one asked again ends.
    upstream = await startFakeUpstream((body, index) => ({
      text: Array.from({ length: 20 }, (_, i) => `w${i} `).concat([`[${lastUserText(body)} done]`]),
      delayMs: 5,
      // the first answer pauses half-way for good: its node dies during it
      ...(index === 0 ? { holdAfterChunks: 10 } : {}),
    }));
    db = await createTestDatabase('postgres');
    dir = mkdtempSync(join(tmpdir(), 'oi-takeover-'));
  });
  afterAll(async () => {
    for (const c of children) c.process.kill('SIGKILL');
    await upstream.close();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('SIGKILL of the node running a background run: another node continues it to completed; the SDK polls get on that node', async () => {
    const a = await startChildServer([
      '--config',
      nodeConfig(dir, 'node-a', upstream.url),
      '--db',
      db.url,
    ]);
    children.push(a);
    const sdkA = new GoogleGenAI({ apiKey: KEY_A, httpOptions: { baseUrl: a.baseUrl } });
    const created = await sdkA.interactions.create({
      model: 'gemini-3.5-flash',
      input: 'long job',
      background: true,
    });
    expect(created.status).toBe('in_progress');
    // Node A is streaming the answer: some of it is durable.
    await until(async () => {
      const r = await fetch(`${a.baseUrl}/v1beta/interactions/${created.id}`, { headers });
      const got = (await r.json()) as { steps: { type: string }[] };
      return got.steps.some((s) => s.type === 'model_output') ? true : undefined;
    }, 'node A to store part of the answer');

    const b = await startChildServer([
      '--config',
      nodeConfig(dir, 'node-b', upstream.url),
      '--db',
      db.url,
    ]);
    children.push(b);
    a.process.kill('SIGKILL');
    expect((await a.exited).signal).toBe('SIGKILL');

    const sdkB = new GoogleGenAI({ apiKey: KEY_A, httpOptions: { baseUrl: b.baseUrl } });
    const done = await until(async () => {
      const got = await sdkB.interactions.get(created.id);
      return got.status === 'in_progress' ? undefined : got;
    }, 'the run to finish on node B');
    expect(done.status).toBe('completed');
    expect(done.output_text).toContain('[long job done]');
    expect(upstream.requests.length).toBe(2);
    expect(b.output()).toContain('took over background runs of a stopped node');

    // One story: ids 1..n without a gap, every step opened and closed in order, one terminal event.
    const replay = parseSse(
      await (
        await fetch(`${b.baseUrl}/v1beta/interactions/${created.id}?stream=true&last_event_id=0`, {
          headers,
        })
      ).text(),
    ).filter((m) => m.data !== '[DONE]');
    expectOneStory(replay);
    b.process.kill('SIGTERM');
    expect((await b.exited).code).toBe(0);
  }, 120_000);

  it('SIGTERM of a node running a background run: the run goes back to the queue and finishes on another node; its stream ends resumable', async () => {
    const c = await startChildServer([
      '--config',
      nodeConfig(dir, 'node-c', upstream.url),
      '--db',
      db.url,
    ]);
    children.push(c);
    const before = upstream.requests.length;
    // This first answer pauses half-way for good too (see the script: only index 0 did before).
    upstream.script = (body, index) => ({
      text: Array.from({ length: 20 }, (_, i) => `w${i} `).concat([`[${lastUserText(body)} done]`]),
      delayMs: 5,
      ...(index === before ? { holdAfterChunks: 10 } : {}),
    });
    const res = await fetch(`${c.baseUrl}/v1beta/interactions`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        model: 'gemini-3.5-flash',
        input: 'rolling restart',
        stream: true,
        background: true,
      }),
    });
    const stream = res.text();
    await upstream.waitForHeld(2);
    const d = await startChildServer([
      '--config',
      nodeConfig(dir, 'node-d', upstream.url),
      '--db',
      db.url,
    ]);
    children.push(d);
    c.process.kill('SIGTERM');
    expect((await c.exited).code).toBe(0);
    expect(c.output()).toContain('handed background runs back to the queue');

    // The stream of the stopping node ends with an error (no id), not with [DONE].
    const seen = parseSse(await stream);
    expect(seen.at(-1)!.data).not.toBe('[DONE]');
    expect(seen.at(-1)!.id).toBeUndefined();
    expect(JSON.parse(seen.at(-1)!.data)).toMatchObject({ error: { code: 'unavailable' } });
    const id = (JSON.parse(seen[0]!.data) as { interaction: { id: string } }).interaction.id;
    const last = seen.filter((m) => m.id !== undefined).at(-1)!.id!;

    // Resumed on node D after the last event seen: the rest of the story, to completed.
    const rest = parseSse(
      await (
        await fetch(`${d.baseUrl}/v1beta/interactions/${id}?stream=true&last_event_id=${last}`, {
          headers,
        })
      ).text(),
    );
    expect(rest.at(-1)!.data).toBe('[DONE]');
    expect(JSON.parse(rest.at(-2)!.data)).toMatchObject({
      event_type: 'interaction.completed',
      interaction: { status: 'completed' },
    });
    expect(Number(rest[0]!.id)).toBe(Number(last) + 1);
    const got = (await (
      await fetch(`${d.baseUrl}/v1beta/interactions/${id}`, { headers })
    ).json()) as { status: string };
    expect(got.status).toBe('completed');
    expect(upstream.requests.length).toBe(before + 2);
  }, 120_000);
});
