/**
 * Issue 9's hostile workload against ONE server process while a second tenant keeps working:
 * every attack of the outside review (test/support/hostile-battery.ts) must end with a clear 4xx,
 * a failed tool result or a failed interaction with a clear error — and afterwards the server is
 * the same process, answers, has served the other tenant throughout, and its memory is bounded.
 * Nothing here is timed: the event-loop delay the attacks cause is measured in bench/hostile.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ATTACKS,
  KEY_B,
  createInteraction,
  startBystander,
  startHostileEnvironment,
  type AttackOutcome,
  type HostileEnvironment,
} from './support/hostile-battery.js';

/** Resident memory the server may have after the whole battery (it starts near 200 MB). */
const RSS_BOUND_MB = 700;

const attack = (name: string) => {
  const found = ATTACKS.find((a) => a.name.startsWith(name));
  if (!found) throw new Error(`no attack named ${name}`);
  return found;
};

describe('hostile workload: one server, every attack, a second tenant keeps being served', () => {
  let env: HostileEnvironment;
  let bystander: ReturnType<typeof startBystander>;
  let pid: number;

  beforeAll(async () => {
    env = await startHostileEnvironment({ server: { request_timeout_seconds: 5 } });
    pid = env.server.process.pid!;
    bystander = startBystander(env);
  }, 120_000);

  afterAll(async () => {
    await bystander?.stop();
    await env?.close();
  });

  /** Runs an attack, then checks the server is still the same process and still serves tenant B. */
  async function survive(name: string): Promise<AttackOutcome> {
    const outcome = await attack(name).run(env);
    expect(await env.alive(), `server alive after "${name}"`).toBe(true);
    expect(env.server.process.pid).toBe(pid);
    const b = await createInteraction(env, KEY_B, { model: 'gemini-3.5-flash', input: 'still?' });
    expect(b.status, `tenant B after "${name}"`).toBe(200);
    expect(b.body?.status).toBe('completed');
    return outcome;
  }

  const failedToolResult = (o: AttackOutcome) => {
    expect(o.httpStatus, o.detail).toBe(200);
    expect(o.interactionStatus, o.detail).toBe('completed');
    expect(o.toolResults?.[0]?.type, o.detail).toBe('code_execution_result');
    expect(o.toolResults?.[0]?.is_error, o.detail).toBe(true);
  };

  it('FFI: one Array.new(10**8) is a failed tool result', { timeout: 180_000 }, async () => {
    failedToolResult(await survive('ffi: one'));
  });

  it('FFI: a loop of Array.new(10**7) is a failed tool result', { timeout: 180_000 }, async () => {
    failedToolResult(await survive('ffi: a loop'));
  });

  it(
    'FFI: ArrayBuffers outside the wasm memory are a failed tool result',
    { timeout: 180_000 },
    async () => {
      failedToolResult(await survive('ffi: ArrayBuffers'));
    },
  );

  it(
    'ReDoS: ^(a+)+$ against 31 characters fails the interaction cleanly',
    { timeout: 180_000 },
    async () => {
      const o = await survive('redos');
      expect(o.httpStatus, o.detail).toBe(200);
      expect(o.interactionStatus, o.detail).toBe('failed');
      expect(o.errorCode, o.detail).toBe('invalid_model_output');
    },
  );

  for (const page of ['url_context: 11 KB', 'url_context: 1.1 MB']) {
    it(
      `${page} deep page: the url_context result says what happened`,
      { timeout: 300_000 },
      async () => {
        const o = await survive(page);
        expect(o.httpStatus, o.detail).toBe(200);
        expect(o.interactionStatus, o.detail).toBe('completed');
        const result = o.toolResults?.[0];
        expect(result?.type, o.detail).toBe('url_context_result');
        const [entry] = result!.result as { url: string; status: string }[];
        expect(entry?.status, o.detail).toMatch(/^[a-z_]+$/);
      },
    );
  }

  it(
    '3,000 distinct response schemas: no 5xx, memory stays bounded',
    { timeout: 900_000 },
    async () => {
      const o = await survive('schemas: 3,000');
      expect(o.httpStatus, o.detail).toBeLessThan(500);
      expect(o.detail).not.toMatch(/\b5\d\d\//);
      expect(env.memory().rssMb).toBeLessThan(RSS_BOUND_MB);
    },
  );

  it("$id probes: B neither collides with nor reads A's schema", { timeout: 180_000 }, async () => {
    const o = await survive('schemas: $id');
    expect(o.errorCode, o.detail).not.toBe('LEAKED');
    expect(o.httpStatus, o.detail).toBe(400);
    // B's schema with the same $id as A's ran (no "already exists")
    expect(o.interactionStatus, o.detail).toBe('completed');
  });

  it('a 27 MB body of 1e6 items gets a 4xx naming the field', { timeout: 180_000 }, async () => {
    const o = await survive('body: 27 MB');
    expect(o.httpStatus, o.detail).toBeGreaterThanOrEqual(400);
    expect(o.httpStatus, o.detail).toBeLessThan(500);
    expect(o.detail).toMatch(/input/);
  });

  it(
    '200 slow bodies are answered or closed by the server, none held',
    { timeout: 300_000 },
    async () => {
      const o = await survive('body: 200 slow');
      expect(o.detail).toMatch(/held past 90 s: 0$/);
    },
  );

  it('afterwards: the same process, bounded memory, and tenant B was served throughout', async () => {
    expect(await env.alive()).toBe(true);
    expect(env.server.process.pid).toBe(pid);
    expect(env.memory().rssMb).toBeLessThan(RSS_BOUND_MB);
    const { completed, problems } = await bystander.stop();
    expect(problems).toEqual([]);
    expect(completed).toBeGreaterThan(0);
  });
});
