import { z } from 'zod';
import { THINKING_LEVELS } from '../protocol/schemas.js';
import { RECIPE_NAMES } from './recipes.js';

/**
 * One `agents:` entry of the server config. An agent is a named recipe on a configured model:
 *
 * ```yaml
 * agents:
 *   - name: deep-research-*        # the name (or glob) clients send as `agent`
 *     recipe: deep-research
 *     model: gemini-3.5-flash      # a name the `models:` entries resolve
 * ```
 *
 * Every other setting is optional and falls back to the recipe's default (docs/agents.md).
 */
export const agentEntrySchema = z.strictObject({
  name: z.string().min(1),
  /** How the agent works: `deep-research`, or `tool-loop` (a model with fixed instructions and tools). */
  recipe: z.enum(RECIPE_NAMES).default('tool-loop'),
  model: z.string().min(1),
  description: z.string().optional(),
  /** Instructions of every run (deep-research: added to the recipe's own). */
  system_instruction: z.string().min(1).optional(),
  /** The agent's tools, as a request's `tools` entries (default: the recipe's). */
  tools: z.array(z.looseObject({ type: z.string() })).optional(),
  /** `required`: calls without `background: true` are refused (the recipe's default). */
  background: z.enum(['required', 'optional']).optional(),
  /** Model calls that may run tools (deep-research: research rounds). */
  max_rounds: z.number().int().min(1).max(200).optional(),
  /** Wall-clock limit of one run; deep-research stops researching at three quarters of it. */
  max_seconds: z
    .number()
    .positive()
    .max(7 * 86_400)
    .optional(),
  /** Token budget of one run over all its model calls (`budget_exceeded` beyond it). */
  max_total_tokens: z.number().int().positive().optional(),
  /** Cap on the tokens one model call may generate (deep-research: the report). */
  max_output_tokens: z.number().int().positive().optional(),
  thinking_level: z.enum(THINKING_LEVELS).optional(),
});

export type AgentEntry = z.output<typeof agentEntrySchema>;
