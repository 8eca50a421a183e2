import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { KEY_A, noRetry, parseSse, startHarness, type Harness } from '../support/harness.js';

/** Two stateless nodes in front of one PostgreSQL: any node serves any interaction. */
describe('several nodes on one PostgreSQL', () => {
  let db: TestDatabase;
  let a: Harness;
  let b: Harness;
  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    a = await startHarness({
      store: 'postgres',
      db,
      config: { server: { node_id: 'node-a', keepalive_seconds: 1 } },
    });
    b = await startHarness({
      store: 'postgres',
      db,
      config: { server: { node_id: 'node-b', keepalive_seconds: 1 } },
    });
  });
  afterAll(async () => {
    await a.close();
    await b.close();
    await db.drop();
  });

  it('reads, continues and deletes on node B what node A created', async () => {
    const r = await a
      .client()
      .interactions.create({ model: 'gemini-3.5-flash', input: 'made on A' }, noRetry);
    const got = await b.client().interactions.get(r.id, undefined, noRetry);
    expect(got.output_text).toBe('echo: made on A');
    const next = await b
      .client()
      .interactions.create(
        { model: 'gemini-3.5-flash', input: 'continued on B', previous_interaction_id: r.id },
        noRetry,
      );
    expect(next.status).toBe('completed');
    expect(JSON.stringify(b.upstream.requests.at(-1)!.messages)).toContain('made on A');
  });

  it('continues on node A a conversation whose earlier turn node B deleted exactly as a node that never saw it does (404), while node A had it cached', async () => {
    const continueOn = (node: Harness, previous: string, input: string) =>
      node.fetch('/v1beta/interactions', {
        method: 'POST',
        body: JSON.stringify({
          model: 'gemini-3.5-flash',
          input,
          previous_interaction_id: previous,
        }),
      });
    const turn = async (node: Harness, previous: string | undefined, input: string) => {
      const res = previous
        ? await continueOn(node, previous, input)
        : await node.fetch('/v1beta/interactions', {
            method: 'POST',
            body: JSON.stringify({ model: 'gemini-3.5-flash', input }),
          });
      expect(res.status).toBe(200);
      return ((await res.json()) as { id: string }).id;
    };
    // four turns on node A: its tips cache holds the conversation's history
    const ids: string[] = [];
    for (const input of ['first', 'second', 'third', 'fourth'])
      ids.push(await turn(a, ids.at(-1), input));
    const before = a.upstream.requests.length;
    const branch = await turn(a, ids[3], 'fifth');
    expect(a.upstream.requests.length).toBe(before + 1);
    const sent = JSON.stringify(a.upstream.requests.at(-1)!.messages);
    for (const text of ['first', 'second', 'third', 'fourth', 'fifth'])
      expect(sent).toContain(text);

    // node B deletes the second turn
    expect((await b.fetch(`/v1beta/interactions/${ids[1]}`, { method: 'DELETE' })).status).toBe(
      200,
    );
    // node A, its cache filled, answers as node C (a node started now, nothing cached) does
    const c = await startHarness({
      store: 'postgres',
      db,
      config: { server: { node_id: 'node-c', keepalive_seconds: 1 } },
    });
    try {
      for (const previous of [branch, ids[3]!, ids[2]!]) {
        const onA = await continueOn(a, previous, 'again');
        const onC = await continueOn(c, previous, 'again');
        expect(onA.status).toBe(404);
        expect(onC.status).toBe(404);
        expect(await onA.json()).toEqual(await onC.json());
      }
      // what stays before the deleted turn continues on node A as on node C
      const firstOnA = await continueOn(a, ids[0]!, 'from the first');
      expect(firstOnA.status).toBe(200);
      expect(JSON.stringify(a.upstream.requests.at(-1)!.messages)).toContain('first');
      const firstOnC = await continueOn(c, ids[0]!, 'from the first');
      expect(firstOnC.status).toBe(200);
      expect(c.upstream.requests.at(-1)!.messages).toEqual(a.upstream.requests.at(-1)!.messages);
    } finally {
      await c.close();
    }
  });

  it("follows node A's live stream from node B with last_event_id (cross-node tail)", async () => {
    a.upstream.script = () => ({ text: ['one ', 'two ', 'three'], hold: true });
    const before = a.upstream.requests.length;
    const res = await a.fetch('/v1beta/interactions', {
      method: 'POST',
      body: JSON.stringify({
        model: 'gemini-3.5-flash',
        input: 'tail me',
        stream: true,
        background: true,
      }),
    });
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    const id = (JSON.parse(parseSse(first)[0]!.data) as { interaction: { id: string } }).interaction
      .id;
    const onB = b
      .fetch(`/v1beta/interactions/${id}?stream=true&last_event_id=2`)
      .then((r) => r.text());
    await a.upstream.waitForRequests(before + 1);
    a.upstream.release();
    let rest = first;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      rest += new TextDecoder().decode(value);
    }
    const all = parseSse(rest).filter((m) => m.data !== '[DONE]');
    const tail = parseSse(await onB);
    expect(tail.at(-1)!.data).toBe('[DONE]');
    expect(tail.slice(0, -1).map((m) => m.data)).toEqual(all.slice(2).map((m) => m.data));
  });

  it('cancels on node B a background run that node A is executing', async () => {
    a.upstream.script = () => ({ text: ['never'], hold: true });
    const before = a.upstream.requests.length;
    const r = await a
      .client()
      .interactions.create(
        { model: 'gemini-3.5-flash', input: 'long job', background: true },
        noRetry,
      );
    await a.upstream.waitForRequests(before + 1);
    const cancelled = await b.client().interactions.cancel(r.id, undefined, noRetry);
    expect(cancelled.status).toBe('cancelled');
    expect((await a.client({ key: KEY_A }).interactions.get(r.id, undefined, noRetry)).status).toBe(
      'cancelled',
    );
    a.upstream.release();
  });
});
