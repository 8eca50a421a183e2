import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  StreamableHTTPClientTransport,
  StreamableHTTPError,
} from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  CompatibilityCallToolResultSchema,
  ErrorCode,
  McpError,
  type Tool as McpTool,
} from '@modelcontextprotocol/sdk/types.js';
import picomatch from 'picomatch';
import { Agent, fetch as undiciFetch } from 'undici';
import {
  checkUrl,
  guardedLookup,
  UnsafeUrlError,
  type HostResolver,
} from '../../net/address-policy.js';
import { formatPath, invalid, preconditionFailed } from '../../protocol/errors.js';
import type { JsonObject } from '../../protocol/types.js';
import type { BuiltInTool, ToolCallOutcome, ToolDeclaration, ToolSession } from '../types.js';
import { parseEntry, type McpServerEntry } from './entry.js';
import { failureResult, mapCallResult, type McpCallResult } from './result.js';
import { mcpSchemaValidator } from './schema-validator.js';

/**
 * The `mcp_server` built-in tool (spec §7.6): a remote MCP server reached over the Streamable HTTP
 * transport. `open` connects and lists the server's tools before the run starts; each allowed
 * tool is offered to the model as a function named `<server_name>__<tool_name>`; calls become
 * `mcp_server_tool_call` / `mcp_server_tool_result` steps.
 */

export interface McpServerToolOptions {
  /** Allow loopback, private, link-local and other non-public addresses (default false). */
  allowPrivate?: boolean;
  /** Budget for connecting and listing tools, in ms (default 10 s). */
  connectTimeoutMs?: number;
  /** Budget for one tool call, in ms (default 60 s). */
  callTimeoutMs?: number;
  /**
   * Custom fetch for the transport. Replaces the built-in client, and with it the per-socket
   * address check (the URL is still checked before connecting).
   */
  fetch?: typeof fetch;
  /** Host resolver for the pre-connect address check (default: the system resolver). */
  resolve?: HostResolver;
  /**
   * Globs (picomatch) of server URLs whose tools may be called again when the node running a
   * call stopped during it (a takeover, engine.ts). Default none: such a run fails instead.
   */
  repeatSafe?: readonly string[];
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_CALL_TIMEOUT_MS = 60_000;
/** Bounds on what one server may offer. */
const MAX_LIST_PAGES = 20;
const MAX_TOOLS = 512;

const CLIENT_INFO = { name: 'open-interactions', version: '0.1.0' };
const DECLARATION_NAME = /^[a-zA-Z_][a-zA-Z0-9_.-]{0,63}$/;

export function createMcpServerTool(options: McpServerToolOptions = {}): BuiltInTool {
  const allowPrivate = options.allowPrivate ?? false;
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const callTimeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  const isRepeatSafe =
    options.repeatSafe && options.repeatSafe.length > 0
      ? picomatch([...options.repeatSafe], { dot: true })
      : () => false;

  return {
    type: 'mcp_server',
    async open(raw: JsonObject, index: number): Promise<ToolSession> {
      const entry = parseEntry(raw, index);
      const urlPath = formatPath(['tools', index, 'url']);

      if (!allowPrivate) {
        try {
          await checkUrl(entry.url, {}, options.resolve);
        } catch (err) {
          if (err instanceof UnsafeUrlError) {
            throw invalid(
              `${urlPath}: ${err.message}; MCP servers must be on public addresses unless the operator allows private ones`,
            );
          }
          throw preconditionFailed(
            `${urlPath}: cannot resolve the MCP server's host: ${describeError(err)}`,
          );
        }
      }

      // One HTTP agent per session, so closing the session closes its sockets.
      const agent = options.fetch
        ? undefined
        : new Agent(allowPrivate ? {} : { connect: { lookup: guardedLookup } });
      const fetchFn: FetchLike = options.fetch
        ? options.fetch
        : (url, init) =>
            undiciFetch(url, {
              ...(init as Parameters<typeof undiciFetch>[1]),
              dispatcher: agent,
            }) as unknown as Promise<Response>;

      const transport = new StreamableHTTPClientTransport(entry.url, {
        requestInit: { headers: entry.headers },
        fetch: fetchFn,
      });
      const client = new Client(CLIENT_INFO, {
        capabilities: {},
        jsonSchemaValidator: mcpSchemaValidator,
      });
      // Transport errors outside a request (e.g. the optional GET stream) are not fatal here;
      // a broken connection surfaces on the next call.
      client.onerror = () => {};

      let closed = false;
      const close = async (): Promise<void> => {
        if (closed) return;
        closed = true;
        try {
          if (transport.sessionId !== undefined) {
            await withTimeout(transport.terminateSession(), 2_000).catch(() => {});
          }
          await client.close().catch(() => {});
        } finally {
          await agent?.destroy().catch(() => {});
        }
      };

      let tools: McpTool[];
      const deadline = AbortSignal.timeout(connectTimeoutMs);
      try {
        await client.connect(transport, { signal: deadline, timeout: connectTimeoutMs });
        tools = await listAllTools(client, deadline, connectTimeoutMs);
      } catch (err) {
        await close();
        const reason = deadline.aborted
          ? `no answer within ${connectTimeoutMs} ms`
          : describeError(err, formatPath(['tools', index, 'headers']));
        throw preconditionFailed(`${urlPath}: cannot use the MCP server: ${reason}`);
      }

      let allowed: McpTool[];
      try {
        allowed = filterTools(tools, entry);
      } catch (err) {
        await close();
        throw err;
      }

      const byDeclaration = new Map<string, McpTool>();
      const declarations: ToolDeclaration[] = allowed.map((tool) => {
        const name = declarationName(entry.name, tool.name, byDeclaration);
        byDeclaration.set(name, tool);
        return {
          name,
          description: tool.description ?? tool.title ?? `Tool '${tool.name}' of ${entry.name}`,
          parameters: parametersOf(tool),
        };
      });

      const nameOf = new Map([...byDeclaration].map(([decl, tool]) => [tool.name, decl]));
      return {
        type: 'mcp_server',
        steps: { call: 'mcp_server_tool_call', result: 'mcp_server_tool_result' },
        declarations,
        repeatSafe: isRepeatSafe(entry.url.href),
        callStep(name, args) {
          const tool = byDeclaration.get(name);
          return { name: tool?.name ?? name, server_name: entry.name, arguments: args };
        },
        callOf(step) {
          if (step.server_name !== entry.name || typeof step.name !== 'string') return undefined;
          const name = nameOf.get(step.name);
          const args = step.arguments;
          if (name === undefined || !args || typeof args !== 'object' || Array.isArray(args))
            return undefined;
          return { name, args };
        },
        async execute(name, args, signal): Promise<ToolCallOutcome> {
          const tool = byDeclaration.get(name);
          if (!tool) throw new Error(`mcp_server ${entry.name}: no tool declared as '${name}'`);
          signal.throwIfAborted();
          const server_name = entry.name;
          let mapped;
          if (closed) {
            mapped = failureResult('The MCP server session is closed.');
          } else {
            try {
              const raw = await client.callTool(
                { name: tool.name, arguments: args },
                CompatibilityCallToolResultSchema,
                { signal, timeout: callTimeoutMs },
              );
              mapped = mapCallResult(raw as McpCallResult);
            } catch (err) {
              signal.throwIfAborted();
              mapped = failureResult(callFailure(err, callTimeoutMs));
            }
          }
          return {
            call: { name: tool.name, server_name, arguments: args },
            result: { result: mapped.result, name: tool.name, server_name },
            modelOutput: mapped.modelOutput,
          };
        },
        close,
      };
    },
  };
}

async function listAllTools(
  client: Client,
  signal: AbortSignal,
  timeout: number,
): Promise<McpTool[]> {
  const tools: McpTool[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_LIST_PAGES; page++) {
    const result = await client.listTools(cursor === undefined ? undefined : { cursor }, {
      signal,
      timeout,
    });
    tools.push(...result.tools);
    cursor = result.nextCursor;
    if (cursor === undefined || tools.length >= MAX_TOOLS) break;
  }
  return tools.slice(0, MAX_TOOLS);
}

/** Applies `allowed_tools`: the union of the allowing rules, minus the `mode: 'none'` rules. */
function filterTools(tools: McpTool[], entry: McpServerEntry): McpTool[] {
  const rules = entry.allowedTools;
  if (!rules) return tools;
  const known = new Set(tools.map((t) => t.name));
  for (const rule of rules) {
    for (const { name, path } of rule.tools ?? []) {
      if (!known.has(name)) {
        throw preconditionFailed(`${path}: the MCP server '${entry.name}' has no tool '${name}'`);
      }
    }
  }
  const includes = rules.filter((r) => !r.exclude);
  const excludes = rules.filter((r) => r.exclude);
  const covers = (rule: (typeof rules)[number], name: string) =>
    rule.tools === undefined || rule.tools.some((t) => t.name === name);
  return tools.filter(
    (tool) =>
      (includes.length === 0 || includes.some((r) => covers(r, tool.name))) &&
      !excludes.some((r) => covers(r, tool.name)),
  );
}

/** `<server>__<tool>`, made a valid function name (≤ 64 chars) and unique within the session. */
export function declarationName(server: string, tool: string, taken: Map<string, unknown>): string {
  let base = `${server}__${tool}`.replace(/[^a-zA-Z0-9_.-]/g, '_');
  if (!/^[a-zA-Z_]/.test(base)) base = `_${base}`;
  base = base.slice(0, 64);
  let name = base;
  for (let n = 2; taken.has(name); n++) {
    const suffix = `_${n}`;
    name = base.slice(0, 64 - suffix.length) + suffix;
  }
  if (!DECLARATION_NAME.test(name)) throw new Error(`bad declaration name '${name}'`);
  return name;
}

/** The tool's input schema as function parameters (`$schema` dropped: some backends reject it). */
function parametersOf(tool: McpTool): JsonObject {
  const schema = JSON.parse(JSON.stringify(tool.inputSchema ?? {})) as JsonObject;
  delete schema.$schema;
  if (schema.type === undefined) schema.type = 'object';
  if (schema.type === 'object' && schema.properties === undefined) schema.properties = {};
  return schema;
}

function callFailure(err: unknown, timeoutMs: number): string {
  if (err instanceof McpError && err.code === ErrorCode.RequestTimeout) {
    return `The MCP tool call timed out after ${timeoutMs} ms.`;
  }
  return `The MCP tool call failed: ${describeError(err)}`;
}

/** A short, secret-free account of a connection or protocol error. */
function describeError(err: unknown, headersPath?: string): string {
  if (err instanceof StreamableHTTPError && err.code !== undefined) {
    if ((err.code === 401 || err.code === 403) && headersPath) {
      return `the server answered HTTP ${err.code}; check ${headersPath}`;
    }
    return clip(`the server answered HTTP ${err.code}: ${err.message}`);
  }
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current !== undefined && current !== null && depth < 4; depth++) {
    if (current instanceof Error) {
      const code = (current as NodeJS.ErrnoException).code;
      const text =
        code && !current.message.includes(code) ? `${current.message} (${code})` : current.message;
      if (text && !parts.includes(text)) parts.push(text);
      current = current.cause;
    } else {
      parts.push(String(current));
      break;
    }
  }
  return clip(parts.join(': ') || 'unknown error');
}

const clip = (text: string, max = 300) => (text.length > max ? `${text.slice(0, max)}…` : text);

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
