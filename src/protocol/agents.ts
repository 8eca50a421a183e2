import { z } from 'zod';
import type { JsonObject } from './types.js';

/**
 * Wire shapes of agents (spec §10.1–10.2, names from @google/genai's `DeepResearchAgentConfig`,
 * `AntigravityAgentConfig`, `CodeMenderAgentConfig`, `DynamicAgentConfig` and `Agent`). Enums are
 * open strings in the SDK; the server accepts only the values it knows, so a typo is a 400 that
 * names the field rather than a setting silently ignored.
 */

const deepResearchConfig = z.strictObject({
  type: z.literal('deep-research'),
  /** `auto`: thought summaries stream as progress; default `none` (spec Q-8). */
  thinking_summaries: z.enum(['auto', 'none']).optional(),
  /** `auto` (default): charts where the sandbox can draw them; `off`: text only. */
  visualization: z.enum(['off', 'auto']).optional(),
  /** The first turn ends with the research plan; research starts at the next turn. */
  collaborative_planning: z.boolean().optional(),
  enable_bigquery_tool: z.boolean().optional(),
});

const antigravityConfig = z.strictObject({
  type: z.literal('antigravity'),
  model: z.string().min(1).optional(),
  /** int64 as a decimal string (proto3 JSON). */
  max_total_tokens: z
    .string()
    .regex(/^[1-9]\d{0,17}$/, { error: 'must be a positive integer written as a string' })
    .optional(),
});

const sourceFile = z.strictObject({ path: z.string(), content: z.string() });
const codeMenderConfig = z.strictObject({
  type: z.literal('code-mender'),
  model: z.string().min(1).optional(),
  session_id: z.string().optional(),
  session_config: z.strictObject({ max_rounds: z.number().int().min(1).optional() }).optional(),
  find_request: z
    .strictObject({
      mode: z.enum(['scan', 'verify']).optional(),
      finding_id: z.string().optional(),
      description: z.string().optional(),
      source_files: z.array(sourceFile).optional(),
    })
    .optional(),
  fix_request: z
    .strictObject({
      finding_id: z.string().optional(),
      description: z.string().optional(),
      source_files: z.array(sourceFile).optional(),
    })
    .optional(),
});

const dynamicConfig = z.looseObject({ type: z.literal('dynamic') });

export const AGENT_CONFIG_TYPES = [
  'deep-research',
  'antigravity',
  'code-mender',
  'dynamic',
] as const;
export type AgentConfigType = (typeof AGENT_CONFIG_TYPES)[number];

export const agentConfigSchemas: Record<AgentConfigType, z.ZodType> = {
  'deep-research': deepResearchConfig,
  antigravity: antigravityConfig,
  'code-mender': codeMenderConfig,
  dynamic: dynamicConfig,
};

export type DeepResearchAgentConfig = z.infer<typeof deepResearchConfig>;
export type AgentConfig =
  | DeepResearchAgentConfig
  | z.infer<typeof antigravityConfig>
  | z.infer<typeof codeMenderConfig>
  | z.infer<typeof dynamicConfig>;

/** Ids of custom agents: lowercase letters, digits and `-`, starting with a letter (URL-safe). */
export const AGENT_ID = /^[a-z][a-z0-9-]{0,62}$/;
export const AGENT_ID_RULE =
  'must be 1-63 lowercase letters, digits or -, starting with a letter (e.g. customer-sentinel)';

/** `POST /{v}/agents` body (`Agent` of the SDK, plus Google's `display_name`). */
export const agentBodySchema = z.strictObject({
  id: z.string().regex(AGENT_ID, { error: AGENT_ID_RULE }).optional(),
  base_agent: z.string().optional(),
  display_name: z.string().max(512).optional(),
  description: z.string().max(16_384).optional(),
  system_instruction: z.string().max(1_000_000).optional(),
  /** Each entry is checked like a request's `tools[i]` (validate.ts). */
  tools: z.array(z.unknown()).max(128).optional(),
  base_environment: z.unknown().optional(),
  /** Checked like a request's `agent_config` (validate.ts). */
  agent_config: z.unknown().optional(),
});
export type AgentBody = z.infer<typeof agentBodySchema>;

/** The `Agent` resource as the server returns it (snake_case, like Interactions). */
export interface AgentResource {
  id: string;
  object: 'agent';
  base_agent: string;
  display_name?: string;
  description?: string;
  system_instruction?: string;
  tools?: JsonObject[];
  agent_config?: JsonObject;
  created: string;
  updated: string;
}

/** `GET /{v}/agents` (the SDK's `AgentListResponse`, spec Q-26). */
export interface AgentListResponse {
  agents?: AgentResource[];
  next_page_token?: string;
}
