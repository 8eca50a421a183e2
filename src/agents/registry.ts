import picomatch from 'picomatch';
import type { AgentResolver, PreparedAgent } from '../engine/agent-run.js';
import type { AgentConfig, DeepResearchAgentConfig } from '../protocol/agents.js';
import { AGENT_ID } from '../protocol/agents.js';
import { ApiError, invalid, preconditionFailed } from '../protocol/errors.js';
import type { JsonObject } from '../protocol/types.js';
import { clip, parseWith, validateTools, type CreateRequest } from '../protocol/validate.js';
import type { AgentRecord, AgentStore } from '../store/agent-store.js';
import { agentEntrySchema, type AgentEntry } from './config.js';
import { createDeepResearchProgram } from './deep-research/program.js';
import { RECIPES, type Recipe } from './recipes.js';

/** A request's tools, split as validate.ts does. */
export type AgentTools = Pick<CreateRequest, 'functionTools' | 'builtInTools'>;

/** One `agents:` entry, checked at start-up. */
export interface ConfiguredAgent {
  entry: AgentEntry;
  recipe: Recipe;
  /** The tools of its runs unless a custom agent or the request says otherwise. */
  tools: AgentTools;
}

/** What a custom agent (`/agents`) stores besides its id and times. */
export interface CustomAgentDefinition {
  base_agent: string;
  display_name?: string;
  description?: string;
  system_instruction?: string;
  tools?: JsonObject[];
  agent_config?: AgentConfig;
}

export interface AgentRegistryOptions {
  /** The `agents:` entries of the config. */
  entries: readonly unknown[];
  /** Resolves an entry's `model` (the model registry). */
  models: { resolve(name: string): unknown };
  /** Types of the built-in tools the operator configured. */
  configuredTools: ReadonlySet<string>;
  /** The projects' custom agents. */
  store?: AgentStore;
}

const joinInstructions = (...parts: (string | undefined)[]) =>
  parts.filter((p) => p !== undefined && p.trim() !== '').join('\n\n') || undefined;

/**
 * The agents clients can call: the `agents:` entries of the config (names may be globs, tried in
 * order) and each project's custom agents, which build on one of them. `prepare` turns an agent
 * request into the model request and program the engine runs (src/engine/agent-run.ts).
 */
export class AgentRegistry implements AgentResolver {
  private readonly agents: { agent: ConfiguredAgent; matches: (name: string) => boolean }[];
  private readonly store?: AgentStore;

  constructor(o: AgentRegistryOptions) {
    this.store = o.store;
    this.agents = o.entries.map((raw, i) => {
      const agent = configuredAgent(raw, i, o);
      return { agent, matches: picomatch(agent.entry.name) };
    });
  }

  /** The configured agent a name selects (the first entry whose name or glob matches). */
  find(name: string): ConfiguredAgent | undefined {
    return this.agents.find((a) => a.matches(name))?.agent;
  }

  isAgent(name: string): boolean {
    return this.find(name) !== undefined;
  }

  names(): string[] {
    return this.agents.map((a) => a.agent.entry.name);
  }

  private unknown(name: string): ApiError {
    const configured = this.names();
    return invalid(
      `agent: unknown agent '${clip(name)}' (configured: ${configured.join(', ') || 'none'}; or the id of a custom agent of this project)`,
    );
  }

  async prepare(project: string, request: CreateRequest): Promise<PreparedAgent> {
    const name = request.agent!;
    let configured = this.find(name);
    let custom: CustomAgentDefinition | undefined;
    if (!configured && AGENT_ID.test(name) && this.store) {
      const record: AgentRecord | undefined = await this.store.get(project, name);
      if (record) {
        custom = record.definition as unknown as CustomAgentDefinition;
        configured = this.find(custom.base_agent);
        if (!configured) {
          throw preconditionFailed(
            `agent: custom agent '${name}' builds on '${clip(custom.base_agent)}', which this server no longer configures`,
          );
        }
      }
    }
    if (!configured) throw this.unknown(name);
    const { entry, recipe } = configured;

    const config = mergeAgentConfig(
      recipe,
      name,
      custom?.agent_config,
      request.agent_config as AgentConfig | undefined,
    );
    const backgroundOnly = entry.background
      ? entry.background === 'required'
      : recipe.backgroundOnly;
    if (backgroundOnly && request.background !== true) {
      throw invalid(
        `background: agent '${clip(name)}' runs only in the background; set background to true`,
      );
    }
    if (!recipe.structuredOutput && request.responseFormat?.mimeType === 'application/json') {
      const field =
        request.raw.response_format !== undefined ? 'response_format' : 'response_mime_type';
      throw invalid(
        `${field}: agent '${clip(name)}' writes a report and takes no JSON output format`,
      );
    }
    const tools = composeTools(
      custom?.tools ? validateTools(custom.tools, undefined) : configured.tools,
      request,
    );
    if (!recipe.clientFunctions) {
      const raw = Array.isArray(request.raw.tools) ? request.raw.tools : [];
      const at = raw.findIndex(
        (t) => isObject(t) && (t.type === 'function' || t.type === 'computer_use'),
      );
      if (at >= 0)
        throw invalid(
          `tools[${at}]: agent '${clip(name)}' runs no client functions (its tools run on the server)`,
        );
    }

    const instructions = joinInstructions(
      entry.system_instruction,
      custom?.system_instruction,
      request.system_instruction,
    );
    const limits = {
      maxRounds: entry.max_rounds ?? recipe.limits.maxRounds,
      maxSeconds: entry.max_seconds ?? recipe.limits.maxSeconds,
      maxTotalTokens: entry.max_total_tokens ?? recipe.limits.maxTotalTokens,
      maxOutputTokens: entry.max_output_tokens ?? recipe.limits.maxOutputTokens,
    };
    const research = recipe.name === 'deep-research';
    const rewritten: CreateRequest = {
      ...request,
      model: entry.model,
      ...tools,
      // deep-research writes its own instructions per phase around these
      system_instruction: research ? undefined : instructions,
      generation_config: {
        thinking_summaries: config?.thinking_summaries ?? 'none',
        ...(entry.thinking_level ? { thinking_level: entry.thinking_level } : {}),
        ...(!research && limits.maxOutputTokens
          ? { max_output_tokens: limits.maxOutputTokens }
          : {}),
      },
    };
    return {
      request: rewritten,
      run: {
        name,
        maxRounds: limits.maxRounds,
        deadlineMs: limits.maxSeconds === undefined ? undefined : limits.maxSeconds * 1000,
        program: research
          ? createDeepResearchProgram({
              config: config!,
              instructions,
              maxRounds: limits.maxRounds!,
              maxSeconds: limits.maxSeconds,
              maxTotalTokens: limits.maxTotalTokens,
              maxOutputTokens: limits.maxOutputTokens,
              thinkingLevel: entry.thinking_level,
            })
          : undefined,
      },
    };
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The `agent_config` of a run: the request's over the custom agent's, checked against the type
 * the recipe takes (spec §10.1: a config of the wrong type for the agent is a 400).
 */
function mergeAgentConfig(
  recipe: Recipe,
  agent: string,
  stored: AgentConfig | undefined,
  given: AgentConfig | undefined,
): DeepResearchAgentConfig | undefined {
  if (given !== undefined) checkAgentConfig(recipe, agent, given, 'agent_config');
  if (!recipe.configType) return undefined;
  return {
    type: recipe.configType,
    ...(stored as DeepResearchAgentConfig | undefined),
    ...(given as DeepResearchAgentConfig | undefined),
  };
}

export function checkAgentConfig(
  recipe: Recipe,
  agent: string,
  config: AgentConfig,
  path: string,
): void {
  if (!recipe.configType) {
    throw invalid(`${path}: agent '${clip(agent)}' takes no agent_config`);
  }
  if (config.type !== recipe.configType) {
    throw invalid(
      `${path}.type: agent '${clip(agent)}' takes agent_config of type '${recipe.configType}', not '${clip(config.type)}'`,
    );
  }
  if ((config as DeepResearchAgentConfig).enable_bigquery_tool === true) {
    throw preconditionFailed(
      `${path}.enable_bigquery_tool: the BigQuery tool is not available on this server`,
    );
  }
}

/**
 * The request's `tools` restrict or extend the agent's (spec §2.1): built-in tools of a type the
 * agent has replace the agent's built-in tools (listing `google_search` alone means search only);
 * tools of other types (file_search, mcp_server, functions) are added to them.
 */
function composeTools(agent: AgentTools, request: CreateRequest): AgentTools {
  const agentTypes = new Set(agent.builtInTools.map((t) => t.type));
  const restricts = request.builtInTools.some((t) => agentTypes.has(t.type));
  const requestedFunctions = new Set(request.functionTools.map((f) => f.name));
  return {
    builtInTools: [...(restricts ? [] : agent.builtInTools), ...request.builtInTools],
    functionTools: [
      ...agent.functionTools.filter((f) => !requestedFunctions.has(f.name)),
      ...request.functionTools,
    ],
  };
}

/** Checks one `agents:` entry (start-up fails with a message naming the setting). */
function configuredAgent(raw: unknown, i: number, o: AgentRegistryOptions): ConfiguredAgent {
  const where = `agents[${i}]`;
  const fail = (message: string) => new Error(`config: ${message}`);
  let entry: AgentEntry;
  try {
    entry = parseWith(agentEntrySchema, raw, ['agents', i]);
  } catch (err) {
    throw fail((err as Error).message);
  }
  const recipe = RECIPES[entry.recipe];
  if (!o.models.resolve(entry.model)) {
    throw fail(`${where}.model: '${entry.model}' matches no models: entry`);
  }
  if (entry.max_total_tokens !== undefined && recipe.name !== 'deep-research') {
    throw fail(
      `${where}.max_total_tokens: only the deep-research recipe keeps a token budget (recipe here: ${recipe.name})`,
    );
  }
  let tools: AgentTools;
  if (entry.tools) {
    try {
      tools = validateTools(entry.tools, undefined, ['agents', i, 'tools']);
    } catch (err) {
      throw fail((err as Error).message);
    }
    const unconfigured = tools.builtInTools.find(
      (t) => t.type !== 'computer_use' && !o.configuredTools.has(t.type),
    );
    if (unconfigured) {
      throw fail(
        `${where}.tools[${unconfigured.index}]: built-in tool '${unconfigured.type}' is not configured (server setting tools.${unconfigured.type})`,
      );
    }
    const clientSide =
      tools.functionTools.length > 0 || tools.builtInTools.some((t) => t.type === 'computer_use');
    if (clientSide && !recipe.clientFunctions) {
      throw fail(`${where}.tools: the ${recipe.name} recipe runs no client functions`);
    }
  } else {
    const missing = recipe.defaultTools.find((t) => t.required && !o.configuredTools.has(t.type));
    if (missing) {
      throw fail(
        `${where} (${entry.name}): the ${recipe.name} recipe needs the built-in tool ${missing.type} (server setting tools.${missing.type})`,
      );
    }
    const available = recipe.defaultTools.filter((t) => o.configuredTools.has(t.type));
    tools = {
      functionTools: [],
      builtInTools: available.map((t, index) => ({
        index,
        type: t.type,
        config: { type: t.type },
      })),
    };
  }
  return { entry, recipe, tools };
}
