/**
 * Compiles a tenant's JSON Schema into a validator without sharing anything between tenants.
 *
 * Each compile gets its own Ajv instance, so no schema registry outlives it: a `$id` used by one
 * request can neither collide with nor be `$ref`-erenced by another, and a validator is freed as
 * soon as nobody holds it (callers cache validators themselves, bounded). A fresh instance costs
 * about a millisecond; the one shared instance checks schemas against the draft-07 meta-schema
 * only (a fixed, trusted schema) and never registers a tenant schema. Patterns run in RE2.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { invalid } from './errors.js';
import { checkSchemaLimits, type SchemaBudget } from './schema-limits.js';
import { re2Engine } from './schema-pattern.js';

const OPTIONS = {
  strict: false,
  allErrors: false,
  validateFormats: false,
  // Ajv's code optimiser is superlinear in the schema size (200 properties: 190 ms with, 40 without).
  code: { optimize: false, regExp: re2Engine },
  // Long `required` / `enum` lists become a loop rather than one comparison each.
  loopRequired: 16,
  loopEnum: 16,
} as const;

const metaValidator = new Ajv({ ...OPTIONS, addUsedSchema: false });
// Compiles the meta-schema now, at start-up, rather than inside the first tenant's request.
metaValidator.validateSchema({});

/**
 * Checks the limits (see schema-limits.ts), then compiles. Throws a 400 naming `path` when the
 * schema is too large, holds a pattern RE2 cannot run, is not a valid schema, or refers (`$ref`)
 * to anything outside itself.
 */
export function compileTenantSchema(
  schema: object,
  path: string,
  budget?: SchemaBudget,
): ValidateFunction {
  checkSchemaLimits(schema, path, budget);
  let valid: boolean;
  try {
    valid = metaValidator.validateSchema(schema) as boolean;
  } catch (err) {
    // An unknown `$schema` dialect.
    throw invalid(`${path}: not a JSON Schema this server can enforce (${(err as Error).message})`);
  }
  if (!valid) {
    const e = metaValidator.errors?.[0];
    const where = e?.instancePath ? `${path}${e.instancePath.replace(/\//g, '.')}` : path;
    throw invalid(`${where}: not a valid JSON Schema (${e?.message ?? 'invalid'})`);
  }
  try {
    return new Ajv({ ...OPTIONS, validateSchema: false }).compile(schema);
  } catch (err) {
    const missing = (err as { missingRef?: string }).missingRef;
    if (missing !== undefined) {
      throw invalid(
        `${path}: $ref '${missing.slice(0, 200)}' cannot be resolved (a schema may only refer to itself)`,
      );
    }
    throw invalid(`${path}: not a JSON Schema this server can enforce (${(err as Error).message})`);
  }
}
