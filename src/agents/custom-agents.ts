import { randomBytes } from 'node:crypto';
import { nowIso, redactToolSecrets } from '../engine/engine.js';
import { agentBodySchema, type AgentListResponse, type AgentResource } from '../protocol/agents.js';
import { ApiError, invalid, notFound, preconditionFailed } from '../protocol/errors.js';
import type { JsonObject } from '../protocol/types.js';
import { clip, parseWith, validateAgentConfig, validateTools } from '../protocol/validate.js';
import type { AgentCursor, AgentRecord, AgentStore } from '../store/agent-store.js';
import { checkAgentConfig, type AgentRegistry, type CustomAgentDefinition } from './registry.js';

/** Page size of a listing without `page_size`, and the most one page may hold. */
const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 1000;

export interface CustomAgentsOptions {
  registry: AgentRegistry;
  store: AgentStore;
  /** Types of the built-in tools the operator configured. */
  configuredTools: ReadonlySet<string>;
}

function encodeCursor(cursor: AgentCursor): string {
  return Buffer.from(JSON.stringify([cursor.created, cursor.id])).toString('base64url');
}

function decodeCursor(token: string): AgentCursor {
  try {
    const [created, id] = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown[];
    if (typeof created === 'string' && typeof id === 'string') return { created, id };
  } catch {
    // not ours: reported below
  }
  throw invalid(`page_token: '${clip(token)}' is not a page token this server issued`);
}

/** A fresh id for an agent created without one: `agent-` and 12 lowercase letters/digits. */
function newAgentId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let id = 'agent-';
  for (const b of randomBytes(12)) id += alphabet[b % alphabet.length];
  return id;
}

/**
 * Custom agents (`/agents`, spec §10.2): a project's named variants of a configured agent, with
 * their own system instruction, tools and `agent_config` defaults. Stored per project; a request
 * names one by id in `agent` (AgentRegistry.prepare resolves it).
 */
export class CustomAgents {
  constructor(private readonly o: CustomAgentsOptions) {}

  async create(project: string, body: unknown): Promise<AgentResource> {
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw invalid('body: a JSON object is required');
    const parsed = parseWith(agentBodySchema, body);
    const { registry } = this.o;
    const base = parsed.base_agent?.trim();
    if (!base) {
      throw invalid(
        `base_agent: required: the configured agent this one builds on (configured: ${registry.names().join(', ') || 'none'})`,
      );
    }
    const configured = registry.find(base);
    if (!configured) {
      throw invalid(
        `base_agent: unknown agent '${clip(base)}' (configured: ${registry.names().join(', ') || 'none'})`,
      );
    }
    if (parsed.base_environment !== undefined) {
      throw new ApiError(
        'not_implemented',
        'base_environment: sandboxed environments are not available on this server',
      );
    }
    if (parsed.id !== undefined && registry.find(parsed.id)) {
      throw invalid(`id: '${parsed.id}' is the name of an agent this server configures`);
    }
    const definition: CustomAgentDefinition = { base_agent: base };
    if (parsed.display_name !== undefined) definition.display_name = parsed.display_name;
    if (parsed.description !== undefined) definition.description = parsed.description;
    if (parsed.system_instruction !== undefined)
      definition.system_instruction = parsed.system_instruction;
    if (parsed.tools !== undefined) {
      const tools = validateTools(parsed.tools, undefined);
      for (const tool of tools.builtInTools) {
        if (tool.type !== 'computer_use' && !this.o.configuredTools.has(tool.type)) {
          throw preconditionFailed(
            `tools[${tool.index}]: built-in tool '${tool.type}' is not configured on this server (server setting tools.${tool.type})`,
          );
        }
      }
      const clientSide = (parsed.tools as JsonObject[]).findIndex(
        (t) => t.type === 'function' || t.type === 'computer_use',
      );
      if (clientSide >= 0 && !configured.recipe.clientFunctions) {
        throw invalid(
          `tools[${clientSide}]: agents built on '${clip(base)}' run no client functions (their tools run on the server)`,
        );
      }
      definition.tools = parsed.tools as JsonObject[];
    }
    if (parsed.agent_config !== undefined) {
      const config = validateAgentConfig(parsed.agent_config, ['agent_config']);
      checkAgentConfig(configured.recipe, base, config, 'agent_config');
      definition.agent_config = config;
    }

    const now = nowIso();
    const record: AgentRecord = {
      project,
      id: parsed.id ?? newAgentId(),
      definition: definition as unknown as JsonObject,
      created: now,
      updated: now,
    };
    if (!(await this.o.store.create(record))) {
      throw invalid(`id: agent '${record.id}' already exists in this project`);
    }
    return toResource(record);
  }

  async get(project: string, id: string): Promise<AgentResource> {
    const record = await this.o.store.get(project, id);
    if (!record) throw notFound(`agent '${clip(id)}' not found`);
    return toResource(record);
  }

  async list(project: string, pageSize?: number, pageToken?: string): Promise<AgentListResponse> {
    const size = Math.min(pageSize || DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
    const after = pageToken ? decodeCursor(pageToken) : undefined;
    const records = await this.o.store.list(project, size + 1, after);
    const page = records.slice(0, size);
    const last = page.at(-1);
    return {
      ...(page.length > 0 ? { agents: page.map(toResource) } : {}),
      ...(records.length > size && last
        ? { next_page_token: encodeCursor({ created: last.created, id: last.id }) }
        : {}),
    };
  }

  async delete(project: string, id: string): Promise<void> {
    if (!(await this.o.store.delete(project, id))) throw notFound(`agent '${clip(id)}' not found`);
  }
}

/** The wire resource; MCP server headers (credentials) are never sent back, only their names. */
function toResource(record: AgentRecord): AgentResource {
  const d = record.definition as unknown as CustomAgentDefinition;
  return {
    id: record.id,
    object: 'agent',
    base_agent: d.base_agent,
    ...(d.display_name !== undefined ? { display_name: d.display_name } : {}),
    ...(d.description !== undefined ? { description: d.description } : {}),
    ...(d.system_instruction !== undefined ? { system_instruction: d.system_instruction } : {}),
    ...(d.tools !== undefined ? { tools: redactToolSecrets(d.tools) as JsonObject[] } : {}),
    ...(d.agent_config !== undefined ? { agent_config: d.agent_config as JsonObject } : {}),
    created: record.created,
    updated: record.updated,
  };
}
