import { GoogleGenAI } from '@google/genai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from '../../src/server.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.js';
import { KEY_A, noRetry, parseSse, testConfig } from '../support/harness.js';

/**
 * Cross-node wake-ups (issue 12): with LISTEN/NOTIFY, a node hears about another node's new
 * events and cancels without polling (the poll interval here is ten minutes, longer than the
 * test may take, so only a wake-up can make it pass); without NOTIFY, polling still does it.
 */
describe.each([
  { notify: true, pollMs: 600_000 },
  { notify: false, pollMs: 50 },
])('two nodes, notify: $notify, poll every $pollMs ms (postgres)', ({ notify, pollMs }) => {
  let db: TestDatabase;
  let upstream: FakeUpstream;
  const nodes: { server: Server; url: string; sdk: GoogleGenAI }[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    upstream = await startFakeUpstream();
    for (const nodeId of ['node-a', 'node-b']) {
      const server = await createServer({
        config: testConfig(upstream.url, { server: { node_id: nodeId, notify } }),
        databaseUrl: db.url,
        logger: false,
        pollMs,
      });
      const url = (await server.listen('127.0.0.1', 0)).replace('[::1]', '127.0.0.1');
      nodes.push({
        server,
        url,
        sdk: new GoogleGenAI({ apiKey: KEY_A, httpOptions: { baseUrl: url } }),
      });
    }
  });
  afterAll(async () => {
    upstream.release();
    for (const n of nodes) await n.server.close(0);
    await upstream.close();
    await db.drop();
  });

  it('a cancel sent to node B stops the background run node A executes', async () => {
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    upstream.script = () => ({ text: ['never'], hold: true });
    const before = upstream.requests.length;
    const r = await a.sdk.interactions.create(
      { model: 'gemini-3.5-flash', input: 'long job', background: true },
      noRetry,
    );
    await upstream.waitForRequests(before + 1);
    const cancelled = await b.sdk.interactions.cancel(r.id, undefined, noRetry);
    expect(cancelled.status).toBe('cancelled');
    expect((await a.sdk.interactions.get(r.id, undefined, noRetry)).status).toBe('cancelled');
  });

  it("node B's tail of a run on node A gets every event", async () => {
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    upstream.script = () => ({ text: ['one ', 'two ', 'three'], holdAfterChunks: 2 });
    const before = upstream.requests.length;
    const r = await a.sdk.interactions.create(
      { model: 'gemini-3.5-flash', input: 'tail me', background: true },
      noRetry,
    );
    await upstream.waitForHeld(2);
    expect(upstream.requests.length).toBe(before + 1);
    const onB = fetch(`${b.url}/v1beta/interactions/${r.id}?stream=true&last_event_id=2`, {
      headers: { 'x-goog-api-key': KEY_A },
    }).then((res) => res.text());
    upstream.release();
    const tail = parseSse(await onB);
    expect(tail.at(-1)!.data).toBe('[DONE]');
    const full = parseSse(
      await (
        await fetch(`${a.url}/v1beta/interactions/${r.id}?stream=true`, {
          headers: { 'x-goog-api-key': KEY_A },
        })
      ).text(),
    );
    expect(tail.map((m) => m.data)).toEqual(full.slice(2).map((m) => m.data));
    expect(JSON.parse(tail.at(-2)!.data)).toMatchObject({
      event_type: 'interaction.completed',
      interaction: { status: 'completed' },
    });
  });
});
