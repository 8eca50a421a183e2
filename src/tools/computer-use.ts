import { z } from 'zod';
import type { FunctionTool } from '../protocol/schemas.js';
import { parseWith } from '../protocol/validate.js';

/**
 * Computer use (spec §6.5) is a client-side loop: the model is offered the predefined UI actions
 * as functions, its calls come back as `function_call` steps, and the client answers with
 * `function_result` steps (a text item with the URL and a screenshot image).
 */
const computerUseSchema = z.strictObject({
  type: z.literal('computer_use'),
  environment: z.enum(['browser', 'mobile', 'desktop']).optional(),
  excluded_predefined_functions: z.array(z.string()).optional(),
  disabled_safety_policies: z.array(z.string()).optional(),
  enable_prompt_injection_detection: z.boolean().optional(),
});

const xy = {
  x: { type: 'integer', description: 'X coordinate on a 0-999 grid over the screen width' },
  y: { type: 'integer', description: 'Y coordinate on a 0-999 grid over the screen height' },
};

const object = (
  properties: Record<string, unknown>,
  required: string[] = Object.keys(properties),
) => ({
  type: 'object',
  properties,
  required,
});

/** The predefined actions, with the argument shapes Gemini's computer-use model uses. */
export const PREDEFINED_ACTIONS: FunctionTool[] = [
  {
    type: 'function',
    name: 'open_web_browser',
    description: 'Opens the web browser.',
    parameters: object({}),
  },
  {
    type: 'function',
    name: 'wait_5_seconds',
    description: 'Waits 5 seconds for the page to settle.',
    parameters: object({}),
  },
  {
    type: 'function',
    name: 'go_back',
    description: 'Navigates to the previous page.',
    parameters: object({}),
  },
  {
    type: 'function',
    name: 'go_forward',
    description: 'Navigates to the next page.',
    parameters: object({}),
  },
  {
    type: 'function',
    name: 'search',
    description: 'Opens the default search engine.',
    parameters: object({}),
  },
  {
    type: 'function',
    name: 'navigate',
    description: 'Navigates to a URL.',
    parameters: object({ url: { type: 'string' } }),
  },
  { type: 'function', name: 'click_at', description: 'Clicks at a point.', parameters: object(xy) },
  {
    type: 'function',
    name: 'hover_at',
    description: 'Moves the pointer to a point.',
    parameters: object(xy),
  },
  {
    type: 'function',
    name: 'type_text_at',
    description: 'Clicks at a point and types text.',
    parameters: object(
      {
        ...xy,
        text: { type: 'string' },
        press_enter: { type: 'boolean' },
        clear_before_typing: { type: 'boolean' },
      },
      ['x', 'y', 'text'],
    ),
  },
  {
    type: 'function',
    name: 'key_combination',
    description: 'Presses keys together, e.g. "Control+C".',
    parameters: object({ keys: { type: 'string' } }),
  },
  {
    type: 'function',
    name: 'scroll_document',
    description: 'Scrolls the whole page.',
    parameters: object({ direction: { type: 'string', enum: ['up', 'down', 'left', 'right'] } }),
  },
  {
    type: 'function',
    name: 'scroll_at',
    description: 'Scrolls at a point.',
    parameters: object(
      {
        ...xy,
        direction: { type: 'string', enum: ['up', 'down', 'left', 'right'] },
        magnitude: { type: 'integer' },
      },
      ['x', 'y', 'direction'],
    ),
  },
  {
    type: 'function',
    name: 'drag_and_drop',
    description: 'Drags from one point to another.',
    parameters: object({
      ...xy,
      destination_x: { type: 'integer' },
      destination_y: { type: 'integer' },
    }),
  },
];

/** Expands a `computer_use` tool entry into the function declarations offered to the model. */
export function computerUseFunctions(config: unknown, index: number): FunctionTool[] {
  const tool = parseWith(computerUseSchema, config, ['tools', index]);
  const excluded = new Set(tool.excluded_predefined_functions ?? []);
  return PREDEFINED_ACTIONS.filter((a) => !excluded.has(a.name));
}
