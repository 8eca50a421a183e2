import { describe, expect, it } from 'vitest';
import { mcpSchemaValidator } from './schema-validator.js';

describe('MCP output schemas', () => {
  it('run their patterns in RE2: a catastrophic pattern answers at once', () => {
    const validate = mcpSchemaValidator.getValidator({
      type: 'object',
      properties: { code: { type: 'string', pattern: '^(a+)+$' } },
    });
    // A backtracking engine needs 2^5000 steps for this; the test would never end.
    const bad = validate({ code: `${'a'.repeat(5000)}!` });
    expect(bad.valid).toBe(false);
    expect(bad.errorMessage).toMatch(/^\/code must match pattern/);
    expect(validate({ code: 'aaa' })).toMatchObject({ valid: true, data: { code: 'aaa' } });
  });

  it('skip the check of a schema they will not compile, instead of failing the tool', () => {
    const validate = mcpSchemaValidator.getValidator({
      type: 'object',
      properties: { x: { type: 'string', pattern: '(a)\\1' } },
    });
    expect(validate({ x: 'ab' })).toMatchObject({ valid: true });
  });

  it('share no $id registry between servers', () => {
    const schema = { $id: 'https://mcp.example/out.json', type: 'integer' } as const;
    expect(mcpSchemaValidator.getValidator(schema)(1).valid).toBe(true);
    expect(mcpSchemaValidator.getValidator({ ...schema, type: 'string' })('x').valid).toBe(true);
  });
});
