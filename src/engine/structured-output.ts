import { Ajv, type ValidateFunction } from 'ajv';
import { invalid } from '../protocol/errors.js';
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

const ajv = new Ajv({ allErrors: false, strict: false, validateFormats: false });

/**
 * Compiles a `response_format` schema once per request. A schema that cannot be compiled is a
 * client error (400 naming the field) before anything runs.
 */
export function compileResponseSchema(
  schema: JsonObject,
  path = 'response_format.schema',
): ValidateFunction {
  try {
    return ajv.compile(stripIgnored(schema) as object);
  } catch (err) {
    throw invalid(`${path}: not a JSON Schema this server can enforce (${(err as Error).message})`);
  }
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
