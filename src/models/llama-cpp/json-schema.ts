/**
 * Converts a JSON Schema (draft 7 / 2020-12 subset, as produced by zod and the
 * AI SDK) into the subset node-llama-cpp can turn into a GBNF grammar
 * (`GbnfJsonSchema`).
 *
 * What the grammar generator supports: type (incl. type arrays), const, enum,
 * oneOf, object (properties, additionalProperties, min/maxProperties), array
 * (items, prefixItems, min/maxItems), string (min/maxLength, format
 * date/time/date-time), $ref into $defs, description.
 *
 * Everything else is approximated:
 * - anyOf → oneOf; allOf → merged (shallow);
 * - `definitions` / `#/definitions/x` refs → `$defs` / `#/$defs/x`;
 * - `{}` / `true` (any value) → any JSON value;
 * - numeric bounds, patterns and other string formats are dropped (the value
 *   still has the right JSON type, but may fall outside the bound);
 * - `required` is ignored by the grammar generator: every listed property is
 *   always generated, which is still valid against the schema.
 * - `additionalProperties` defaults to `false` (JSON Schema says `true`):
 *   an unconstrained object would let the model generate arbitrary keys; an
 *   object with no `properties` at all keeps `additionalProperties: true`.
 *
 * Tenant schemas reach this converter only after the request's schema limits
 * (protocol/schema-limits.ts: size, depth, patterns in RE2), and no pattern is
 * ever evaluated here, so a hostile schema cannot make it slow.
 */
import type { JSONSchema7, JSONSchema7Definition } from '@ai-sdk/provider';
import type { GbnfJsonSchema } from 'node-llama-cpp';

type Gbnf = Record<string, unknown>;
type Json = Record<string, unknown>;

const SIMPLE_TYPES = new Set(['string', 'number', 'integer', 'boolean', 'null']);
const STRING_FORMATS = new Set(['date-time', 'time', 'date']);

/** Any JSON value. */
export function anyJsonSchema(): Gbnf {
  return {
    oneOf: [
      { type: ['string', 'number', 'boolean', 'null'] },
      { type: 'object', additionalProperties: true },
      { type: 'array' },
    ],
  };
}

export function toGbnfJsonSchema(schema: JSONSchema7Definition | undefined): GbnfJsonSchema {
  if (schema === undefined) return anyJsonSchema() as unknown as GbnfJsonSchema;
  const root = convert(schema, 0);
  const defsSource =
    typeof schema === 'object'
      ? ((schema as Json).$defs ?? (schema as Json).definitions)
      : undefined;
  if (defsSource && typeof defsSource === 'object') {
    const defs: Record<string, Gbnf> = {};
    for (const [name, def] of Object.entries(defsSource as Record<string, JSONSchema7Definition>)) {
      defs[name] = convert(def, 0);
    }
    // $defs are only honoured on oneOf / object / array / $ref nodes.
    if ('oneOf' in root || root.type === 'object' || root.type === 'array' || '$ref' in root) {
      root.$defs = { ...defs, ...((root.$defs as Record<string, Gbnf> | undefined) ?? {}) };
    } else {
      return { oneOf: [root], $defs: defs } as unknown as GbnfJsonSchema;
    }
  }
  return root as unknown as GbnfJsonSchema;
}

function convert(def: JSONSchema7Definition, depth: number): Gbnf {
  if (depth > 64) return anyJsonSchema();
  if (def === true) return anyJsonSchema();
  if (def === false) return { type: 'null' };
  const s = def as JSONSchema7 & Json;
  const out: Gbnf = {};
  if (typeof s.description === 'string') out.description = s.description;
  const withDesc = (g: Gbnf): Gbnf =>
    out.description !== undefined && g.description === undefined
      ? { ...g, description: out.description }
      : g;

  if (typeof s.$ref === 'string') {
    const ref = s.$ref.replace(/^#\/definitions\//, '#/$defs/');
    return withDesc({ $ref: ref });
  }
  if (s.const !== undefined) {
    if (isLiteral(s.const)) return withDesc({ const: s.const });
    return anyJsonSchema();
  }
  if (Array.isArray(s.enum)) {
    const literals = s.enum.filter(isLiteral);
    if (literals.length > 0) return withDesc({ enum: literals });
  }
  if (Array.isArray(s.allOf) && s.allOf.length > 0) {
    const merged: Json = { ...s };
    delete merged.allOf;
    for (const part of s.allOf) {
      if (typeof part !== 'object') continue;
      mergeInto(merged, part as Json);
    }
    return convert(merged as JSONSchema7, depth + 1);
  }
  const alternatives = (s.oneOf ?? s.anyOf) as JSONSchema7Definition[] | undefined;
  if (Array.isArray(alternatives) && alternatives.length > 0) {
    // Sibling keywords (e.g. `type: object` + `anyOf` of required sets) are
    // merged into each alternative.
    const base: Json = { ...s };
    delete base.oneOf;
    delete base.anyOf;
    delete base.description;
    const hasBase = Object.keys(base).some(
      (k) => k !== '$schema' && k !== '$defs' && k !== 'definitions',
    );
    const alts = alternatives.map((alt) => {
      if (!hasBase || typeof alt !== 'object') return convert(alt, depth + 1);
      return convert(mergeInto({ ...base }, alt as Json) as JSONSchema7, depth + 1);
    });
    return withDesc(alts.length === 1 ? (alts[0] as Gbnf) : { oneOf: alts });
  }

  let types: string[] | undefined;
  if (typeof s.type === 'string') types = [s.type];
  else if (Array.isArray(s.type)) types = s.type.slice();
  if (types === undefined) {
    // Infer the type from the keywords used.
    if (s.properties !== undefined || s.additionalProperties !== undefined) types = ['object'];
    else if (s.items !== undefined || (s as Json).prefixItems !== undefined) types = ['array'];
    else return withDesc(anyJsonSchema());
  }
  // OpenAPI-style nullable
  if ((s as Json).nullable === true && !types.includes('null')) types.push('null');

  const branches: Gbnf[] = [];
  const simple: string[] = [];
  for (const t of types) {
    if (t === 'object') branches.push(objectSchema(s, depth));
    else if (t === 'array') branches.push(arraySchema(s, depth));
    else if (t === 'string' && (hasStringConstraints(s) || types.length > 1))
      branches.push(stringSchema(s));
    else if (SIMPLE_TYPES.has(t)) simple.push(t);
  }
  if (simple.length === 1 && simple[0] === 'string' && branches.length === 0)
    return withDesc(stringSchema(s));
  if (simple.length > 0) branches.push({ type: simple.length === 1 ? simple[0] : simple });
  if (branches.length === 0) return withDesc(anyJsonSchema());
  if (branches.length === 1) return withDesc(branches[0] as Gbnf);
  return withDesc({ oneOf: branches });
}

function hasStringConstraints(s: JSONSchema7): boolean {
  return (
    s.minLength !== undefined ||
    s.maxLength !== undefined ||
    (typeof s.format === 'string' && STRING_FORMATS.has(s.format))
  );
}

function stringSchema(s: JSONSchema7): Gbnf {
  if (typeof s.format === 'string' && STRING_FORMATS.has(s.format))
    return { type: 'string', format: s.format };
  const out: Gbnf = { type: 'string' };
  if (typeof s.minLength === 'number') out.minLength = s.minLength;
  if (typeof s.maxLength === 'number') out.maxLength = s.maxLength;
  return out;
}

function objectSchema(s: JSONSchema7, depth: number): Gbnf {
  const out: Gbnf = { type: 'object' };
  const props = s.properties;
  const hasProps = props !== undefined && Object.keys(props).length > 0;
  if (hasProps) {
    const converted: Record<string, Gbnf> = {};
    for (const [k, v] of Object.entries(props)) converted[k] = convert(v, depth + 1);
    out.properties = converted;
    out.required = Object.keys(converted);
  }
  const ap = s.additionalProperties;
  if (ap === true || (ap === undefined && !hasProps)) out.additionalProperties = true;
  else if (ap !== undefined && ap !== false) out.additionalProperties = convert(ap, depth + 1);
  if (typeof s.minProperties === 'number') out.minProperties = s.minProperties;
  if (typeof s.maxProperties === 'number') {
    const n = hasProps ? Object.keys(props).length : 0;
    out.maxProperties = Math.max(s.maxProperties, n);
  }
  return out;
}

function arraySchema(s: JSONSchema7, depth: number): Gbnf {
  const out: Gbnf = { type: 'array' };
  const prefixItems = (s as Json).prefixItems as JSONSchema7Definition[] | undefined;
  if (Array.isArray(prefixItems)) {
    out.prefixItems = prefixItems.map((p) => convert(p, depth + 1));
    if (s.items !== undefined && !Array.isArray(s.items)) out.items = convert(s.items, depth + 1);
  } else if (Array.isArray(s.items)) {
    // draft-7 tuple form
    out.prefixItems = s.items.map((p) => convert(p, depth + 1));
    if (s.additionalItems !== undefined && s.additionalItems !== false)
      out.items = convert(s.additionalItems, depth + 1);
    else out.maxItems = s.items.length;
  } else if (s.items !== undefined) {
    out.items = convert(s.items, depth + 1);
  }
  if (typeof s.minItems === 'number') out.minItems = s.minItems;
  if (typeof s.maxItems === 'number') {
    const n = Array.isArray(out.prefixItems) ? out.prefixItems.length : 0;
    out.maxItems = Math.max(s.maxItems, n);
  }
  return out;
}

function isLiteral(v: unknown): v is string | number | boolean | null {
  return v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
}

function mergeInto(target: Json, source: Json): Json {
  for (const [k, v] of Object.entries(source)) {
    if (k === 'properties' && typeof v === 'object' && v !== null) {
      target.properties = { ...((target.properties as Json | undefined) ?? {}), ...(v as Json) };
    } else if (k === 'required' && Array.isArray(v)) {
      const prev = Array.isArray(target.required) ? (target.required as string[]) : [];
      target.required = [...new Set([...prev, ...(v as string[])])];
    } else if (target[k] === undefined) {
      target[k] = v;
    }
  }
  return target;
}
