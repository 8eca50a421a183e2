import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Step } from '../../src/protocol/types.js';
import { EventLog } from '../../src/store/event-log.js';
import { openDatabase } from '../../src/store/database.js';
import { SqlStore } from '../../src/store/sql-store.js';
import type { EventBatch, InteractionRecord, Store } from '../../src/store/types.js';
import { STORE_KINDS, createTestDatabase, type TestDatabase } from '../support/databases.js';

const user = (text: string): Step => ({ type: 'user_input', content: [{ type: 'text', text }] });
const model = (text: string): Step => ({ type: 'model_output', content: [{ type: 'text', text }] });

function record(id: string, overrides: Partial<InteractionRecord> = {}): InteractionRecord {
  return {
    id,
    project: 'p1',
    parentId: null,
    status: 'completed',
    model: 'm',
    agent: null,
    created: '2026-06-01T10:00:00Z',
    updated: '2026-06-01T10:00:00Z',
    background: false,
    ownerNode: 'node-1',
    inputSteps: [user(`in ${id}`)],
    outputSteps: [model(`out ${id}`)],
    request: {},
    usage: null,
    errors: null,
    ...overrides,
  };
}

const ev = (seq: number, text = `e${seq}`) => ({
  seq,
  data: JSON.stringify({ event_type: 'x', event_id: String(seq), text }),
});

/** The store suite, unchanged, on every implementation. */
describe.each(STORE_KINDS)('SqlStore (%s)', (kind) => {
  let db: TestDatabase;
  let store: SqlStore;
  const queries: string[] = [];
  beforeAll(async () => {
    db = await createTestDatabase(kind);
    store = SqlStore.open(db.url, { onQuery: (sql) => queries.push(sql) });
    await store.migrate();
    await store.migrate(); // idempotent
  });
  afterAll(async () => {
    await store.close();
    await db.drop();
  });

  it('stores an interaction with its first events and reads events after K in order', async () => {
    await store.createInteraction(record('a1', { status: 'in_progress', outputSteps: null }), [
      ev(1),
      ev(2),
    ]);
    await store.appendEvents([
      {
        interactionId: 'a1',
        events: [ev(3), ev(4), ev(5)],
        update: { status: 'completed', outputSteps: [model('done')] },
      },
    ]);
    expect((await store.listEvents('a1')).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect((await store.listEvents('a1', 3)).map((e) => e.data)).toEqual([ev(4).data, ev(5).data]);
    const got = await store.getInteraction('p1', 'a1');
    expect(got).toMatchObject({
      status: 'completed',
      outputSteps: [model('done')],
      background: false,
    });
  });

  it('writes a create marked to be written at its end whole: nothing before its terminal event, then its row in its final state and every event in one write', async () => {
    const log = new EventLog(store);
    const initial = [ev(1), ev(2)];
    const run = log.openWrittenAtEnd(
      record('w1', { status: 'in_progress', outputSteps: null }),
      initial,
    );
    const delivered: number[] = [];
    run.subscribe(0, (e) => delivered.push(e.seq));
    queries.length = 0;
    run.append({ event_type: 'step.start', index: 0, step: model('') } as never);
    run.append({ event_type: 'step.stop', index: 0 } as never);
    await log.flush();
    await new Promise((r) => setImmediate(r));
    expect(queries).toEqual([]); // nothing of it is written before it ends…
    expect(await store.getInteraction('p1', 'w1')).toBeUndefined();
    expect(delivered).toEqual([1, 2]); // …and nothing unwritten is delivered but its first events
    queries.length = 0;
    run.append(
      {
        event_type: 'interaction.completed',
        interaction: { id: 'w1', object: 'interaction', status: 'completed' },
      } as never,
      { status: 'completed', outputSteps: [model('out w1')], updated: '2026-06-01T10:00:05Z' },
    );
    await run.whenClosed();
    expect(delivered).toEqual([1, 2, 3, 4, 5]);
    // one transaction (on PostgreSQL one statement): the row, already in its final state, the
    // events and the webhook outbox row of its terminal state; no UPDATE
    expect(queries.map((q) => q.split(' ').slice(0, 3).join(' ').toLowerCase())).toEqual(
      kind === 'postgres'
        ? ['with created as']
        : [
            'begin',
            'insert into "interactions"',
            'insert into "events"',
            'insert into webhook_events',
            'commit',
          ],
    );
    if (kind === 'postgres') {
      expect(queries[0]).toMatch(/insert into "events"/);
      expect(queries[0]).toMatch(/outbox as \(insert into webhook_events/);
    }
    const stored = await store.getInteraction('p1', 'w1');
    expect(stored).toMatchObject({
      status: 'completed',
      updated: '2026-06-01T10:00:05Z',
      outputSteps: [model('out w1')],
    });
    expect((await store.listEvents('w1')).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
  });

  it('continues a conversation from its cached tip, and never past a deleted ancestor (deleted through this store or another connection)', async () => {
    let parent: string | null = null;
    for (let i = 0; i < 5; i++) {
      await store.createInteraction(record(`t${i}`, { parentId: parent }), [ev(1)]);
      parent = `t${i}`;
    }
    const expected = (n: number) =>
      Array.from({ length: n }, (_, i) => [user(`in t${i}`), model(`out t${i}`)]).flat();
    expect((await store.loadHistory('p1', 't3'))!.steps).toEqual(expected(4));
    // the next turn extends the cached tip (one statement: the tip's row and the project's
    // history generation, no chain query); the cache hands out copies
    queries.length = 0;
    const next = await store.loadHistory('p1', 't4');
    expect(queries).toHaveLength(1);
    expect(queries[0]).toMatch(/history_generations/);
    expect(queries[0]).not.toMatch(/recursive/i);
    expect(next).toEqual({ steps: expected(5), broken: false });
    next!.steps.length = 0;
    expect((await store.loadHistory('p1', 't4'))!.steps).toEqual(expected(5));
    expect(await store.loadHistory('p2', 't4')).toBeUndefined();

    await store.deleteInteraction('p1', 't1');
    expect((await store.loadHistory('p1', 't4'))!.broken).toBe(true);

    // another connection (an operator command, another process) deletes: seen at once
    await store.createInteraction(record('u0'), [ev(1)]);
    await store.createInteraction(record('u1', { parentId: 'u0' }), [ev(1)]);
    expect((await store.loadHistory('p1', 'u1'))!.broken).toBe(false);
    const other = SqlStore.open(db.url);
    expect(await other.deleteInteraction('p1', 'u0')).toBe(true);
    await other.close();
    expect((await store.loadHistory('p1', 'u1'))!.broken).toBe(true);
  });

  it('gives a cached turn the same history as an uncached one, on every branch of a tree', async () => {
    // a tree: a trunk of 6 turns, a branch from turn 2 and one from the branch, a second root
    const tree: [string, string | null][] = [
      ['h0', null],
      ['h1', 'h0'],
      ['h2', 'h1'],
      ['h3', 'h2'],
      ['h4', 'h3'],
      ['h5', 'h4'],
      ['hb1', 'h2'],
      ['hb2', 'hb1'],
      ['hr', null],
    ];
    for (const [id, parentId] of tree) {
      const outputSteps = id === 'hb1' ? null : [model(`out ${id}`), model(`more ${id}`)];
      await store.createInteraction(record(id, { parentId, outputSteps }), [ev(1)]);
    }
    // warm: every turn loaded in creation order (each extends its parent's entry), twice
    for (let round = 0; round < 2; round++)
      for (const [id] of tree) await store.loadHistory('p1', id);
    const uncached = SqlStore.open(db.url);
    try {
      for (const [id] of tree) {
        const cold = await uncached.loadHistory('p1', id);
        expect(cold!.broken).toBe(false);
        expect(await store.loadHistory('p1', id)).toEqual(cold);
      }
      expect((await store.loadHistory('p1', 'hb2'))!.steps).toEqual([
        user('in h0'),
        model('out h0'),
        model('more h0'),
        user('in h1'),
        model('out h1'),
        model('more h1'),
        user('in h2'),
        model('out h2'),
        model('more h2'),
        user('in hb1'),
        user('in hb2'),
        model('out hb2'),
        model('more hb2'),
      ]);
    } finally {
      await uncached.close();
    }
  });

  it('two nodes on one database: a delete through one breaks the chains the other has cached at once, as without a cache', async () => {
    const nodeA = store;
    const nodeB = SqlStore.open(db.url);
    const fresh = () => SqlStore.open(db.url); // a node that never cached anything
    const uncached = async (id: string) => {
      const c = fresh();
      try {
        return await c.loadHistory('p1', id);
      } finally {
        await c.close();
      }
    };
    try {
      let parent: string | null = null;
      for (let i = 0; i < 6; i++) {
        await nodeA.createInteraction(record(`x${i}`, { parentId: parent }), [ev(1)]);
        parent = `x${i}`;
      }
      await nodeA.createInteraction(record('y0'), [ev(1)]);
      await nodeA.createInteraction(record('y1', { parentId: 'y0' }), [ev(1)]);
      await nodeA.createInteraction(record('z0', { project: 'p2' }), [ev(1)]);
      // node A continues both conversations: its cache holds x4, x5, y1
      for (const id of ['x4', 'x5', 'y1'])
        expect((await nodeA.loadHistory('p1', id))!.broken).toBe(false);
      queries.length = 0;
      expect((await nodeA.loadHistory('p1', 'x5'))!.steps).toHaveLength(12);
      expect(queries.filter((q) => /recursive/i.test(q))).toEqual([]);

      // a delete in another project leaves this project's cache in use
      expect(await nodeB.deleteInteraction('p2', 'z0')).toBe(true);
      queries.length = 0;
      expect((await nodeA.loadHistory('p1', 'x5'))!.broken).toBe(false);
      expect(queries.filter((q) => /recursive/i.test(q))).toEqual([]);

      // node B deletes an ancestor: node A sees the chain broken on its very next turn
      expect(await nodeB.deleteInteraction('p1', 'x2')).toBe(true);
      for (const id of ['x5', 'x4', 'x3', 'x1']) {
        const expected = await uncached(id);
        expect(await nodeA.loadHistory('p1', id)).toEqual(expected);
      }
      expect((await nodeA.loadHistory('p1', 'x5'))!.broken).toBe(true);
      expect((await nodeA.loadHistory('p1', 'x1'))!.broken).toBe(false);
      // the other conversation is intact, and cached again after one chain query
      expect(await nodeA.loadHistory('p1', 'y1')).toEqual(await uncached('y1'));

      // node B deletes a cached tip itself: node A finds nothing, as a fresh node does
      expect(await nodeA.loadHistory('p1', 'y1')).toEqual({
        steps: [user('in y0'), model('out y0'), user('in y1'), model('out y1')],
        broken: false,
      });
      expect(await nodeB.deleteInteraction('p1', 'y1')).toBe(true);
      expect(await nodeA.loadHistory('p1', 'y1')).toBeUndefined();
      expect(await uncached('y1')).toBeUndefined();

      // node B's retention sweep deletes the oldest turn of a cached conversation
      await nodeA.createInteraction(record('r0', { created: '2025-01-01T00:00:00Z' }), [ev(1)]);
      await nodeA.createInteraction(record('r1', { parentId: 'r0' }), [ev(1)]);
      await nodeA.createInteraction(record('r2', { parentId: 'r1' }), [ev(1)]);
      expect((await nodeA.loadHistory('p1', 'r1'))!.broken).toBe(false);
      expect((await nodeA.loadHistory('p1', 'r2'))!.broken).toBe(false);
      expect(await nodeB.deleteCreatedBefore('2025-06-01T00:00:00Z')).toBe(1);
      for (const id of ['r2', 'r1']) {
        const expected = await uncached(id);
        expect(expected!.broken).toBe(true);
        expect(await nodeA.loadHistory('p1', id)).toEqual(expected);
      }

      // an operator's SQL (or a node of an older version) deletes without the store: the same
      await nodeA.createInteraction(record('s0'), [ev(1)]);
      await nodeA.createInteraction(record('s1', { parentId: 's0' }), [ev(1)]);
      await nodeA.createInteraction(record('s2', { parentId: 's1' }), [ev(1)]);
      expect((await nodeA.loadHistory('p1', 's1'))!.broken).toBe(false);
      expect((await nodeA.loadHistory('p1', 's2'))!.broken).toBe(false);
      const raw = openDatabase(db.url);
      try {
        await raw.db.deleteFrom('events').where('interaction_id', '=', 's0').execute();
        await raw.db.deleteFrom('interactions').where('id', '=', 's0').execute();
      } finally {
        await raw.db.destroy();
      }
      for (const id of ['s2', 's1']) {
        const expected = await uncached(id);
        expect(expected!.broken).toBe(true);
        expect(await nodeA.loadHistory('p1', id)).toEqual(expected);
      }
    } finally {
      await nodeB.close();
    }
  });

  it("two nodes taking turns of one conversation: a turn reads only the rows after its node's last turn, and a delete still breaks the chain on both", async () => {
    const nodes = [store, SqlStore.open(db.url)] as const;
    const raw = openDatabase(db.url);
    try {
      // turn k continues q(k-1) on node k % 2, as a round-robin load balancer sends them
      await store.createInteraction(record('q0'), [ev(1)]);
      for (let k = 1; k <= 8; k++) {
        const node = k % 2 === 0 ? nodes[0] : nodes[1];
        const chain = await node.loadHistory('p1', `q${k - 1}`);
        expect(chain).toEqual({
          steps: Array.from({ length: k }, (_, i) => [user(`in q${i}`), model(`out q${i}`)]).flat(),
          broken: false,
        });
        await node.createInteraction(record(`q${k}`, { parentId: `q${k - 1}` }), [ev(1)]);
      }
      // A probe, not something the store does: q0's row is rewritten behind both nodes' backs.
      // Node B's turn 9 must walk q8, q7 and stop at q6 (the history its turn 7 cached), so it
      // still sees q0 as it was; a node that never cached anything walks to q0.
      await raw.db
        .updateTable('interactions')
        .set({ input_steps: JSON.stringify([user('rewritten')]) })
        .where('id', '=', 'q0')
        .execute();
      const turn9 = await nodes[1].loadHistory('p1', 'q8');
      expect(turn9!.steps[0]).toEqual(user('in q0'));
      expect(turn9!.steps).toHaveLength(18);
      const cold = SqlStore.open(db.url);
      try {
        expect((await cold.loadHistory('p1', 'q8'))!.steps[0]).toEqual(user('rewritten'));
        // node A extends the history node B cached for q6 to q8 the same way
        expect((await nodes[0].loadHistory('p1', 'q8'))!.steps[0]).toEqual(user('in q0'));

        // a delete through either node breaks the chain for both, as for an uncached node
        expect(await nodes[1].deleteInteraction('p1', 'q3')).toBe(true);
        for (const node of [...nodes, cold])
          for (const tip of ['q8', 'q7', 'q6', 'q4']) {
            const chain = await node.loadHistory('p1', tip);
            expect(chain!.broken).toBe(true);
            expect(chain!.steps[0]).toEqual(user('in q4'));
          }
      } finally {
        await cold.close();
      }
    } finally {
      await nodes[1].close();
      await raw.db.destroy();
    }
  });

  it('keeps projects apart: another project reads, loads and deletes nothing', async () => {
    await store.createInteraction(record('iso1'), [ev(1)]);
    expect(await store.getInteraction('p2', 'iso1')).toBeUndefined();
    expect(await store.loadHistory('p2', 'iso1')).toBeUndefined();
    expect(await store.deleteInteraction('p2', 'iso1')).toBe(false);
    expect(await store.getInteraction('p1', 'iso1')).toBeDefined();
  });

  it('loads a 300-deep chain in one query, oldest first, and branches from any turn', async () => {
    let parent: string | null = null;
    for (let i = 0; i < 300; i++) {
      await store.createInteraction(record(`c${i}`, { parentId: parent }), [ev(1)]);
      parent = `c${i}`;
    }
    queries.length = 0;
    const chain = await store.loadHistory('p1', 'c299');
    // one query walks the chain (after the tip's row, read first for the tips cache)
    expect(queries.filter((q) => !/^select parent_id/.test(q))).toHaveLength(1);
    expect(queries.at(-1)).toMatch(/with recursive/i);
    expect(chain!.broken).toBe(false);
    expect(chain!.steps).toHaveLength(600);
    expect(chain!.steps[0]).toEqual(user('in c0'));
    expect(chain!.steps[599]).toEqual(model('out c299'));

    await store.createInteraction(record('branch', { parentId: 'c9' }), [ev(1)]);
    const branch = await store.loadHistory('p1', 'branch');
    expect(branch!.steps).toHaveLength(22);
    expect(branch!.steps.at(-3)).toEqual(model('out c9'));
  });

  it('flags a chain whose ancestor was deleted as broken; a foreign parent link is not followed', async () => {
    await store.createInteraction(record('g0'), [ev(1)]);
    await store.createInteraction(record('g1', { parentId: 'g0' }), [ev(1)]);
    await store.createInteraction(record('g2', { parentId: 'g1' }), [ev(1)]);
    expect(await store.deleteInteraction('p1', 'g1')).toBe(true);
    expect(await store.listEvents('g1')).toEqual([]);
    const chain = await store.loadHistory('p1', 'g2');
    expect(chain!.broken).toBe(true);

    await store.createInteraction(record('foreign', { project: 'p2' }), [ev(1)]);
    await store.createInteraction(record('sneaky', { parentId: 'foreign' }), [ev(1)]);
    const sneaky = await store.loadHistory('p1', 'sneaky');
    expect(sneaky!.steps).toEqual([user('in sneaky'), model('out sneaky')]);
    expect(sneaky!.broken).toBe(true);
  });

  it('writes several interactions in one batch, atomically', async () => {
    await store.createInteraction(record('b1', { status: 'in_progress' }), [ev(1)]);
    await store.createInteraction(record('b2', { status: 'in_progress' }), [ev(1)]);
    const batches: EventBatch[] = [
      { interactionId: 'b1', events: [ev(2), ev(3)] },
      { interactionId: 'b2', events: [ev(2)], update: { status: 'failed' } },
    ];
    await store.appendEvents(batches);
    expect((await store.listEvents('b1')).length).toBe(3);
    expect((await store.getInteraction('p1', 'b2'))!.status).toBe('failed');
    // a duplicate seq fails the whole batch: nothing of it lands
    await expect(
      store.appendEvents([
        { interactionId: 'b1', events: [ev(4)] },
        { interactionId: 'b2', events: [ev(2)] },
      ]),
    ).rejects.toThrow();
    expect((await store.listEvents('b1')).length).toBe(3);
  });

  it('finds unfinished runs of a node and of nodes whose heartbeat went stale', async () => {
    await store.heartbeat('node-live', '2026-06-01T10:05:00Z');
    await store.heartbeat('node-dead', '2026-06-01T09:00:00Z');
    await store.createInteraction(
      record('u-live', { status: 'in_progress', ownerNode: 'node-live' }),
      [ev(1), ev(2)],
    );
    await store.createInteraction(
      record('u-dead', { status: 'in_progress', ownerNode: 'node-dead' }),
      [ev(1)],
    );
    await store.createInteraction(record('u-mine', { status: 'in_progress', ownerNode: 'me' }), [
      ev(1),
    ]);
    const mine = await store.findUnfinished({ ownerNode: 'me' });
    expect(mine).toEqual([{ id: 'u-mine', project: 'p1', lastSeq: 1 }]);
    const stale = await store.findUnfinished({
      ownerNode: 'me',
      staleBefore: '2026-06-01T10:00:00Z',
    });
    // node-1 never wrote a heartbeat: its runs count as orphaned too (b1 from the batch test)
    expect(stale.map((u) => u.id).sort()).toEqual(['b1', 'u-dead', 'u-mine']);
  });

  it('records cancel requests and deletes by retention', async () => {
    await store.createInteraction(record('old', { created: '2026-01-01T00:00:00Z' }), [ev(1)]);
    await store.requestCancel('p1', 'old');
    expect(await store.isCancelRequested('old')).toBe(true);
    expect(await store.deleteCreatedBefore('2026-02-01T00:00:00Z')).toBe(1);
    expect(await store.getInteraction('p1', 'old')).toBeUndefined();
  });
});

describe('EventLog group commit', () => {
  it('writes many appends of many interactions in one transaction and delivers them only when durable', async () => {
    const db = await createTestDatabase('sqlite');
    const inner = SqlStore.open(db.url);
    await inner.migrate();
    const writes: EventBatch[][] = [];
    const store: Store = Object.assign(Object.create(inner) as Store, {
      appendEvents: async (batches: EventBatch[]) => {
        writes.push(batches);
        await inner.appendEvents(batches);
      },
    });
    const log = new EventLog(store);
    const logs = [];
    for (let i = 0; i < 5; i++) {
      await inner.createInteraction(record(`g${i}`, { status: 'in_progress' }), []);
      logs.push(log.open(`g${i}`, [], true));
    }
    const delivered: number[] = [];
    logs[0]!.subscribe(0, (e) => delivered.push(e.seq));
    for (let n = 0; n < 100; n++)
      for (const l of logs)
        l.append({
          event_type: 'interaction.status_update',
          interaction_id: l.id,
          status: 'in_progress',
        });
    expect(delivered).toEqual([]); // nothing is visible before it is stored
    await log.flush();
    expect(writes).toHaveLength(1);
    expect(writes[0]!.map((b) => b.events.length)).toEqual([100, 100, 100, 100, 100]);
    expect(delivered).toHaveLength(100);
    expect((await inner.listEvents('g3')).length).toBe(100);
    await inner.close();
    await db.drop();
  });
});

describe('EventLog delta joining', () => {
  it('joins the text deltas of a burst into one stored event that folds to the same step', async () => {
    const db = await createTestDatabase('sqlite');
    const store = SqlStore.open(db.url);
    await store.migrate();
    await store.createInteraction(record('j1', { status: 'in_progress' }), []);
    const eventLog = new EventLog(store);
    const log = eventLog.open('j1', [], true);
    const seen: string[] = [];
    log.subscribe(0, (e) => seen.push(e.data));
    log.append({ event_type: 'step.start', index: 0, step: { type: 'model_output' } });
    for (const piece of ['Hel', 'lo', ', ', 'world']) {
      log.append({ event_type: 'step.delta', index: 0, delta: { type: 'text', text: piece } });
    }
    // a delta with more than text (annotations) never joins: it stays its own event
    log.append({
      event_type: 'step.delta',
      index: 0,
      delta: { type: 'text_annotation_delta', annotations: [] },
    });
    log.append({ event_type: 'step.delta', index: 0, delta: { type: 'text', text: '!' } });
    log.append({ event_type: 'step.stop', index: 0 });
    expect(log.fold.steps).toEqual([
      { type: 'model_output', content: [{ type: 'text', text: 'Hello, world!', annotations: [] }] },
    ]);
    expect(seen).toEqual([]); // nothing is visible before it is stored
    await eventLog.flush();
    const stored = (await store.listEvents('j1')).map((e) => JSON.parse(e.data) as object);
    expect(stored).toEqual([
      { event_type: 'step.start', event_id: '1', index: 0, step: { type: 'model_output' } },
      {
        event_type: 'step.delta',
        event_id: '2',
        index: 0,
        delta: { type: 'text', text: 'Hello, world' },
      },
      {
        event_type: 'step.delta',
        event_id: '3',
        index: 0,
        delta: { type: 'text_annotation_delta', annotations: [] },
      },
      { event_type: 'step.delta', event_id: '4', index: 0, delta: { type: 'text', text: '!' } },
      { event_type: 'step.stop', event_id: '5', index: 0 },
    ]);
    expect(seen.map((d) => JSON.parse(d) as object)).toEqual(stored);
    await store.close();
    await db.drop();
  });

  it('never changes an event once its write has begun: later deltas start a new one', async () => {
    const db = await createTestDatabase('sqlite');
    const inner = SqlStore.open(db.url);
    await inner.migrate();
    await inner.createInteraction(record('j2', { status: 'in_progress' }), []);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const written: string[][] = [];
    const store: Store = Object.assign(Object.create(inner) as Store, {
      appendEvents: async (batches: EventBatch[]) => {
        // what the store was handed, copied at the moment it was handed over
        written.push(batches.flatMap((b) => b.events.map((e) => e.data)));
        await gate;
        await inner.appendEvents(batches);
      },
    });
    const eventLog = new EventLog(store, { batchWindowMs: 0 });
    const log = eventLog.open('j2', [], true);
    log.append({ event_type: 'step.start', index: 0, step: { type: 'model_output' } });
    log.append({ event_type: 'step.delta', index: 0, delta: { type: 'text', text: 'a' } });
    const first = eventLog.flush(); // the write of events 1–2 is now in flight
    log.append({ event_type: 'step.delta', index: 0, delta: { type: 'text', text: 'b' } });
    log.append({ event_type: 'step.delta', index: 0, delta: { type: 'text', text: 'c' } });
    release();
    await first;
    await eventLog.flush();
    const stored = await inner.listEvents('j2');
    expect(
      stored.map((e) => (JSON.parse(e.data) as { delta?: { text: string } }).delta?.text),
    ).toEqual([undefined, 'a', 'bc']);
    expect(written[0]![1]).toBe(stored[1]!.data); // the in-flight event was not rewritten
    expect(log.fold.steps).toEqual([
      { type: 'model_output', content: [{ type: 'text', text: 'abc' }] },
    ]);
    await inner.close();
    await db.drop();
  });
});
