import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InteractionEvent } from '../../src/protocol/types.js';
import {
  EventLog,
  isTerminalEventData,
  serializeEvent,
  type InteractionLog,
  type LogFailure,
} from '../../src/store/event-log.js';
import { SqlStore } from '../../src/store/sql-store.js';
import type { StoredEvent } from '../../src/store/types.js';
import { STORE_KINDS, createTestDatabase, type TestDatabase } from '../support/databases.js';
import { createStoreOutage, type StoreOutage } from '../support/store-outage.js';

const PROJECT = 'p1';

/** What a reader of one log received: the events, and the failure if the log failed. */
interface Reader {
  events: StoredEvent[];
  failure?: LogFailure;
}

function firstEvents(id: string): StoredEvent[] {
  const at = '2026-06-01T10:00:00Z';
  return [
    serializeEvent(
      {
        event_type: 'interaction.created',
        interaction: {
          id,
          object: 'interaction',
          model: 'm',
          status: 'in_progress',
          created: at,
          updated: at,
        },
      },
      1,
    ),
    serializeEvent(
      { event_type: 'interaction.status_update', interaction_id: id, status: 'in_progress' },
      2,
    ),
  ].map(({ event, data }) => ({ seq: Number(event.event_id), data }));
}

const text = (log: InteractionLog, t: string) =>
  log.append({ event_type: 'step.delta', index: 0, delta: { type: 'text', text: t } });

async function waitFor<T>(check: () => Promise<T | undefined>, what: string): Promise<T> {
  for (let i = 0; i < 600; i++) {
    const value = await check();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Store-level faults on every store: real databases, real locks and cut connections. */
describe.each(STORE_KINDS)('EventLog under store faults (%s)', (kind) => {
  let db: TestDatabase;
  let outage: StoreOutage;
  /** The store the event log writes to (through the outage point). */
  let store: SqlStore;
  /** A direct connection: the test's own view of the database and its injected rows. */
  let direct: SqlStore;
  let n = 0;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    outage = await createStoreOutage(kind, db);
    store = SqlStore.open(outage.url, { busyTimeoutMs: 50 });
    await store.migrate();
    direct = SqlStore.open(db.url);
  });
  afterAll(async () => {
    await outage.close();
    await store.close();
    await direct.close();
    await db.drop();
  });

  async function start(eventLog: EventLog): Promise<{ log: InteractionLog; reader: Reader }> {
    const id = `i${++n}`;
    const initial = firstEvents(id);
    await store.createInteraction(
      {
        id,
        project: PROJECT,
        parentId: null,
        status: 'in_progress',
        model: 'm',
        agent: null,
        created: '2026-06-01T10:00:00Z',
        updated: '2026-06-01T10:00:00Z',
        background: false,
        ownerNode: 'node-1',
        inputSteps: [],
        outputSteps: null,
        request: {},
        usage: null,
        errors: null,
      },
      initial,
    );
    const log = eventLog.open(id, initial, true);
    const reader: Reader = { events: [] };
    log.subscribe(
      0,
      (e) => reader.events.push({ ...e }),
      (failure) => (reader.failure = failure),
    );
    log.append({ event_type: 'step.start', index: 0, step: { type: 'model_output' } });
    return { log, reader };
  }

  /** The stored log once it ends with its terminal event. */
  const terminal = (id: string) =>
    waitFor(async () => {
      const events = await direct.listEvents(id);
      return isTerminalEventData(events.at(-1)?.data ?? '') ? events : undefined;
    }, `the terminal event of ${id}`);

  it("a duplicate event id in one interaction fails only that interaction: the others' events of the same batch are stored and delivered", async () => {
    const eventLog = new EventLog(store);
    const [a, b, c] = [await start(eventLog), await start(eventLog), await start(eventLog)];
    await eventLog.flush();
    // another writer takes b's next event id
    const foreign = serializeEvent(
      { event_type: 'step.delta', index: 0, delta: { type: 'text', text: 'not yours' } },
      4,
    );
    await direct.appendEvents([
      { interactionId: b.log.id, events: [{ seq: 4, data: foreign.data }] },
    ]);
    // the next events of all three go into one batch
    for (const { log } of [a, b, c]) {
      text(log, `hello from ${log.id}`);
      log.append({ event_type: 'step.stop', index: 0 });
    }
    await eventLog.flush();

    for (const { log, reader } of [a, c]) {
      expect(reader.failure).toBeUndefined();
      expect(reader.events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
      expect(await direct.listEvents(log.id)).toEqual(reader.events);
    }
    expect(b.reader.failure?.cause).toBe('conflict');
    expect(b.reader.events.map((e) => e.seq)).toEqual([1, 2, 3]); // nothing unstored was delivered
    expect(b.log.events).toHaveLength(3);
    // b's terminal state follows what the store holds, exactly once
    const stored = await terminal(b.log.id);
    expect(stored.map((e) => (JSON.parse(e.data) as InteractionEvent).event_type)).toEqual([
      'interaction.created',
      'interaction.status_update',
      'step.start',
      'step.delta',
      'error',
      'interaction.completed',
    ]);
    expect(stored[3]!.data).toBe(foreign.data);
    expect((await direct.getInteraction(PROJECT, b.log.id))!.status).toBe('failed');
    await eventLog.close();
  });

  it('a duplicate event id holding our own bytes (a commit whose answer was lost) counts as stored', async () => {
    const eventLog = new EventLog(store);
    const { log, reader } = await start(eventLog);
    await eventLog.flush();
    const next = serializeEvent({ event_type: 'step.stop', index: 0 }, 4);
    // the same row already landed, as when a COMMIT succeeded but its answer never arrived
    await direct.appendEvents([{ interactionId: log.id, events: [{ seq: 4, data: next.data }] }]);
    log.append({ event_type: 'step.stop', index: 0 });
    expect(log.events[3]!.data).toBe(next.data);
    await eventLog.flush();
    expect(reader.failure).toBeUndefined();
    expect(reader.events.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(await direct.listEvents(log.id)).toEqual(reader.events);
    await eventLog.close();
  });

  it('an interaction deleted under its running log fails alone and quietly: the others are stored, nothing of it comes back', async () => {
    const eventLog = new EventLog(store);
    const [a, b] = [await start(eventLog), await start(eventLog)];
    await eventLog.flush();
    expect(await direct.deleteInteraction(PROJECT, a.log.id)).toBe(true);
    text(a.log, 'a');
    text(b.log, 'b');
    await eventLog.flush();
    expect(a.reader.failure?.cause).toBe('deleted');
    expect(a.reader.events.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(b.reader.failure).toBeUndefined();
    expect(await direct.listEvents(b.log.id)).toEqual(b.reader.events);
    expect(b.reader.events).toHaveLength(4);
    await eventLog.close();
    expect(await direct.listEvents(a.log.id)).toEqual([]);
    expect(await direct.getInteraction(PROJECT, a.log.id)).toBeUndefined();
  });

  it('a store outage shorter than the retry window only delays: every event is stored and delivered in order', async () => {
    let failedWrites = 0;
    const logger = {
      info: () => {},
      error: () => {},
      warn: (_: object, msg?: string) => {
        if (msg?.startsWith('store unavailable')) failedWrites += 1;
      },
    };
    const eventLog = new EventLog(store, { retryWindowMs: 60_000, logger });
    const { log, reader } = await start(eventLog);
    await eventLog.flush();
    outage.cut();
    text(log, 'written ');
    text(log, 'later');
    log.append({ event_type: 'step.stop', index: 0 });
    const flushing = eventLog.flush();
    await waitFor(async () => (failedWrites > 0 ? true : undefined), 'a failed write');
    expect(reader.events).toHaveLength(3);
    outage.restore();
    await flushing;
    expect(reader.failure).toBeUndefined();
    expect(reader.events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(await direct.listEvents(log.id)).toEqual(reader.events);
    await eventLog.close();
  });

  it('a store outage beyond the retry window: the logs fail without delivering anything unstored, and get one terminal state once the store is back', async () => {
    const eventLog = new EventLog(store, { retryWindowMs: 300 });
    const [a, b] = [await start(eventLog), await start(eventLog)];
    await eventLog.flush();
    expect(a.reader.events).toHaveLength(3);

    outage.cut();
    text(a.log, 'never stored');
    text(b.log, 'never stored either');
    a.log.append(
      {
        event_type: 'interaction.completed',
        interaction: {
          id: a.log.id,
          object: 'interaction',
          status: 'completed',
          updated: '2026-06-01T10:00:01Z',
        },
      },
      { status: 'completed' },
    );
    await eventLog.flush();
    for (const { log, reader } of [a, b]) {
      expect(reader.failure?.cause).toBe('unavailable');
      expect(reader.failure?.error.code).toBe('unavailable');
      expect(reader.events.map((e) => e.seq)).toEqual([1, 2, 3]);
      expect(log.events).toHaveLength(3);
    }
    // appends after the failure are dropped: the run is being stopped
    text(b.log, 'dropped');
    expect(b.log.events).toHaveLength(3);
    outage.restore();

    for (const { log, reader } of [a, b]) {
      const stored = await terminal(log.id);
      expect(stored.slice(0, 3)).toEqual(reader.events);
      const types = stored.map((e) => (JSON.parse(e.data) as InteractionEvent).event_type);
      expect(types.slice(3)).toEqual(['error', 'interaction.completed']);
      expect(JSON.parse(stored[4]!.data)).toMatchObject({ interaction: { status: 'failed' } });
      const row = await direct.getInteraction(PROJECT, log.id);
      expect(row).toMatchObject({ status: 'failed', errors: [{ code: 'unavailable' }] });
    }
    await eventLog.close();
  });
});
