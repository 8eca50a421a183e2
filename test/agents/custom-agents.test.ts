import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_KINDS } from '../support/databases.js';
import { KEY_B, noRetry, startHarness, type Harness } from '../support/harness.js';
import {
  phaseOf,
  researchConfig,
  researcherScript,
  startResearchWorld,
  type ResearchWorld,
} from '../support/research-world.js';

const BASE = 'deep-research-preview-04-2026';

/** The resource without the response the SDK attaches to it. */
const wire = <T extends object>(value: T) => {
  const { sdkHttpResponse: _response, ...rest } = value as T & { sdkHttpResponse?: unknown };
  return rest;
};

describe.each(STORE_KINDS)('custom agents: /agents (%s)', (store) => {
  let h: Harness;
  let world: ResearchWorld;
  beforeAll(async () => {
    world = await startResearchWorld();
    h = await startHarness({ store, config: researchConfig(world) });
    h.upstream.script = researcherScript(world);
  });
  afterAll(async () => {
    await h.close();
    await world.close();
  });

  async function settle(id: string, key?: string) {
    const ai = h.client({ key });
    for (;;) {
      const got = await ai.interactions.get(id, undefined, noRetry);
      if (got.status !== 'in_progress') return got;
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  it('create, get, list (paged), run, delete — and another project sees none of it', async () => {
    const a = h.client();
    const b = h.client({ key: KEY_B });
    const created = await a.agents.create(
      {
        id: 'tpu-researcher',
        base_agent: BASE,
        description: 'Researches accelerator hardware.',
        system_instruction: 'Focus on the hardware, not the history.',
        tools: [{ type: 'google_search' }],
        // the SDK types agent_config as Antigravity's; the server takes the base agent's type
        agent_config: { type: 'deep-research', thinking_summaries: 'auto' } as never,
      },
      noRetry,
    );
    expect(created).toMatchObject({
      id: 'tpu-researcher',
      object: 'agent',
      base_agent: BASE,
      description: 'Researches accelerator hardware.',
      system_instruction: 'Focus on the hardware, not the history.',
      tools: [{ type: 'google_search' }],
      agent_config: { type: 'deep-research', thinking_summaries: 'auto' },
    });
    expect((created as { created?: string }).created).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(wire(await a.agents.get('tpu-researcher', undefined, noRetry))).toEqual(wire(created));

    const second = await a.agents.create({ base_agent: BASE }, noRetry);
    expect(second.id).toMatch(/^agent-[a-z0-9]{12}$/);
    // one per page, each once (the order of agents created in the same instant is by id)
    const page1 = await a.agents.list({ page_size: 1 }, noRetry);
    expect(page1.agents).toHaveLength(1);
    expect(page1.next_page_token).toBeTruthy();
    const page2 = await a.agents.list({ page_size: 1, page_token: page1.next_page_token }, noRetry);
    expect(page2.agents).toHaveLength(1);
    expect(page2.next_page_token).toBeUndefined();
    expect([...page1.agents!, ...page2.agents!].map((x) => x.id).sort()).toEqual(
      [second.id, 'tpu-researcher'].sort(),
    );

    // project B: nothing to see, get, delete or run
    expect(wire(await b.agents.list({}, noRetry))).toEqual({});
    await expect(b.agents.get('tpu-researcher', undefined, noRetry)).rejects.toMatchObject({
      status: 404,
    });
    await expect(b.agents.delete('tpu-researcher', undefined, noRetry)).rejects.toMatchObject({
      status: 404,
    });
    await expect(
      b.interactions.create({ agent: 'tpu-researcher', input: 'TPUs', background: true }, noRetry),
    ).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining("unknown agent 'tpu-researcher'"),
    });

    // project A runs it: the base recipe with the agent's instructions, tools and config defaults
    const before = h.upstream.requests.length;
    const run = await a.interactions.create(
      { agent: 'tpu-researcher', input: 'Research Google TPUs.', background: true },
      noRetry,
    );
    const done = await settle(run.id);
    expect(done.status).toBe('completed');
    expect(done.agent).toBe('tpu-researcher');
    const calls = h.upstream.requests.slice(before);
    expect(calls.map(phaseOf)).toEqual(['plan', 'research', 'research', 'report']);
    expect(String(calls[0]!.messages[0]!.content)).toContain(
      'Instructions:\n\nFocus on the hardware, not the history.',
    );
    expect(calls[1]!.tools?.map((t) => t.function.name)).toEqual(['google_search']);
    expect(done.steps?.some((s) => s.type === 'thought' && (s.summary?.length ?? 0) > 0)).toBe(
      true,
    );

    expect(wire(await a.agents.delete('tpu-researcher', undefined, noRetry))).toEqual({});
    await expect(a.agents.get('tpu-researcher', undefined, noRetry)).rejects.toMatchObject({
      status: 404,
    });
    await expect(
      a.interactions.create({ agent: 'tpu-researcher', input: 'x', background: true }, noRetry),
    ).rejects.toMatchObject({ status: 400 });
    // the interaction it ran stays readable
    expect((await a.interactions.get(run.id, undefined, noRetry)).status).toBe('completed');
    await a.agents.delete(second.id!, undefined, noRetry);
  });

  it('never returns MCP server headers (credentials), only their names', async () => {
    const res = await h.fetch('/v1beta/agents', {
      method: 'POST',
      body: JSON.stringify({
        id: 'with-mcp',
        base_agent: BASE,
        tools: [
          {
            type: 'mcp_server',
            name: 'weather',
            url: 'https://mcp.example.org/mcp',
            headers: { authorization: 'Bearer s3cret' },
          },
        ],
      }),
    });
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(text).not.toContain('s3cret');
    expect(JSON.parse(text).tools[0].headers).toEqual({ authorization: '[redacted]' });
    const got = await (await h.fetch('/v1beta/agents/with-mcp')).text();
    expect(got).not.toContain('s3cret');
    await h.fetch('/v1beta/agents/with-mcp', { method: 'DELETE' });
  });

  it.each([
    [{ description: 'x' }, 400, /^base_agent: required: the configured agent this one builds on/],
    [
      { base_agent: 'antigravity-preview-05-2026' },
      400,
      /^base_agent: unknown agent 'antigravity-preview-05-2026'/,
    ],
    [{ base_agent: BASE, id: 'Bad_Id' }, 400, /^id: must be 1-63 lowercase letters/],
    [
      { base_agent: BASE, id: 'deep-research-max-preview-04-2026' },
      400,
      /^id: 'deep-research-max-preview-04-2026' is the name of an agent this server configures$/,
    ],
    [{ base_agent: BASE, model: 'x' }, 400, /^model: unknown field$/],
    [
      { base_agent: BASE, base_environment: 'remote' },
      501,
      /^base_environment: sandboxed environments are not available/,
    ],
    [
      { base_agent: BASE, agent_config: { type: 'antigravity' } },
      400,
      /^agent_config\.type: agent .* takes agent_config of type 'deep-research', not 'antigravity'$/,
    ],
    [
      { base_agent: BASE, agent_config: { type: 'deep-research', visualization: 'on' } },
      400,
      /^agent_config\.visualization:/,
    ],
    [
      { base_agent: BASE, tools: [{ type: 'function', name: 'f' }] },
      400,
      /^tools\[0\]: agents built on .* run no client functions/,
    ],
    [
      { base_agent: BASE, tools: [{ type: 'web_browser' }] },
      400,
      /^tools\[0\]\.type: unknown tool type 'web_browser'$/,
    ],
    [
      { base_agent: BASE, tools: [{ type: 'retrieval' }] },
      400,
      /^tools\[0\]: built-in tool 'retrieval' is not configured/,
    ],
  ])('refuses %j → %i', async (body, status, message) => {
    const res = await h.fetch('/v1beta/agents', { method: 'POST', body: JSON.stringify(body) });
    expect(res.status).toBe(status);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(message);
  });

  it('refuses a second agent with the same id, an unknown page token, and answers 404 for an unknown id', async () => {
    const create = () =>
      h.fetch('/v1beta/agents', {
        method: 'POST',
        body: JSON.stringify({ id: 'twice', base_agent: BASE }),
      });
    expect((await create()).status).toBe(200);
    const again = await create();
    expect(again.status).toBe(400);
    expect(((await again.json()) as { error: { message: string } }).error.message).toBe(
      "id: agent 'twice' already exists in this project",
    );
    const token = await h.fetch('/v1beta/agents?page_token=nope');
    expect(token.status).toBe(400);
    const missing = await h.fetch('/v1beta/agents/never-made');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({
      error: { code: 'not_found', status: 'NOT_FOUND', message: "agent 'never-made' not found" },
    });
    await h.fetch('/v1beta/agents/twice', { method: 'DELETE' });
  });
});
