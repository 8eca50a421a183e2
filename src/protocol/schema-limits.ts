/**
 * Size limits of the JSON Schemas a tenant sends (`response_format.schema`, function
 * `parameters`) and that MCP servers declare. A schema is compiled into a validator on the main
 * thread, and compiling costs time and memory that grow with the schema (a 2,000-property schema
 * took 2.2 s; 100k properties overflowed the stack), so the walk below bounds what is compiled:
 * the number of JSON values, the nesting depth, and every pattern (see schema-pattern.ts).
 * The numbers are measured in bench/hostile-bodies.ts and documented in the README.
 */
import { invalid } from './errors.js';
import {
  MAX_PATTERN_LENGTH,
  UnsupportedPatternError,
  compilePattern,
  estimatePatternSize,
} from './schema-pattern.js';

/** JSON values (objects, arrays, strings, numbers, …) one request's schemas may hold in total. */
export const MAX_SCHEMA_NODES = 400;
/** Nesting depth of a schema, in JSON levels. */
export const MAX_SCHEMA_DEPTH = 32;
/** Patterns (`pattern` and `patternProperties` keys) one request's schemas may hold in total. */
export const MAX_SCHEMA_PATTERNS = 40;
/** Estimated RE2 program size of all the patterns of one request (schema-pattern.ts). */
export const MAX_SCHEMA_PATTERN_SIZE = 2000;

/** Keywords whose value is a schema or a list of schemas. */
const SCHEMA_KEYWORDS = new Set([
  'additionalItems',
  'allOf',
  'anyOf',
  'oneOf',
  'prefixItems',
  'additionalProperties',
  'contains',
  'else',
  'if',
  'items',
  'not',
  'propertyNames',
  'then',
  'unevaluatedItems',
  'unevaluatedProperties',
]);
/** Keywords whose value maps names to schemas. */
const SCHEMA_MAP_KEYWORDS = new Set([
  '$defs',
  'definitions',
  'dependentSchemas',
  'patternProperties',
  'properties',
]);

/** What the schemas of one request have used so far; shared across its schemas. */
export interface SchemaBudget {
  nodes: number;
  patterns: number;
  patternSize: number;
}

export const newSchemaBudget = (): SchemaBudget => ({ nodes: 0, patterns: 0, patternSize: 0 });

const tooLarge = (path: string) =>
  invalid(
    `${path}: the request's schemas are too large (more than ${MAX_SCHEMA_NODES} JSON values in total)`,
  );

const PLAIN_KEY = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;
const child = (path: string, key: string | number) =>
  typeof key === 'number'
    ? `${path}[${key}]`
    : PLAIN_KEY.test(key)
      ? `${path}.${key}`
      : `${path}[${JSON.stringify(key.length > 100 ? `${key.slice(0, 100)}…` : key)}]`;

/**
 * Throws a 400 naming the offending place (`response_format.schema.properties.x.pattern: …`)
 * when the schema exceeds a limit or holds a pattern the linear-time engine cannot run.
 * Iterative, so any depth the JSON parser accepted is safe to walk.
 */
export function checkSchemaLimits(
  schema: unknown,
  path: string,
  budget: SchemaBudget = newSchemaBudget(),
): void {
  const stack: { value: unknown; path: string; depth: number; isSchema: boolean }[] = [
    { value: schema, path, depth: 1, isSchema: true },
  ];
  const checkPattern = (pattern: string, where: string) => {
    if (++budget.patterns > MAX_SCHEMA_PATTERNS) {
      throw invalid(
        `${where}: the request's schemas hold more than ${MAX_SCHEMA_PATTERNS} patterns`,
      );
    }
    // (An over-long pattern is refused by compilePattern below, without being scanned here.)
    if (pattern.length <= MAX_PATTERN_LENGTH) budget.patternSize += estimatePatternSize(pattern);
    if (budget.patternSize > MAX_SCHEMA_PATTERN_SIZE) {
      throw invalid(
        `${where}: the request's patterns are too complex together (their repetitions expand beyond ${MAX_SCHEMA_PATTERN_SIZE} steps)`,
      );
    }
    try {
      compilePattern(pattern);
    } catch (err) {
      if (err instanceof UnsupportedPatternError) throw invalid(`${where}: ${err.message}`);
      throw err;
    }
  };
  while (stack.length > 0) {
    const { value, path: here, depth, isSchema } = stack.pop()!;
    if (++budget.nodes > MAX_SCHEMA_NODES) throw tooLarge(here);
    if (typeof value !== 'object' || value === null) continue;
    if (depth > MAX_SCHEMA_DEPTH) {
      throw invalid(`${here}: schema nested more than ${MAX_SCHEMA_DEPTH} levels deep`);
    }
    // Refused before walking, so a 100k-key object costs no more than its key count.
    const size = Array.isArray(value) ? value.length : Object.keys(value).length;
    if (budget.nodes + size > MAX_SCHEMA_NODES) throw tooLarge(here);
    if (Array.isArray(value)) {
      value.forEach((item, i) =>
        stack.push({ value: item, path: child(here, i), depth: depth + 1, isSchema }),
      );
      continue;
    }
    for (const [key, item] of Object.entries(value)) {
      const at = child(here, key);
      if (!isSchema) {
        // Data inside a schema (`const`, `enum`, `default`, `examples`, annotations): counted only.
        stack.push({ value: item, path: at, depth: depth + 1, isSchema: false });
      } else if (key === 'pattern' && typeof item === 'string') {
        checkPattern(item, at);
      } else if (SCHEMA_MAP_KEYWORDS.has(key) && typeof item === 'object' && item !== null) {
        if (budget.nodes + Object.keys(item).length > MAX_SCHEMA_NODES) throw tooLarge(at);
        budget.nodes++;
        for (const [name, sub] of Object.entries(item)) {
          const subPath = child(at, name);
          if (key === 'patternProperties') checkPattern(name, subPath);
          stack.push({ value: sub, path: subPath, depth: depth + 2, isSchema: true });
        }
      } else if (SCHEMA_KEYWORDS.has(key)) {
        stack.push({ value: item, path: at, depth: depth + 1, isSchema: true });
      } else {
        stack.push({ value: item, path: at, depth: depth + 1, isSchema: false });
      }
    }
  }
}
