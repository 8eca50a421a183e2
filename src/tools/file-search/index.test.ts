import { describe, expect, it } from 'vitest';
import { createConfiguredTools } from '../registry.js';

describe('tools.file_search settings', () => {
  it('accepts {} and false, and names a wrong setting', () => {
    expect(() => createConfiguredTools({ max_rounds: 10, file_search: {} })).not.toThrow();
    expect(() => createConfiguredTools({ max_rounds: 10, file_search: false })).not.toThrow();
    expect(() => createConfiguredTools({ max_rounds: 10, file_search: { top_k: 0 } })).toThrow(
      /config\.tools\.file_search\.top_k: /,
    );
    expect(() => createConfiguredTools({ max_rounds: 10, file_search: { topk: 3 } })).toThrow(
      /config\.tools\.file_search\.topk: unknown field/,
    );
  });
});
