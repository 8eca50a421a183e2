import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTerminalEventData, serializeEvent } from '../../src/store/event-log.js';
import { SqlStore } from '../../src/store/sql-store.js';
import { classifyStoreError } from '../../src/store/store-errors.js';
import type { StoredEvent } from '../../src/store/types.js';
import { STORE_KINDS, createTestDatabase, type TestDatabase } from '../support/databases.js';
import type { ChatRequest, UpstreamReply } from '../support/fake-upstream.js';
import { noRetry, parseSse, startHarness, type Harness } from '../support/harness.js';
import { createStoreOutage, type StoreOutage } from '../support/store-outage.js';

type Message = ReturnType<typeof parseSse>[number];

/** Everything one streaming client received, read to the end of its response. */
class Transcript {
  text = '';
  readonly done: Promise<void>;
  private waiters: Array<() => void> = [];

  constructor(res: Response) {
    this.done = (async () => {
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        this.text += decoder.decode(value, { stream: true });
        for (const wake of this.waiters.splice(0)) wake();
      }
    })();
  }

  /** Complete SSE messages so far (keep-alive comments left out). */
  get messages(): Message[] {
    return parseSse(this.text.slice(0, this.text.lastIndexOf('\n\n') + 2));
  }

  /** The messages that carry an event id: stored events. */
  get stored(): Message[] {
    return this.messages.filter((m) => m.id !== undefined);
  }

  get id(): string {
    return (JSON.parse(this.messages[0]!.data) as { interaction: { id: string } }).interaction.id;
  }

  async until(check: (messages: Message[]) => boolean): Promise<void> {
    while (!check(this.messages)) {
      const more = new Promise<void>((r) => this.waiters.push(r));
      const ended = this.done.then(() => 'ended' as const);
      if ((await Promise.race([more, ended])) === 'ended' && !check(this.messages))
        throw new Error(`stream ended without the awaited event:\n${this.text}`);
    }
  }
}

async function openStream(h: Harness, input: string): Promise<Transcript> {
  const res = await h.fetch('/v1beta/interactions', {
    method: 'POST',
    body: JSON.stringify({ model: 'gemini-3.5-flash', input, stream: true }),
  });
  expect(res.status).toBe(200);
  const transcript = new Transcript(res);
  await transcript.until((m) => m.length > 0);
  return transcript;
}

const hasDelta = (m: Message[]) => m.some((x) => x.event === 'step.delta');

function lastUserText(body: ChatRequest): string {
  const user = body.messages.filter((m) => m.role === 'user').at(-1);
  return typeof user?.content === 'string' ? user.content : JSON.stringify(user?.content);
}

async function waitFor<T>(check: () => Promise<T | undefined> | T | undefined, what: string) {
  for (let i = 0; i < 1200; i++) {
    const value = await check();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const tokens = (n: number) => Array.from({ length: n }, (_, i) => `t${i} `);

/**
 * The rule of the event log (design §1, §5) through the API, with real faults on both stores:
 * PostgreSQL behind a TCP proxy that cuts and refuses connections, SQLite locked by another
 * connection. Client transcripts are compared with what the store holds afterwards.
 */
describe.each(STORE_KINDS)('store faults through the API (%s)', (kind) => {
  let db: TestDatabase;
  let outage: StoreOutage;
  /** Node A gives up on the store after 1 s; node B (same store) waits up to 60 s. */
  let a: Harness;
  let b: Harness;
  let direct: SqlStore;
  const logLines: string[] = [];
  /** An upstream answer that pauses mid-answer until `release()`. */
  const pausing = (afterChunks: number, length = 30): UpstreamReply => ({
    text: tokens(length),
    holdAfterChunks: afterChunks,
    delayMs: 2,
  });
  /** How many upstream requests of each node pause in all (counted by `paused`). */
  const holds = new Map<Harness, number>();
  /** Resolves once `count` more requests of `node` are paused. */
  const paused = (node: Harness, count: number) => {
    holds.set(node, (holds.get(node) ?? 0) + count);
    return node.upstream.waitForHeld(holds.get(node)!);
  };

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    outage = await createStoreOutage(kind, db);
    const through = { url: outage.url, drop: async () => {} };
    a = await startHarness({
      store: kind,
      db: through,
      config: { server: { node_id: 'node-a', keepalive_seconds: 1, store_retry_seconds: 1 } },
    });
    const sink = new Writable({
      write(chunk, _encoding, done) {
        logLines.push(String(chunk));
        done();
      },
    });
    b = await startHarness({
      store: kind,
      db: through,
      config: { server: { node_id: 'node-b', keepalive_seconds: 1, store_retry_seconds: 60 } },
      logger: pino({ level: 'warn' }, sink),
    });
    direct = SqlStore.open(db.url);
  });
  afterAll(async () => {
    outage.restore();
    await a.close();
    await b.close();
    await outage.close();
    await direct.close();
    await db.drop();
  });

  /** The stored log of `id` once it has its terminal event (written after the store is back). */
  const terminal = (id: string) =>
    waitFor(async () => {
      const events = await direct.listEvents(id);
      return isTerminalEventData(events.at(-1)?.data ?? '') ? events : undefined;
    }, `the terminal event of ${id}`);

  /** Every event the client received is stored under the same id with the same bytes. */
  function expectAllStored(transcript: Transcript, stored: StoredEvent[]) {
    const received = transcript.stored;
    expect(received.map((m) => Number(m.id))).toEqual(received.map((_, i) => i + 1));
    for (const m of received)
      expect(stored[Number(m.id) - 1]).toEqual({ seq: Number(m.id), data: m.data });
  }

  function expectOneTerminal(stored: StoredEvent[], status: string) {
    expect(stored.filter((e) => isTerminalEventData(e.data))).toHaveLength(1);
    expect(JSON.parse(stored.at(-1)!.data)).toMatchObject({
      event_type: 'interaction.completed',
      interaction: { status },
    });
  }

  it('store down for longer than the retry window: no client ever receives an unstored event, and every interaction ends failed once the store is back', async () => {
    a.upstream.script = () => pausing(6);
    const streams = await Promise.all([0, 1, 2, 3].map((i) => openStream(a, `stream ${i}`)));
    const unary = a
      .client()
      .interactions.create({ model: 'gemini-3.5-flash', input: 'unary' }, noRetry);
    const background = await a
      .client()
      .interactions.create(
        { model: 'gemini-3.5-flash', input: 'background', background: true },
        noRetry,
      );
    await paused(a, 6);
    for (const s of streams) await s.until(hasDelta); // model output was stored and sent

    outage.cut();
    a.upstream.release();
    await Promise.all(streams.map((s) => s.done));
    for (const s of streams) {
      const last = s.messages.at(-1)!;
      expect(last.event).toBe('error');
      expect(last.id).toBeUndefined(); // a transport error, not a stored event
      expect(JSON.parse(last.data)).toMatchObject({ error: { code: 'unavailable' } });
      expect(s.messages.some((m) => m.data === '[DONE]')).toBe(false);
    }
    // the unary caller: 200 with the failed interaction (a 5xx would make the SDK create it again)
    const answered = await unary;
    expect(answered.status).toBe('failed');
    expect(answered.errors?.at(-1)?.code).toBe('unavailable');

    outage.restore();
    for (const s of streams) {
      const stored = await terminal(s.id);
      expectAllStored(s, stored);
      expectOneTerminal(stored, 'failed');
      expect(JSON.parse(stored.at(-2)!.data)).toMatchObject({
        event_type: 'error',
        error: { code: 'unavailable' },
      });
    }
    for (const id of [answered.id, background.id]) expectOneTerminal(await terminal(id), 'failed');
    const got = await a.client().interactions.get(answered.id, undefined, noRetry);
    expect(got.status).toBe('failed');
    expect(got.errors?.at(-1)).toEqual(answered.errors?.at(-1));
    // the answer showed no output the store does not hold
    expect(got.output_text ?? '').toContain(answered.output_text ?? '');
    expect((await a.client().interactions.get(background.id, undefined, noRetry)).status).toBe(
      'failed',
    );
  }, 120_000);

  it('store down for less than the retry window: the streams only wait, and every event is stored', async () => {
    b.upstream.script = () => pausing(6);
    const streams = await Promise.all([0, 1, 2].map((i) => openStream(b, `short ${i}`)));
    await paused(b, 3);
    for (const s of streams) await s.until(hasDelta);
    const failuresBefore = logLines.filter((l) => l.includes('retrying event writes')).length;

    outage.cut();
    b.upstream.release();
    // wait until the event log has seen a write fail, then bring the store back
    await waitFor(
      () =>
        logLines.filter((l) => l.includes('retrying event writes')).length > failuresBefore ||
        undefined,
      'a failed event write',
    );
    outage.restore();
    await Promise.all(streams.map((s) => s.done));
    for (const s of streams) {
      expect(s.messages.at(-1)!.data).toBe('[DONE]');
      const stored = await direct.listEvents(s.id);
      expect(s.stored.map((m) => m.data)).toEqual(stored.map((e) => e.data));
      expectAllStored(s, stored);
      expectOneTerminal(stored, 'completed');
    }
  }, 120_000);

  it('one interaction with a duplicate event id and one deleted under its run: the other streams complete with every event stored', async () => {
    a.upstream.script = () => pausing(4, 40);
    const [taken, deleted, ...others] = await Promise.all(
      ['taken', 'deleted', 'other 1', 'other 2'].map((input) => openStream(a, input)),
    );
    await paused(a, 4);
    for (const s of [taken!, deleted!, ...others]) await s.until(hasDelta);

    // Another writer takes the next event id of `taken` (retrying if the node wrote it first).
    for (;;) {
      const seq = (await direct.listEvents(taken!.id)).at(-1)!.seq + 1;
      const { data } = serializeEvent(
        { event_type: 'step.delta', index: 0, delta: { type: 'text', text: 'injected' } },
        seq,
      );
      try {
        await direct.appendEvents([{ interactionId: taken!.id, events: [{ seq, data }] }]);
        break;
      } catch (err) {
        if (classifyStoreError(err) !== 'duplicate') throw err;
      }
    }
    // `deleted` loses its rows behind its run's back.
    expect(await direct.deleteInteraction('team-a', deleted!.id)).toBe(true);
    a.upstream.release();
    await Promise.all([taken, deleted, ...others].map((s) => s!.done));

    for (const s of others) {
      expect(s.messages.at(-1)!.data).toBe('[DONE]');
      const stored = await direct.listEvents(s.id);
      expect(s.stored.map((m) => m.data)).toEqual(stored.map((e) => e.data));
      expectOneTerminal(stored, 'completed');
      expect(s.text).toContain('t39');
    }
    expect(JSON.parse(taken!.messages.at(-1)!.data)).toMatchObject({
      error: { code: 'internal_error' },
    });
    const takenStored = await terminal(taken!.id);
    expectAllStored(taken!, takenStored);
    expectOneTerminal(takenStored, 'failed');

    expect(JSON.parse(deleted!.messages.at(-1)!.data)).toMatchObject({
      error: { code: 'not_found' },
    });
    expect(await direct.listEvents(deleted!.id)).toEqual([]);
  }, 120_000);

  it('deleting a running interaction through another node cancels it first; the owner and its other streams are unaffected', async () => {
    a.upstream.script = (body) =>
      lastUserText(body) === 'target' ? pausing(4) : { text: tokens(100), delayMs: 10 };
    const target = await openStream(a, 'target');
    const others = await Promise.all([openStream(a, 'beside 1'), openStream(a, 'beside 2')]);
    await paused(a, 1);
    await target.until(hasDelta);

    const res = await b.fetch(`/v1beta/interactions/${target.id}`, { method: 'DELETE' });
    expect(res.status).toBe(200);
    await target.done;
    const events = target.messages.map((m) => m.event);
    expect(events.slice(-3)).toEqual([
      'interaction.status_update',
      'interaction.completed',
      'done',
    ]);
    expect(JSON.parse(target.messages.at(-2)!.data)).toMatchObject({
      interaction: { status: 'cancelled' },
    });
    for (const node of [a, b]) {
      const gone = await node.fetch(`/v1beta/interactions/${target.id}`);
      expect(gone.status).toBe(404);
    }
    expect(await direct.listEvents(target.id)).toEqual([]);

    await Promise.all(others.map((s) => s.done));
    for (const s of others) {
      expect(s.messages.at(-1)!.data).toBe('[DONE]');
      const stored = await direct.listEvents(s.id);
      expect(s.stored.map((m) => m.data)).toEqual(stored.map((e) => e.data));
      expectOneTerminal(stored, 'completed');
    }
    a.upstream.release();
  }, 120_000);
});
