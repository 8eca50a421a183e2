import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { noRetry, startHarness, type Harness } from '../support/harness.js';
import {
  phaseOf,
  researchConfig,
  researcherScript,
  startResearchWorld,
  type ResearchWorld,
} from '../support/research-world.js';

const DR = 'deep-research-preview-04-2026';
const research = (extra: Record<string, unknown>) => ({
  agent: DR,
  input: 'Research TPUs.',
  background: true,
  ...extra,
});

interface Row {
  name: string;
  body: Record<string, unknown>;
  status?: number;
  code?: string;
  message: RegExp;
}

/** Agent requests Google refuses, and what this server answers (spec §10.1, §2.1). */
const ROWS: Row[] = [
  {
    name: 'agent_config not an object',
    body: research({ agent_config: 'fast' }),
    message: /^agent_config: expected object, got string$/,
  },
  {
    name: 'agent_config without type',
    body: research({ agent_config: { thinking_summaries: 'auto' } }),
    message: /^agent_config\.type: required field is missing$/,
  },
  {
    name: 'agent_config of an unknown type',
    body: research({ agent_config: { type: 'deep-think' } }),
    message:
      /^agent_config\.type: unknown agent config type 'deep-think' \(expected one of deep-research, antigravity, code-mender, dynamic\)$/,
  },
  {
    name: 'agent_config of another agent type',
    body: research({ agent_config: { type: 'antigravity', model: 'gemini-3.5-flash' } }),
    message: new RegExp(
      `^agent_config\\.type: agent '${DR}' takes agent_config of type 'deep-research', not 'antigravity'$`,
    ),
  },
  {
    name: 'dynamic agent_config for deep research',
    body: research({ agent_config: { type: 'dynamic', depth: 3 } }),
    message:
      /^agent_config\.type: agent .* takes agent_config of type 'deep-research', not 'dynamic'$/,
  },
  {
    name: 'thinking_summaries not auto/none',
    body: research({ agent_config: { type: 'deep-research', thinking_summaries: 'verbose' } }),
    message: /^agent_config\.thinking_summaries: .*"auto"\|"none"/,
  },
  {
    name: 'visualization not off/auto',
    body: research({ agent_config: { type: 'deep-research', visualization: 'on' } }),
    message: /^agent_config\.visualization: .*"off"\|"auto"/,
  },
  {
    name: 'collaborative_planning not a boolean',
    body: research({ agent_config: { type: 'deep-research', collaborative_planning: 'yes' } }),
    message: /^agent_config\.collaborative_planning: expected boolean, got string$/,
  },
  {
    name: 'unknown agent_config field',
    body: research({ agent_config: { type: 'deep-research', depth: 3 } }),
    message: /^agent_config\.depth: unknown field$/,
  },
  {
    name: 'antigravity max_total_tokens as a number (int64 is a string)',
    body: research({ agent_config: { type: 'antigravity', max_total_tokens: 1000 } }),
    message: /^agent_config\.max_total_tokens: expected string, got number$/,
  },
  {
    name: 'BigQuery tool asked for',
    body: research({ agent_config: { type: 'deep-research', enable_bigquery_tool: true } }),
    code: 'failed_precondition',
    message:
      /^agent_config\.enable_bigquery_tool: the BigQuery tool is not available on this server$/,
  },
  {
    name: 'agent_config for an agent that takes none',
    body: { agent: 'support-bot', input: 'hi', agent_config: { type: 'deep-research' } },
    message: /^agent_config: agent 'support-bot' takes no agent_config$/,
  },
  {
    name: 'agent_config with model',
    body: { model: 'gemini-3.5-flash', input: 'hi', agent_config: { type: 'deep-research' } },
    message: /^agent_config: only allowed with agent$/,
  },
  {
    name: 'generation_config with agent',
    body: research({ generation_config: { temperature: 0.2 } }),
    message: /^generation_config: not allowed with agent \(use agent_config\)$/,
  },
  {
    name: 'unknown agent',
    body: { agent: 'deep-think-01', input: 'hi', background: true },
    message:
      /^agent: unknown agent 'deep-think-01' \(configured: deep-research-\*, support-bot; or the id of a custom agent of this project\)$/,
  },
  {
    name: 'deep research without background',
    body: { agent: DR, input: 'hi' },
    message: new RegExp(
      `^background: agent '${DR}' runs only in the background; set background to true$`,
    ),
  },
  {
    name: 'deep research streamed in the foreground',
    body: { agent: DR, input: 'hi', stream: true, background: false },
    message: /^background: agent .* runs only in the background/,
  },
  {
    name: 'background without store',
    body: research({ store: false }),
    message: /^background: requires store=true$/,
  },
  {
    name: 'an agent name sent as model',
    body: { model: DR, input: 'hi' },
    message: new RegExp(
      `^model: '${DR}' refers to an agent, but was provided in the 'model' field\\. Please use the 'agent' field instead\\.$`,
    ),
  },
  {
    name: 'JSON output from the research agent',
    body: research({
      response_format: { type: 'text', mime_type: 'application/json', schema: { type: 'object' } },
    }),
    message: /^response_format: agent .* writes a report and takes no JSON output format$/,
  },
  {
    name: 'client function for the research agent',
    body: research({ tools: [{ type: 'google_search' }, { type: 'function', name: 'lookup' }] }),
    message: /^tools\[1\]: agent .* runs no client functions/,
  },
  {
    name: 'unconfigured tool added to the agent',
    body: research({ tools: [{ type: 'retrieval' }] }),
    code: 'failed_precondition',
    message: /^tools\[0\]: built-in tool 'retrieval' is not configured on this server/,
  },
];

describe('agent requests', () => {
  let h: Harness;
  let world: ResearchWorld;
  beforeAll(async () => {
    world = await startResearchWorld();
    const config = researchConfig(world, [
      { name: 'deep-research-*', recipe: 'deep-research', model: 'gemini-3.5-flash' },
      {
        name: 'support-bot',
        model: 'gemini-3.5-flash',
        system_instruction: 'You answer support questions.',
        tools: [{ type: 'google_search' }],
        max_rounds: 2,
      },
    ]);
    (config.tools as Record<string, unknown>).google_maps = {
      nominatim_url: world.searchUrl,
    };
    h = await startHarness({ store: 'sqlite', config });
  });
  afterAll(async () => {
    await h.close();
    await world.close();
  });

  it.each(ROWS)('$name → 400 naming the field', async (row) => {
    const before = h.upstream.requests.length;
    const res = await h.fetch('/v1beta/interactions', {
      method: 'POST',
      body: JSON.stringify(row.body),
    });
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect({ status: res.status, code: body.error.code }).toEqual({
      status: row.status ?? 400,
      code: row.code ?? 'invalid_request',
    });
    expect(body.error.message).toMatch(row.message);
    expect(h.upstream.requests.length).toBe(before); // refused before any model call
  });

  it('the SDK sees the 400 as an error naming the field', async () => {
    await expect(
      h.client().interactions.create(
        {
          agent: DR,
          input: 'hi',
          background: true,
          agent_config: { type: 'deep-research', visualization: 'sometimes' },
        },
        noRetry,
      ),
    ).rejects.toMatchObject({
      status: 400,
      message: expect.stringMatching(/agent_config\.visualization/),
    });
  });

  it("a tool-loop agent runs the model with the agent's instructions and tools, in the foreground", async () => {
    h.upstream.script = (body) =>
      body.messages.some((m) => m.role === 'tool')
        ? { text: ['Restart the router [1].'] }
        : { toolCalls: [{ name: 'google_search', arguments: '{"queries":["router restart"]}' }] };
    const before = h.upstream.requests.length;
    const r = await h
      .client()
      .interactions.create(
        { agent: 'support-bot', input: 'My internet is down.', system_instruction: 'Be brief.' },
        noRetry,
      );
    expect(r.status).toBe('completed');
    expect(r.agent).toBe('support-bot');
    expect(r.model).toBeUndefined();
    expect(r.steps?.map((s) => s.type)).toEqual([
      'google_search_call',
      'google_search_result',
      'model_output',
    ]);
    expect(r.output_text).toBe('Restart the router.');
    const first = h.upstream.requests[before]!;
    expect(first.messages[0]).toEqual({
      role: 'system',
      content: 'You answer support questions.\n\nBe brief.',
    });
    expect(first.tools?.map((t) => t.function.name)).toEqual(['google_search']);
    const got = await h.client().interactions.get(r.id, undefined, noRetry);
    expect(got.agent).toBe('support-bot');
    expect(got.steps?.[0]?.type).toBe('user_input');
  });

  it("a request's tools restrict the research agent's (a listed default type) or extend them (another type)", async () => {
    h.upstream.script = researcherScript(world);
    const offered = async (tools: unknown[]) => {
      const before = h.upstream.requests.length;
      const r = await h
        .client()
        .interactions.create(
          { agent: DR, input: 'TPUs', background: true, tools: tools as never },
          noRetry,
        );
      for (;;) {
        const got = await h.client().interactions.get(r.id, undefined, noRetry);
        if (got.status !== 'in_progress') break;
        await new Promise((res) => setTimeout(res, 25));
      }
      const call = h.upstream.requests.slice(before).find((c) => phaseOf(c) === 'research')!;
      return call.tools?.map((t) => t.function.name);
    };
    expect(await offered([])).toEqual(['google_search', 'url_context']);
    expect(await offered([{ type: 'google_search' }])).toEqual(['google_search']);
    expect(await offered([{ type: 'google_maps' }])).toEqual([
      'google_search',
      'url_context',
      'google_maps',
    ]);
  });
});
