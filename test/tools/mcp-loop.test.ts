import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { ChatRequest } from '../support/fake-upstream.js';
import {
  interactionEvents,
  noRetry,
  parseSse,
  startHarness,
  type Harness,
} from '../support/harness.js';

/** A real MCP server (official SDK, streamable HTTP, stateless) on 127.0.0.1. */
async function startMcpServer(): Promise<{ url: string; server: Server; auth: string[] }> {
  const auth: string[] = [];
  const server = createServer((req, res) => {
    auth.push(String(req.headers.authorization));
    const mcp = new McpServer({ name: 'calc', version: '1.0.0' });
    mcp.registerTool(
      'add',
      { description: 'Adds two numbers.', inputSchema: { a: z.number(), b: z.number() } },
      ({ a, b }) => ({
        content: [{ type: 'text', text: String(a + b) }],
      }),
    );
    mcp.registerTool('secret', { description: 'Not allowed.' }, () => ({
      content: [{ type: 'text', text: 'nope' }],
    }));
    mcp.registerTool('hang', { description: 'Never answers.' }, () => new Promise<never>(() => {}));
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => {
      void transport.close();
      void mcp.close();
    });
    void mcp.connect(transport).then(() => transport.handleRequest(req, res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`, server, auth };
}

/** Round 1: call calc__add; round 2: answer with what the tool returned. */
function toolThenAnswer(body: ChatRequest) {
  const result = body.messages.find((m) => m.role === 'tool');
  if (!result) return { toolCalls: [{ name: 'calc__add', arguments: '{"a":2,"b":40}' }] };
  return { text: [`The sum is ${String(result.content)}.`] };
}

describe('tool loop with a remote MCP server', () => {
  let h: Harness;
  let mcp: Awaited<ReturnType<typeof startMcpServer>>;
  beforeAll(async () => {
    mcp = await startMcpServer();
    h = await startHarness({
      store: 'sqlite',
      config: { tools: { mcp_server: { allow_private: true } } },
    });
    h.upstream.script = toolThenAnswer;
  });
  afterAll(async () => {
    await h.close();
    mcp.server.close();
  });

  const mcpTool = () => ({
    type: 'mcp_server' as const,
    name: 'calc',
    url: mcp.url,
    headers: { Authorization: 'Bearer mcp-token-123' },
    allowed_tools: [{ tools: ['add'] }],
  });

  it('calls the MCP tool inside one interaction and answers with its result', async () => {
    const r = await h
      .client()
      .interactions.create(
        { model: 'gemini-3.5-flash', input: 'What is 2 + 40?', tools: [mcpTool() as never] },
        noRetry,
      );
    expect(r.status).toBe('completed');
    expect(r.steps?.map((s) => s.type)).toEqual([
      'mcp_server_tool_call',
      'mcp_server_tool_result',
      'model_output',
    ]);
    const [call, result] = r.steps as unknown as Record<string, unknown>[];
    expect(call).toMatchObject({ name: 'add', server_name: 'calc', arguments: { a: 2, b: 40 } });
    expect(result).toMatchObject({
      call_id: call!.id,
      result: '42',
      name: 'add',
      server_name: 'calc',
    });
    expect(r.output_text).toBe('The sum is 42.');
    // the model was offered only the allowed tool, and the header reached the MCP server
    expect(h.upstream.requests.at(-2)!.tools!.map((t) => t.function.name)).toEqual(['calc__add']);
    expect(mcp.auth).toContain('Bearer mcp-token-123');
    // the credential is not echoed back on get
    const got = await h.client().interactions.get(r.id, undefined, noRetry);
    expect(JSON.stringify(got)).not.toContain('mcp-token-123');
  });

  it('streams the call and result steps as spec §5.5 describes', async () => {
    const res = await h.fetch('/v1beta/interactions', {
      method: 'POST',
      body: JSON.stringify({
        model: 'gemini-3.5-flash',
        input: 'add',
        tools: [mcpTool()],
        stream: true,
      }),
    });
    const events = interactionEvents(parseSse(await res.text()));
    const steps = events.filter((e) => e.event_type.startsWith('step.'));
    expect(steps.slice(0, 6).map((e) => e.event_type)).toEqual([
      'step.start',
      'step.delta',
      'step.stop',
      'step.start',
      'step.delta',
      'step.stop',
    ]);
    expect(steps[0]).toMatchObject({
      index: 0,
      step: { type: 'mcp_server_tool_call', signature: '' },
    });
    expect(steps[1]).toMatchObject({
      index: 0,
      delta: {
        type: 'mcp_server_tool_call',
        name: 'add',
        server_name: 'calc',
        arguments: { a: 2, b: 40 },
      },
    });
    expect(
      (steps[1] as unknown as { delta: { signature: string } }).delta.signature.length,
    ).toBeGreaterThan(10);
    expect(steps[3]).toMatchObject({
      index: 1,
      step: { type: 'mcp_server_tool_result', signature: '' },
    });
    expect(steps[4]).toMatchObject({
      index: 1,
      delta: { type: 'mcp_server_tool_result', result: '42' },
    });
    expect(events.at(-1)).toMatchObject({
      event_type: 'interaction.completed',
      interaction: { status: 'completed' },
    });
  });

  it('continues the conversation with the tool steps in the history', async () => {
    const r = await h
      .client()
      .interactions.create(
        { model: 'gemini-3.5-flash', input: 'What is 2 + 40?', tools: [mcpTool() as never] },
        noRetry,
      );
    h.upstream.script = () => ({ text: ['ok'] });
    await h
      .client()
      .interactions.create(
        { model: 'gemini-3.5-flash', input: 'thanks', previous_interaction_id: r.id },
        noRetry,
      );
    h.upstream.script = toolThenAnswer;
    const roles = h.upstream.requests.at(-1)!.messages.map((m) => m.role);
    expect(roles).toEqual(['user', 'assistant', 'tool', 'assistant', 'user']);
  });

  it('stops at the round limit with status incomplete', async () => {
    h.upstream.script = () => ({ toolCalls: [{ name: 'calc__add', arguments: '{"a":1,"b":1}' }] });
    const limited = await startHarness({
      store: 'sqlite',
      config: { tools: { max_rounds: 2, mcp_server: { allow_private: true } } },
    });
    limited.upstream.script = h.upstream.script;
    try {
      const r = await limited
        .client()
        .interactions.create(
          { model: 'gemini-3.5-flash', input: 'loop', tools: [mcpTool() as never] },
          noRetry,
        );
      expect(r.status).toBe('incomplete');
      expect(r.steps?.filter((s) => s.type === 'mcp_server_tool_call')).toHaveLength(2);
    } finally {
      await limited.close();
      h.upstream.script = toolThenAnswer;
    }
  });

  it('refuses an unreachable MCP server and an unconfigured tool with 400 before anything runs', async () => {
    const before = h.upstream.requests.length;
    const down = await h.fetch('/v1beta/interactions', {
      method: 'POST',
      body: JSON.stringify({
        model: 'gemini-3.5-flash',
        input: 'x',
        tools: [{ type: 'mcp_server', name: 'gone', url: 'http://127.0.0.1:9/mcp' }],
      }),
    });
    expect(down.status).toBe(400);
    expect(((await down.json()) as { error: { message: string } }).error.message).toMatch(
      /^tools\[0\]\.url/,
    );
    const search = await h.fetch('/v1beta/interactions', {
      method: 'POST',
      body: JSON.stringify({
        model: 'gemini-3.5-flash',
        input: 'x',
        tools: [{ type: 'google_search' }],
      }),
    });
    expect(search.status).toBe(400);
    const { error } = (await search.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe('failed_precondition');
    expect(error.message).toMatch(
      /^tools\[0\]: built-in tool 'google_search' is not configured .*tools\.google_search/,
    );
    expect(h.upstream.requests.length).toBe(before);
  });

  it('honours a cancel while a tool call is running', async () => {
    const before = h.upstream.requests.length;
    h.upstream.script = () => ({ toolCalls: [{ name: 'calc__hang', arguments: '{}' }] });
    try {
      const r = await h.client().interactions.create(
        {
          model: 'gemini-3.5-flash',
          input: 'hang',
          background: true,
          tools: [
            {
              type: 'mcp_server',
              name: 'calc',
              url: mcp.url,
              allowed_tools: [{ tools: ['hang'] }],
            } as never,
          ],
        },
        noRetry,
      );
      await h.upstream.waitForRequests(before + 1);
      const cancelled = await h.client().interactions.cancel(r.id, undefined, noRetry);
      expect(cancelled.status).toBe('cancelled');
      // The call step is stored before the call runs (a takeover must know it ran), so the
      // cancel may find it; the result never comes.
      const types = cancelled.steps?.map((s) => s.type) ?? [];
      expect([['user_input'], ['user_input', 'mcp_server_tool_call']]).toContainEqual(types);
    } finally {
      h.upstream.script = toolThenAnswer;
    }
  });
});
