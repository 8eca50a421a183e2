import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Interactions } from '@google/genai';
import { STORE_KINDS } from '../support/databases.js';
import { noRetry, startHarness, type Harness } from '../support/harness.js';
import {
  PAGES,
  PLAN_TEXT,
  phaseOf,
  researchConfig,
  researcherScript,
  startResearchWorld,
  type ResearchWorld,
} from '../support/research-world.js';

type Event = Interactions.InteractionSSEEvent;
type Step = Interactions.Step;

/** Polls get until the interaction leaves in_progress (the run ends by itself; no timing). */
async function settle(h: Harness, id: string): Promise<Interactions.Interaction> {
  const ai = h.client();
  for (;;) {
    const got = await ai.interactions.get(id, undefined, noRetry);
    if (got.status !== 'in_progress') return got;
    await new Promise((r) => setTimeout(r, 25));
  }
}

function citationsOf(steps: Step[] | undefined): { url?: string; title?: string }[] {
  return (steps ?? []).flatMap((s) =>
    s.type === 'model_output'
      ? (s.content ?? []).flatMap((c) =>
          c.type === 'text' ? (c.annotations ?? []).filter((a) => a.type === 'url_citation') : [],
        )
      : [],
  ) as { url?: string; title?: string }[];
}

describe.each(STORE_KINDS)(
  "Google's deep-research sample against the deep-research recipe (%s)",
  (store) => {
    let h: Harness;
    let world: ResearchWorld;
    beforeAll(async () => {
      world = await startResearchWorld();
      h = await startHarness({ store, config: researchConfig(world) });
    });
    afterAll(async () => {
      await h.close();
      await world.close();
    });

    it('streams thoughts, search and fetch steps and a cited report; resumes after a disconnect; get shows it completed', async () => {
      // the model call that reads the first result waits, so the run is still going when the
      // client drops its connection after the search steps
      h.upstream.script = researcherScript(world, { hold: { phase: 'research', round: 2 } });
      const requestsBefore = h.upstream.requests.length;
      const client = h.client();

      // --- Google's streaming sample, unchanged but for the client's baseUrl
      const stream = await client.interactions.create(
        {
          input: 'Research the history of Google TPUs.',
          agent: 'deep-research-preview-04-2026',
          background: true,
          stream: true,
          agent_config: { type: 'deep-research', thinking_summaries: 'auto' },
        },
        noRetry,
      );
      let interactionId: string | undefined;
      let lastEventId: string | undefined;
      const thoughts: string[] = [];
      let report = '';
      const seen: Event[] = [];
      const handle = (chunk: Event) => {
        seen.push(chunk);
        if (chunk.event_type === 'interaction.created') interactionId = chunk.interaction.id;
        if (chunk.event_id) lastEventId = chunk.event_id;
        if (chunk.event_type === 'step.delta') {
          if (chunk.delta.type === 'text') report += chunk.delta.text;
          else if (chunk.delta.type === 'thought_summary' && chunk.delta.content?.type === 'text')
            thoughts.push(chunk.delta.content.text);
        }
      };
      for await (const chunk of stream) {
        handle(chunk);
        // the connection drops once the search result is in
        if (chunk.event_type === 'step.stop' && seen.some(isSearchResultStart)) break;
      }
      expect(interactionId).toMatch(/^v1_/);
      const created = seen[0] as Extract<Event, { event_type: 'interaction.created' }>;
      expect(created.interaction).toMatchObject({ agent: 'deep-research-preview-04-2026' });
      expect(created.interaction.model).toBeUndefined();
      const beforeDrop = Number(lastEventId);

      // reconnect where the stream stopped, as the sample's reconnect loop does
      const resumed = await client.interactions.get(
        interactionId!,
        { stream: true, last_event_id: lastEventId! },
        noRetry,
      );
      await h.upstream.waitForHeld(1);
      h.upstream.release();
      const after: Event[] = [];
      for await (const chunk of resumed) {
        after.push(chunk);
        handle(chunk);
      }
      // ---

      // the resumed stream is the rest of the same log: no event lost or repeated
      expect(Number(after[0]!.event_id)).toBe(beforeDrop + 1);
      expect(seen.map((e) => Number(e.event_id))).toEqual(seen.map((_, i) => i + 1));
      const completed = seen.at(-1) as Extract<Event, { event_type: 'interaction.completed' }>;
      expect(completed.event_type).toBe('interaction.completed');
      expect(completed.interaction.status).toBe('completed');

      // progress: the plan and the research notes stream as thought summaries
      expect(thoughts.some((t) => t.includes(PLAN_TEXT))).toBe(true);
      expect(thoughts.some((t) => t.includes('Reading the first result in full.'))).toBe(true);
      expect(thoughts.some((t) => t.includes('Start with a broad search.'))).toBe(true);
      // the report: markers gone, the unknown source [9] dropped
      expect(report).toBe(
        '# Google TPUs\n\nGoogle deployed its first TPU in 2015. TPU v4 arrived in 2021. It links thousands of chips with light.',
      );

      // the tools really ran: one search, one page read
      expect(world.queries).toContain('history of google tpus');
      expect(world.served).toContain('/tpu-v1');

      const got = await client.interactions.get(interactionId!, undefined, noRetry);
      expect(got.status).toBe('completed');
      expect(got.agent).toBe('deep-research-preview-04-2026');
      const types = (got.steps ?? []).map((s) => s.type);
      expect(types[0]).toBe('user_input');
      expect(types.filter((t) => t !== 'thought')).toEqual([
        'user_input',
        'google_search_call',
        'google_search_result',
        'url_context_call',
        'url_context_result',
        'model_output',
      ]);
      expect(types.at(-1)).toBe('model_output');
      expect(got.output_text).toBe(report);
      const search = got.steps!.find((s) => s.type === 'google_search_call');
      expect(search).toMatchObject({ arguments: { queries: ['history of google tpus'] } });
      const read = got.steps!.find((s) => s.type === 'url_context_result');
      expect(read).toMatchObject({ result: [{ url: world.resultUrls[0], status: 'success' }] });

      // every citation points at a page the run fetched or a result it got
      const citations = citationsOf(got.steps);
      expect(citations.map((c) => c.url)).toEqual([world.resultUrls[0], world.resultUrls[1]]);
      const fetched = new Set((read as { result: { url: string }[] }).result.map((r) => r.url));
      for (const c of citations) {
        expect(fetched.has(c.url!) || world.resultUrls.includes(c.url!)).toBe(true);
      }
      expect(citations[0]!.title).toBe(PAGES['/tpu-v1']!.title);

      // usage is the sum over every model call: plan, three research rounds, the report
      const calls = h.upstream.requests.slice(requestsBefore);
      expect(calls.map(phaseOf)).toEqual(['plan', 'research', 'research', 'research', 'report']);
      expect(got.usage).toMatchObject({
        total_input_tokens: 7 * calls.length,
        total_output_tokens: 3 * calls.length,
        grounding_tool_count: [{ type: 'google_search', count: 1 }],
      });
      // the report was written from the numbered sources the run got (each once), read ones marked
      const instructions = String(calls.at(-1)!.messages[0]!.content);
      expect(instructions).toContain(
        `Sources:\n[1] ${PAGES['/tpu-v1']!.title} — ${world.resultUrls[0]} (read in full)\n[2] ${PAGES['/tpu-v4']!.title} — ${world.resultUrls[1]}`,
      );
    });
  },
);

function isSearchResultStart(e: Event): boolean {
  return e.event_type === 'step.start' && e.step.type === 'google_search_result';
}

describe('deep-research recipe details', () => {
  let h: Harness;
  let world: ResearchWorld;
  beforeAll(async () => {
    world = await startResearchWorld();
    h = await startHarness({
      store: 'sqlite',
      config: researchConfig(world, [
        { name: 'deep-research-*', recipe: 'deep-research', model: 'gemini-3.5-flash' },
        { name: 'one-round', recipe: 'deep-research', model: 'gemini-3.5-flash', max_rounds: 1 },
        { name: 'quick', recipe: 'deep-research', model: 'gemini-3.5-flash', max_seconds: 0.5 },
        {
          name: 'small-budget',
          recipe: 'deep-research',
          model: 'gemini-3.5-flash',
          max_total_tokens: 15,
        },
      ]),
    });
  });
  afterAll(async () => {
    await h.close();
    await world.close();
  });

  it('collaborative_planning: the first turn ends with the plan; the next turn researches', async () => {
    h.upstream.script = researcherScript(world);
    const ai = h.client();
    const before = h.upstream.requests.length;
    const first = await ai.interactions.create(
      {
        input: 'Research the history of Google TPUs.',
        agent: 'deep-research-preview-04-2026',
        background: true,
        agent_config: { type: 'deep-research', collaborative_planning: true },
      },
      noRetry,
    );
    const planned = await settle(h, first.id);
    expect(planned.status).toBe('completed');
    expect(planned.output_text).toBe(PLAN_TEXT);
    expect(planned.steps?.some((s) => s.type.endsWith('_call'))).toBe(false);
    expect(h.upstream.requests.slice(before).map(phaseOf)).toEqual(['plan']);
    expect(String(h.upstream.requests.at(-1)!.messages[0]!.content)).toContain(
      'ask them to confirm it',
    );

    const queriesBefore = world.queries.length;
    const second = await ai.interactions.create(
      {
        input: 'The plan looks good.',
        agent: 'deep-research-preview-04-2026',
        background: true,
        previous_interaction_id: first.id,
        agent_config: { type: 'deep-research' },
      },
      noRetry,
    );
    const researched = await settle(h, second.id);
    expect(researched.status).toBe('completed');
    expect(world.queries.length).toBe(queriesBefore + 1);
    expect(researched.steps?.map((s) => s.type)).toContain('url_context_result');
    expect(citationsOf(researched.steps).length).toBeGreaterThan(0);
    // the second turn planned with the first turn's plan and the user's answer in view
    const replan = h.upstream.requests.slice(before + 1).find((r) => phaseOf(r) === 'plan')!;
    const said = JSON.stringify(replan.messages);
    expect(said).toContain(PLAN_TEXT.slice(0, 30));
    expect(said).toContain('The plan looks good.');
  });

  it('cancel during research stops the run: cancelled, with the steps so far kept', async () => {
    h.upstream.script = researcherScript(world, { hold: { phase: 'research', round: 2 } });
    const ai = h.client();
    const held = h.upstream.requests.length;
    const run = await ai.interactions.create(
      {
        input: 'Research the history of Google TPUs.',
        agent: 'deep-research-max-preview-04-2026',
        background: true,
      },
      noRetry,
    );
    await h.upstream.waitForRequests(held + 3); // plan, research round 1, the held round 2
    const cancelled = await ai.interactions.cancel(run.id, undefined, noRetry);
    h.upstream.release();
    expect(cancelled.status).toBe('cancelled');
    const types = (cancelled.steps ?? []).map((s) => s.type);
    expect(types).toContain('google_search_result');
    expect(types).not.toContain('url_context_call');
    expect(types).not.toContain('model_output');
    const got = await ai.interactions.get(run.id, undefined, noRetry);
    expect(got.status).toBe('cancelled');
    expect(got.steps).toEqual(cancelled.steps);
  });

  it('stops researching at max_rounds and writes the report from what it found', async () => {
    h.upstream.script = researcherScript(world);
    const before = h.upstream.requests.length;
    const run = await h.client().interactions.create(
      {
        input: 'Research the history of Google TPUs.',
        agent: 'one-round',
        background: true,
        agent_config: { type: 'deep-research', thinking_summaries: 'auto', visualization: 'off' },
      },
      noRetry,
    );
    const got = await settle(h, run.id);
    expect(got.status).toBe('completed');
    const calls = h.upstream.requests.slice(before);
    expect(calls.map(phaseOf)).toEqual(['plan', 'research', 'report']);
    expect(String(calls[2]!.messages[0]!.content)).toContain(
      'Write prose only: no tables or charts.',
    );
    const summaries = (got.steps ?? []).flatMap((s) =>
      s.type === 'thought' ? (s.summary ?? []).map((c) => (c.type === 'text' ? c.text : '')) : [],
    );
    expect(summaries).toContain(
      'Research stopped at 1 research rounds; writing the report from what was found.',
    );
    // only the search ran, so only search results can be cited: [3] had nothing to point at
    expect(citationsOf(got.steps).map((c) => c.url)).toEqual([world.resultUrls[1]]);
  });

  it('ends budget_exceeded when the token budget is spent before the report', async () => {
    h.upstream.script = researcherScript(world);
    const before = h.upstream.requests.length;
    const run = await h
      .client()
      .interactions.create(
        { input: 'Research the history of Google TPUs.', agent: 'small-budget', background: true },
        noRetry,
      );
    const got = await settle(h, run.id);
    // each call costs 10 tokens: the plan (10 < 15), one research round (10 is under three
    // quarters of 15, so it runs), then 20 ≥ 15: no report
    expect(h.upstream.requests.slice(before).map(phaseOf)).toEqual(['plan', 'research']);
    expect(got.status).toBe('budget_exceeded');
    expect(got.usage?.total_tokens).toBe(20);
    expect(got.steps?.map((s) => s.type)).not.toContain('model_output');
  });

  it("max_seconds is the run's deadline: a run still going then fails with gateway_timeout", async () => {
    h.upstream.script = researcherScript(world, { hold: { phase: 'plan' } });
    const held = h.upstream.requests.length;
    const run = await h
      .client()
      .interactions.create(
        { input: 'Research the history of Google TPUs.', agent: 'quick', background: true },
        noRetry,
      );
    await h.upstream.waitForRequests(held + 1);
    const got = await settle(h, run.id);
    h.upstream.release();
    expect(got.status).toBe('failed');
    expect(got.errors?.[0]?.code).toBe('gateway_timeout');
  });
});
