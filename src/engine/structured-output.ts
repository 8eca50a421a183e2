import type { ValidateFunction } from 'ajv';
import { LRUCache } from 'lru-cache';
import { createHash } from 'node:crypto';
import { compileTenantSchema } from '../protocol/schema-compile.js';
import type { JsonObject, JsonValue, Step } from '../protocol/types.js';

/** Keywords the API accepts but does not enforce (spec §2.4). */
const IGNORED_KEYWORDS = new Set([
  'minLength',
  'maxLength',
  'minProperties',
  'maxProperties',
  'uniqueItems',
  'contains',
  'minContains',
  'maxContains',
]);

function stripIgnored(schema: JsonValue): JsonValue {
  if (Array.isArray(schema)) return schema.map(stripIgnored);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(schema)) {
    if (IGNORED_KEYWORDS.has(key)) continue;
    // Property names are data, not keywords: keep them all.
    out[key] =
      key === 'properties' && value && typeof value === 'object' && !Array.isArray(value)
        ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, stripIgnored(v)]))
        : stripIgnored(value);
  }
  return out;
}

/**
 * Compiled validators, per project and keyed by a hash of the schema, so a repeated schema costs
 * one lookup and a tenant never gets (or learns the timing of) another tenant's entry. Bounded
 * by count and by the schemas' JSON size, so memory stays bounded however many distinct schemas
 * arrive; an evicted validator is freed with its own Ajv instance (see schema-compile.ts).
 */
export const MAX_CACHED_VALIDATORS = 1000;
const validators = new LRUCache<string, ValidateFunction>({
  max: MAX_CACHED_VALIDATORS,
  // A compiled validator takes ~25 times its schema's JSON (a 400-value schema: 5 KB → 127 KB),
  // so 2 MB of schema text bound the cache to about 50 MB.
  maxSize: 2 * 1024 * 1024,
  sizeCalculation: (_v, key) => Number(key.slice(0, key.indexOf(':'))) || 1,
});

/**
 * Compiles a `response_format` schema (or a function's `parameters`) for `project`. A schema
 * that cannot be compiled is a client error (400 naming the field) before anything runs.
 */
export function compileResponseSchema(
  project: string,
  schema: JsonObject,
  path = 'response_format.schema',
): ValidateFunction {
  const stripped = stripIgnored(schema) as JsonObject;
  const text = JSON.stringify(stripped);
  const hash = createHash('sha256').update(project).update('\0').update(text).digest('base64url');
  // The size prefix feeds the LRU's byte bound.
  const key = `${text.length}:${hash}`;
  let validate = validators.get(key);
  if (!validate) {
    validate = compileTenantSchema(stripped, path);
    validators.set(key, validate);
  }
  return validate;
}

/** How many compiled validators are cached (all projects). */
export function cachedValidatorCount(): number {
  return validators.size;
}

export class OutputFormatError extends Error {
  readonly code = 'invalid_model_output';
}

/** The final answer text: the text of the last model_output step. */
export function finalOutputText(steps: Step[]): string {
  const output = [...steps].reverse().find((s) => s.type === 'model_output');
  if (output?.type !== 'model_output') return '';
  return (output.content ?? []).map((c) => (c.type === 'text' ? c.text : '')).join('');
}

/** Checks the answer is JSON and, when a schema was given, that it satisfies it. */
export function checkStructuredOutput(steps: Step[], validate?: ValidateFunction): void {
  const text = finalOutputText(steps);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new OutputFormatError(
      `response_format: the model output is not valid JSON: ${JSON.stringify(text.slice(0, 200))}`,
    );
  }
  if (validate && !validate(value)) {
    const e = validate.errors?.[0];
    const where = e?.instancePath || '(root)';
    throw new OutputFormatError(
      `response_format: the model output does not match the schema: ${where} ${e?.message ?? ''}`.trim(),
    );
  }
}
