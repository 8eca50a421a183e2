import type { BuiltInToolType } from '../protocol/schemas.js';

/**
 * The built-in recipes an `agents:` entry can name. A recipe fixes how an agent works; the entry
 * points it at a model and may override its defaults.
 */

export const RECIPE_NAMES = ['deep-research', 'tool-loop'] as const;
export type RecipeName = (typeof RECIPE_NAMES)[number];

export interface RecipeLimits {
  maxRounds?: number;
  maxSeconds?: number;
  maxTotalTokens?: number;
  maxOutputTokens?: number;
}

export interface Recipe {
  name: RecipeName;
  /** The `agent_config.type` the recipe takes; without one, `agent_config` is refused. */
  configType?: 'deep-research';
  /** Tools used when the agent names none; a `required` one must be configured on the server. */
  defaultTools: { type: BuiltInToolType; required: boolean }[];
  /** Runs only with `background: true` (Google's rule for its research agents). */
  backgroundOnly: boolean;
  /** Client functions (`function`, `computer_use`) may be among the tools. */
  clientFunctions: boolean;
  /** Whether a JSON `response_format` can shape the answer. */
  structuredOutput: boolean;
  limits: RecipeLimits;
}

export const RECIPES: Record<RecipeName, Recipe> = {
  // Plan → search and read → cited report (src/agents/deep-research/).
  'deep-research': {
    name: 'deep-research',
    configType: 'deep-research',
    defaultTools: [
      { type: 'google_search', required: true },
      { type: 'url_context', required: false },
      { type: 'code_execution', required: false },
    ],
    backgroundOnly: true,
    clientFunctions: false,
    structuredOutput: false,
    limits: { maxRounds: 12, maxSeconds: 1800, maxTotalTokens: 2_000_000, maxOutputTokens: 8192 },
  },
  // The engine's own tool loop with the agent's model, instructions and tools.
  'tool-loop': {
    name: 'tool-loop',
    defaultTools: [],
    backgroundOnly: false,
    clientFunctions: true,
    structuredOutput: true,
    limits: {},
  },
};
