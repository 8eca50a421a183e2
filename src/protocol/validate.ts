import type { z } from 'zod';
import { ApiError, invalid } from './errors.js';
import {
  BUILT_IN_TOOL_TYPES,
  CONTENT_TYPES,
  LABEL_KEY_RULE,
  RESPONSE_FORMAT_TYPES,
  STEP_TYPES,
  contentSchemas,
  createBodySchema,
  functionToolSchema,
  stepSchemas,
  textResponseFormatSchema,
  type BuiltInToolType,
  type ContentType,
  type CreateBody,
  type FunctionTool,
  type InputStepType,
} from './schemas.js';
import { checkSchemaLimits, newSchemaBudget, type SchemaBudget } from './schema-limits.js';
import type { Content, JsonObject, Step } from './types.js';

/** A create request after validation and normalisation. */
export interface CreateRequest extends Omit<CreateBody, 'input' | 'tools' | 'response_format'> {
  inputSteps: Step[];
  functionTools: FunctionTool[];
  builtInTools: { index: number; type: BuiltInToolType; config: JsonObject }[];
  responseFormat?: { mimeType: 'text/plain' | 'application/json'; schema?: JsonObject };
  /** The body as sent, for the `include_input`/config echo on get. */
  raw: JsonObject;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  return typeof value;
}

/** Deepest nesting of arrays/objects a request may use (JSON.stringify of deeper values overflows the stack). */
export const MAX_DEPTH = 100;
/**
 * Most JSON values (arrays, objects and their items) in one request body. Parsing, validating
 * and storing a body costs time on the event loop in proportion to its values, not its bytes
 * (a 30 MB string is one value); 100,000 keeps the worst accepted body's work in the tens of
 * milliseconds (bench/hostile-bodies.ts).
 */
export const MAX_BODY_VALUES = 100_000;
/** Most items in `input` (steps, or content items), and content items in one step. */
export const MAX_INPUT_ITEMS = 10_000;
/** Most entries in `tools`. */
export const MAX_TOOLS = 512;
/** Most labels (as on Google Cloud resources). */
export const MAX_LABELS = 64;
/** Echoed keys and values are cut to this many characters so an error message stays small. */
const ECHO_LIMIT = 100;

/** Cuts a client-supplied string before it is echoed in a message. */
export function clip(value: string): string {
  return value.length > ECHO_LIMIT ? `${value.slice(0, ECHO_LIMIT)}…` : value;
}

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/**
 * Like `formatPath`, but a key that is empty or not identifier-like is written as `["key"]`,
 * so a message always starts with a usable path (`[""]: unknown field`, `labels["a b"]: …`).
 */
export function jsonPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') {
      out += `[${part}]`;
      continue;
    }
    const key = clip(String(part));
    if (PLAIN_KEY.test(key)) out += out ? `.${key}` : key;
    else out += `[${JSON.stringify(key)}]`;
  }
  return out;
}

const own = (obj: object, key: PropertyKey) => Object.prototype.hasOwnProperty.call(obj, key);

/** The value at `path` inside `root`, or `missing` when the last key is absent from its parent. */
function valueAt(
  root: unknown,
  path: ReadonlyArray<PropertyKey>,
): { missing: boolean; value?: unknown } {
  let current: unknown = root;
  for (const part of path) {
    if (typeof current !== 'object' || current === null || !own(current, part))
      return { missing: true };
    current = (current as Record<PropertyKey, unknown>)[part];
  }
  return { missing: current === undefined, value: current };
}

/** For a union that failed, the branch whose first issue got furthest into the value (it matched the shape best). */
function bestUnionBranch(issue: z.core.$ZodIssueInvalidUnion): z.core.$ZodIssue | undefined {
  let best: z.core.$ZodIssue | undefined;
  for (const branch of issue.errors) {
    const first = branch[0];
    if (first && first.path.length > 0 && (!best || first.path.length > best.path.length))
      best = first;
  }
  return best;
}

function issueMessage(
  issue: z.core.$ZodIssue,
  prefix: ReadonlyArray<PropertyKey>,
  root: unknown,
): string {
  const path = [...prefix, ...issue.path];
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    return `${jsonPath([...path, key])}: unknown field`;
  }
  const where = jsonPath(path) || 'body';
  if (issue.code === 'invalid_type') {
    const found = valueAt(root, issue.path);
    if (found.missing) return `${where}: required field is missing`;
    return `${where}: expected ${issue.expected}, got ${describe(found.value)}`;
  }
  if (issue.code === 'invalid_key') {
    // A record key failed its own check: the key's message says what a key must look like.
    const inner = issue.issues[0];
    return `${where}: ${inner?.message ?? 'invalid key'}`;
  }
  if (issue.code === 'invalid_union') {
    // A value that matched one member's shape and failed inside it: report that member's issue.
    const deep = bestUnionBranch(issue);
    if (deep) {
      const inner = valueAt(root, issue.path).value;
      return issueMessage(deep, path, inner);
    }
    if (issue.message !== 'Invalid input') return `${where}: ${issue.message}`;
    const options = issue.errors
      .map((branch) => branch[0])
      .filter((first): first is z.core.$ZodIssue => first !== undefined)
      .map((first) =>
        first.code === 'invalid_type'
          ? `expected ${first.expected}`
          : first.message.replace(/^Invalid (input|option): /, ''),
      );
    const got = describe(valueAt(root, issue.path).value);
    return `${where}: ${options.length > 0 ? options.join(', or ') : 'invalid value'} (got ${got})`;
  }
  const text = issue.message.replace(/^Invalid (input|option): /, '');
  return `${where}: ${text.charAt(0).toLowerCase()}${text.slice(1)}`;
}

/** Parses with a zod schema, throwing a 400 that names the first offending field. */
export function parseWith<T>(
  schema: z.ZodType<T>,
  value: unknown,
  prefix: ReadonlyArray<PropertyKey> = [],
): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  throw invalid(issueMessage(issue, prefix, value));
}

/**
 * Rejects values nested deeper than MAX_DEPTH (checked without recursion, so any depth the JSON
 * parser accepted is safe here), naming where the nesting starts.
 */
function checkDepth(body: unknown): void {
  const stack: { value: unknown; depth: number; path: PropertyKey[] }[] = [
    { value: body, depth: 0, path: [] },
  ];
  while (stack.length > 0) {
    const { value, depth, path } = stack.pop()!;
    if (typeof value !== 'object' || value === null) continue;
    if (depth >= MAX_DEPTH) {
      throw invalid(
        `${jsonPath(path.slice(0, 4)) || 'body'}: nested more than ${MAX_DEPTH} levels deep`,
      );
    }
    const short = path.length < 4;
    if (Array.isArray(value)) {
      value.forEach((item, i) =>
        stack.push({ value: item, depth: depth + 1, path: short ? [...path, i] : path }),
      );
    } else {
      for (const key of Object.keys(value)) {
        stack.push({
          value: (value as Record<string, unknown>)[key],
          depth: depth + 1,
          path: short ? [...path, key] : path,
        });
      }
    }
  }
}

/** Count limits, checked before any schema work so an oversized list costs nothing to refuse. */
function checkCounts(raw: Record<string, unknown>): void {
  const tooMany = (path: ReadonlyArray<PropertyKey>, count: number, max: number, what: string) => {
    if (count > max) throw invalid(`${jsonPath(path)}: more than ${max} ${what} (got ${count})`);
  };
  if (Array.isArray(raw.input)) {
    tooMany(['input'], raw.input.length, MAX_INPUT_ITEMS, 'items');
    raw.input.forEach((step, i) => {
      if (typeof step !== 'object' || step === null) return;
      for (const key of ['content', 'summary', 'result'] as const) {
        const list = (step as Record<string, unknown>)[key];
        if (Array.isArray(list)) tooMany(['input', i, key], list.length, MAX_INPUT_ITEMS, 'items');
      }
    });
  }
  if (Array.isArray(raw.tools)) tooMany(['tools'], raw.tools.length, MAX_TOOLS, 'tools');
  if (typeof raw.labels === 'object' && raw.labels !== null) {
    tooMany(['labels'], Object.keys(raw.labels).length, MAX_LABELS, 'labels');
  }
}

function requireObject(value: unknown, path: ReadonlyArray<PropertyKey>): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(`${jsonPath(path) || 'body'}: expected object, got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}

function requireType(obj: Record<string, unknown>, path: ReadonlyArray<PropertyKey>): string {
  if (!('type' in obj)) throw invalid(`${jsonPath([...path, 'type'])}: missing`);
  if (typeof obj.type !== 'string') {
    throw invalid(`${jsonPath([...path, 'type'])}: expected string, got ${describe(obj.type)}`);
  }
  return obj.type;
}

export function validateContent(value: unknown, path: ReadonlyArray<PropertyKey>): Content {
  const obj = requireObject(value, path);
  const type = requireType(obj, path);
  const schema = own(contentSchemas, type) ? contentSchemas[type as ContentType] : undefined;
  if (!schema) {
    throw invalid(
      `${jsonPath([...path, 'type'])}: unknown content type '${clip(type)}' (expected one of ${CONTENT_TYPES.join(', ')})`,
    );
  }
  const content = parseWith(schema, obj, path) as Content;
  if (content.type !== 'text') {
    const hasData = content.data !== undefined;
    const hasUri = content.uri !== undefined;
    if (hasData === hasUri)
      throw invalid(`${jsonPath(path)}: exactly one of data or uri is required`);
    if (hasUri && !/^(https?:\/\/|files\/)/.test(content.uri!)) {
      throw invalid(
        `${jsonPath([...path, 'uri'])}: only http(s) URLs and Files API URIs are supported`,
      );
    }
  }
  return content;
}

function validateContentList(value: unknown, path: ReadonlyArray<PropertyKey>): Content[] {
  if (!Array.isArray(value))
    throw invalid(`${jsonPath(path)}: expected array, got ${describe(value)}`);
  return value.map((item, i) => validateContent(item, [...path, i]));
}

export function validateStep(value: unknown, path: ReadonlyArray<PropertyKey>): Step {
  const obj = requireObject(value, path);
  if (!('type' in obj) && 'role' in obj) {
    throw invalid(
      `${jsonPath([...path, 'type'])}: missing (role-based turns are not part of revision 2026-05-20)`,
    );
  }
  const type = requireType(obj, path);
  const schema = own(stepSchemas, type) ? stepSchemas[type as InputStepType] : undefined;
  if (!schema) throw invalid(`${jsonPath([...path, 'type'])}: unknown step type '${clip(type)}'`);
  const step = parseWith(schema, obj, path) as Step & Record<string, unknown>;
  for (const key of ['content', 'summary'] as const) {
    if (step[key] !== undefined) step[key] = validateContentList(step[key], [...path, key]);
  }
  if (step.type === 'function_result' && Array.isArray(step.result)) {
    step.result = validateContentList(step.result, [...path, 'result']) as never;
  }
  return step;
}

const isContentType = (t: unknown) =>
  typeof t === 'string' && (CONTENT_TYPES as readonly string[]).includes(t);
const isStepType = (t: unknown) =>
  typeof t === 'string' && (STEP_TYPES as readonly string[]).includes(t);

/** §2.2: string | Content | Content[] | Step[] → steps. */
export function normalizeInput(input: unknown): Step[] {
  if (typeof input === 'string') {
    if (input.length === 0) throw invalid('input: must not be empty');
    return [{ type: 'user_input', content: [{ type: 'text', text: input }] }];
  }
  if (Array.isArray(input)) {
    if (input.length === 0) throw invalid('input: must not be an empty array');
    const first = input[0] as { type?: unknown } | null;
    const firstType = typeof first === 'object' && first !== null ? first.type : undefined;
    const firstIsContent = isContentType(firstType);
    // When the first item is of no known kind, validating it below names the real problem.
    const firstKnown = firstIsContent || isStepType(firstType);
    input.forEach((item, i) => {
      const type =
        typeof item === 'object' && item !== null ? (item as { type?: unknown }).type : undefined;
      if (firstKnown && i > 0 && (isContentType(type) || isStepType(type))) {
        if (isContentType(type) !== firstIsContent) {
          throw invalid(`input[${i}]: content items and steps cannot be mixed in one input array`);
        }
      }
    });
    if (firstIsContent) {
      return [
        { type: 'user_input', content: input.map((c, i) => validateContent(c, ['input', i])) },
      ];
    }
    return input.map((s, i) => validateStep(s, ['input', i]));
  }
  if (typeof input === 'object' && input !== null) {
    const type = (input as { type?: unknown }).type;
    if (isStepType(type)) return [validateStep(input, ['input'])];
    return [{ type: 'user_input', content: [validateContent(input, ['input'])] }];
  }
  throw invalid(`input: expected a string, a content object or an array, got ${describe(input)}`);
}

/**
 * `budget` is given when the server compiles function `parameters` (tool_choice `validated`):
 * then they share the request's schema limits; otherwise they only pass to the model.
 */
function validateTools(
  tools: unknown[],
  budget: SchemaBudget | undefined,
): Pick<CreateRequest, 'functionTools' | 'builtInTools'> {
  const functionTools: FunctionTool[] = [];
  const builtInTools: CreateRequest['builtInTools'] = [];
  const names = new Set<string>();
  tools.forEach((tool, i) => {
    const obj = requireObject(tool, ['tools', i]);
    const type = requireType(obj, ['tools', i]);
    if (type === 'function') {
      const fn = parseWith(functionToolSchema, obj, ['tools', i]);
      if (budget && fn.parameters !== undefined) {
        checkSchemaLimits(fn.parameters, jsonPath(['tools', i, 'parameters']), budget);
      }
      if (names.has(fn.name))
        throw invalid(`tools[${i}].name: duplicate function name '${fn.name}'`);
      names.add(fn.name);
      functionTools.push(fn);
    } else if ((BUILT_IN_TOOL_TYPES as readonly string[]).includes(type)) {
      if (type === 'mcp_server' && typeof obj.name === 'string' && obj.name.includes('-')) {
        throw invalid(`tools[${i}].name: MCP server names must not contain '-'`);
      }
      builtInTools.push({ index: i, type: type as BuiltInToolType, config: obj as JsonObject });
    } else {
      throw invalid(`tools[${i}].type: unknown tool type '${clip(type)}'`);
    }
  });
  return { functionTools, builtInTools };
}

function validateResponseFormat(
  value: unknown,
  budget: SchemaBudget,
): CreateRequest['responseFormat'] {
  const entries = Array.isArray(value) ? value : [value];
  let result: CreateRequest['responseFormat'];
  entries.forEach((entry, i) => {
    const path = Array.isArray(value) ? ['response_format', i] : ['response_format'];
    const obj = requireObject(entry, path);
    const type = obj.type;
    if (type === 'text') {
      const fmt = parseWith(textResponseFormatSchema, obj, path);
      if (fmt.schema && fmt.mime_type !== 'application/json') {
        throw invalid(`${jsonPath([...path, 'schema'])}: requires mime_type 'application/json'`);
      }
      if (fmt.schema) checkSchemaLimits(fmt.schema, jsonPath([...path, 'schema']), budget);
      result = {
        mimeType: fmt.mime_type ?? 'text/plain',
        schema: fmt.schema as JsonObject | undefined,
      };
    } else if (
      typeof type === 'string' &&
      (RESPONSE_FORMAT_TYPES as readonly string[]).includes(type)
    ) {
      throw invalid(
        `${jsonPath([...path, 'type'])}: output modality '${clip(type)}' is not supported by the configured model backends`,
      );
    } else {
      // A bare JSON schema (the pre-May-2026 form) means JSON text output with that schema.
      checkSchemaLimits(obj, jsonPath(path), budget);
      result = { mimeType: 'application/json', schema: obj as JsonObject };
    }
  });
  return result;
}

/** Validates and normalises a create body (§2). Throws ApiError(400) naming the field. */
export function validateCreateBody(body: unknown): CreateRequest {
  if (body === undefined || body === null) throw invalid('body: a JSON object is required');
  const raw = requireObject(body, []);
  checkDepth(raw);
  checkCounts(raw);
  const parsed = parseWith(createBodySchema, raw);
  if (typeof raw.labels === 'object' && raw.labels !== null && own(raw.labels, '__proto__')) {
    throw invalid(`labels.__proto__: ${LABEL_KEY_RULE}`);
  }
  if ((parsed.model === undefined) === (parsed.agent === undefined)) {
    throw invalid('model: exactly one of model or agent is required');
  }
  if (parsed.agent !== undefined && parsed.generation_config !== undefined) {
    throw invalid('generation_config: not allowed with agent (use agent_config)');
  }
  if (parsed.model !== undefined && parsed.agent_config !== undefined) {
    throw invalid('agent_config: only allowed with agent');
  }
  if (parsed.background === true && parsed.store === false) {
    throw invalid('background: requires store=true');
  }
  if (parsed.input === undefined && parsed.continuation_token === undefined) {
    throw invalid('input: required field is missing');
  }
  const inputSteps = parsed.input === undefined ? [] : normalizeInput(parsed.input);
  // The schemas the server compiles share one budget (schema-limits.ts).
  const budget = newSchemaBudget();
  const choice = parsed.generation_config?.tool_choice;
  const validated =
    (typeof choice === 'string' ? choice : choice?.allowed_tools.mode) === 'validated';
  const tools = validateTools(parsed.tools ?? [], validated ? budget : undefined);
  let responseFormat =
    parsed.response_format === undefined
      ? undefined
      : validateResponseFormat(parsed.response_format, budget);
  if (!responseFormat && parsed.response_mime_type !== undefined) {
    if (!['text/plain', 'application/json'].includes(parsed.response_mime_type)) {
      throw invalid(`response_mime_type: unsupported '${clip(parsed.response_mime_type)}'`);
    }
    responseFormat = { mimeType: parsed.response_mime_type as 'text/plain' | 'application/json' };
  }
  // Deprecated modality list (§2.1): only text output can be produced, like `response_format`.
  parsed.response_modalities?.forEach((modality, i) => {
    if (modality !== 'text') {
      throw invalid(
        `response_modalities[${i}]: output modality '${modality}' is not supported by the configured model backends`,
      );
    }
  });
  const { input: _i, tools: _t, response_format: _r, ...rest } = parsed;
  return { ...rest, inputSteps, ...tools, responseFormat, raw: raw as JsonObject };
}

export { ApiError };
