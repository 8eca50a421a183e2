import { describe, expect, it } from 'vitest';
import { AgentRegistry } from '../../src/agents/registry.js';
import { ModelRegistry } from '../../src/models/registry.js';
import type { ModelEntry } from '../../src/models/types.js';

/** A real model registry (backends are built, nothing is called). */
const models = new ModelRegistry([
  {
    name: 'gemini-*',
    backend: 'openai-compatible',
    base_url: 'http://127.0.0.1:9/v1',
    model: 'upstream',
  } as ModelEntry,
]);
const registry = (entries: unknown[], tools = ['google_search', 'url_context']) =>
  new AgentRegistry({ entries, models, configuredTools: new Set(tools) });

describe('agents: config entries are checked at start-up', () => {
  it.each([
    [
      { name: 'dr', recipe: 'deep-research' },
      /^config: agents\[0\]\.model: required field is missing$/,
    ],
    [
      { name: 'dr', recipe: 'deep-research', model: 'llama-3' },
      /^config: agents\[0\]\.model: 'llama-3' matches no models: entry$/,
    ],
    [
      { name: 'dr', recipe: 'deep-thought', model: 'gemini-3.5-flash' },
      /^config: agents\[0\]\.recipe: .*"deep-research"\|"tool-loop"/,
    ],
    [
      { name: 'dr', recipe: 'deep-research', model: 'gemini-3.5-flash', max_round: 3 },
      /^config: agents\[0\]\.max_round: unknown field$/,
    ],
    [
      { name: 'bot', model: 'gemini-3.5-flash', max_total_tokens: 1000 },
      /^config: agents\[0\]\.max_total_tokens: only the deep-research recipe keeps a token budget/,
    ],
    [
      { name: 'bot', model: 'gemini-3.5-flash', tools: [{ type: 'google_maps' }] },
      /^config: agents\[0\]\.tools\[0\]: built-in tool 'google_maps' is not configured \(server setting tools\.google_maps\)$/,
    ],
    [
      { name: 'bot', model: 'gemini-3.5-flash', tools: [{ type: 'telepathy' }] },
      /^config: agents\[0\]\.tools\[0\]\.type: unknown tool type 'telepathy'$/,
    ],
    [
      {
        name: 'dr',
        recipe: 'deep-research',
        model: 'gemini-3.5-flash',
        tools: [{ type: 'function', name: 'ask' }],
      },
      /^config: agents\[0\]\.tools: the deep-research recipe runs no client functions$/,
    ],
  ])('refuses %j', (entry, message) => {
    expect(() => registry([entry])).toThrow(message);
  });

  it('refuses the deep-research recipe when web search is not configured', () => {
    expect(() =>
      registry([{ name: 'deep-research-*', recipe: 'deep-research', model: 'gemini-x' }], []),
    ).toThrow(
      /^config: agents\[0\] \(deep-research-\*\): the deep-research recipe needs the built-in tool google_search \(server setting tools\.google_search\)$/,
    );
  });

  it("matches names in order (globs allowed) and gives the recipe's default tools that are configured", () => {
    const agents = registry([
      { name: 'deep-research-max-*', recipe: 'deep-research', model: 'gemini-pro' },
      { name: 'deep-research-*', recipe: 'deep-research', model: 'gemini-flash' },
    ]);
    expect(agents.find('deep-research-max-preview-04-2026')?.entry.model).toBe('gemini-pro');
    expect(agents.find('deep-research-preview-04-2026')?.entry.model).toBe('gemini-flash');
    expect(agents.find('antigravity-preview-05-2026')).toBeUndefined();
    // code_execution is not configured here: the recipe goes without it
    expect(agents.find('deep-research-x')?.tools.builtInTools.map((t) => t.type)).toEqual([
      'google_search',
      'url_context',
    ]);
  });
});
