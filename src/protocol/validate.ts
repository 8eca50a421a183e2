import type { z } from 'zod';
import { ApiError, formatPath, invalid } from './errors.js';
import {
  BUILT_IN_TOOL_TYPES,
  CONTENT_TYPES,
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
  return typeof value;
}

function issueMessage(issue: z.core.$ZodIssue, prefix: ReadonlyArray<PropertyKey>): string {
  const path = [...prefix, ...issue.path];
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    return `${formatPath([...path, key])}: unknown field`;
  }
  const where = formatPath(path) || 'body';
  if (issue.code === 'invalid_type') {
    const got = 'input' in issue ? describe(issue.input) : undefined;
    if (got === 'undefined') return `${where}: required field is missing`;
    return `${where}: expected ${issue.expected}${got ? `, got ${got}` : ''}`;
  }
  return `${where}: ${issue.message.replace(/^Invalid input: /, '')}`;
}

/** Parses with a zod schema, throwing a 400 that names the first offending field. */
export function parseWith<T>(schema: z.ZodType<T>, value: unknown, prefix: ReadonlyArray<PropertyKey> = []): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  throw invalid(issueMessage(issue, prefix));
}

function requireObject(value: unknown, path: ReadonlyArray<PropertyKey>): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(`${formatPath(path) || 'body'}: expected object, got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}

function requireType(obj: Record<string, unknown>, path: ReadonlyArray<PropertyKey>): string {
  if (!('type' in obj)) throw invalid(`${formatPath([...path, 'type'])}: missing`);
  if (typeof obj.type !== 'string') {
    throw invalid(`${formatPath([...path, 'type'])}: expected string, got ${describe(obj.type)}`);
  }
  return obj.type;
}

export function validateContent(value: unknown, path: ReadonlyArray<PropertyKey>): Content {
  const obj = requireObject(value, path);
  const type = requireType(obj, path);
  const schema = contentSchemas[type as ContentType];
  if (!schema) {
    throw invalid(
      `${formatPath([...path, 'type'])}: unknown content type '${type}' (expected one of ${CONTENT_TYPES.join(', ')})`,
    );
  }
  const content = parseWith(schema, obj, path) as Content;
  if (content.type !== 'text') {
    const hasData = content.data !== undefined;
    const hasUri = content.uri !== undefined;
    if (hasData === hasUri) throw invalid(`${formatPath(path)}: exactly one of data or uri is required`);
    if (hasUri && !/^(https?:\/\/|files\/)/.test(content.uri!)) {
      throw invalid(`${formatPath([...path, 'uri'])}: only http(s) URLs and Files API URIs are supported`);
    }
  }
  return content;
}

function validateContentList(value: unknown, path: ReadonlyArray<PropertyKey>): Content[] {
  if (!Array.isArray(value)) throw invalid(`${formatPath(path)}: expected array, got ${describe(value)}`);
  return value.map((item, i) => validateContent(item, [...path, i]));
}

export function validateStep(value: unknown, path: ReadonlyArray<PropertyKey>): Step {
  const obj = requireObject(value, path);
  if (!('type' in obj) && 'role' in obj) {
    throw invalid(`${formatPath([...path, 'type'])}: missing (role-based turns are not part of revision 2026-05-20)`);
  }
  const type = requireType(obj, path);
  const schema = stepSchemas[type as InputStepType];
  if (!schema) throw invalid(`${formatPath([...path, 'type'])}: unknown step type '${type}'`);
  const step = parseWith(schema, obj, path) as Step & Record<string, unknown>;
  for (const key of ['content', 'summary'] as const) {
    if (step[key] !== undefined) step[key] = validateContentList(step[key], [...path, key]);
  }
  if (step.type === 'function_result' && Array.isArray(step.result)) {
    step.result = validateContentList(step.result, [...path, 'result']) as never;
  }
  return step;
}

const isContentType = (t: unknown) => typeof t === 'string' && (CONTENT_TYPES as readonly string[]).includes(t);
const isStepType = (t: unknown) => typeof t === 'string' && (STEP_TYPES as readonly string[]).includes(t);

/** §2.2: string | Content | Content[] | Step[] → steps. */
export function normalizeInput(input: unknown): Step[] {
  if (typeof input === 'string') {
    if (input.length === 0) throw invalid('input: must not be empty');
    return [{ type: 'user_input', content: [{ type: 'text', text: input }] }];
  }
  if (Array.isArray(input)) {
    if (input.length === 0) throw invalid('input: must not be an empty array');
    const first = input[0] as { type?: unknown } | null;
    const firstIsContent = typeof first === 'object' && first !== null && isContentType(first.type);
    input.forEach((item, i) => {
      const type = (item as { type?: unknown } | null)?.type;
      if (i > 0 && typeof item === 'object' && item !== null && (isContentType(type) || isStepType(type))) {
        if (isContentType(type) !== firstIsContent) {
          throw invalid(`input[${i}]: content items and steps cannot be mixed in one input array`);
        }
      }
    });
    if (firstIsContent) {
      return [{ type: 'user_input', content: input.map((c, i) => validateContent(c, ['input', i])) }];
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

function validateTools(tools: unknown[]): Pick<CreateRequest, 'functionTools' | 'builtInTools'> {
  const functionTools: FunctionTool[] = [];
  const builtInTools: CreateRequest['builtInTools'] = [];
  const names = new Set<string>();
  tools.forEach((tool, i) => {
    const obj = requireObject(tool, ['tools', i]);
    const type = requireType(obj, ['tools', i]);
    if (type === 'function') {
      const fn = parseWith(functionToolSchema, obj, ['tools', i]);
      if (names.has(fn.name)) throw invalid(`tools[${i}].name: duplicate function name '${fn.name}'`);
      names.add(fn.name);
      functionTools.push(fn);
    } else if ((BUILT_IN_TOOL_TYPES as readonly string[]).includes(type)) {
      if (type === 'mcp_server' && typeof obj.name === 'string' && obj.name.includes('-')) {
        throw invalid(`tools[${i}].name: MCP server names must not contain '-'`);
      }
      builtInTools.push({ index: i, type: type as BuiltInToolType, config: obj as JsonObject });
    } else {
      throw invalid(`tools[${i}].type: unknown tool type '${type}'`);
    }
  });
  return { functionTools, builtInTools };
}

function validateResponseFormat(value: unknown): CreateRequest['responseFormat'] {
  const entries = Array.isArray(value) ? value : [value];
  let result: CreateRequest['responseFormat'];
  entries.forEach((entry, i) => {
    const path = Array.isArray(value) ? ['response_format', i] : ['response_format'];
    const obj = requireObject(entry, path);
    const type = obj.type;
    if (type === 'text') {
      const fmt = parseWith(textResponseFormatSchema, obj, path);
      if (fmt.schema && fmt.mime_type !== 'application/json') {
        throw invalid(`${formatPath([...path, 'schema'])}: requires mime_type 'application/json'`);
      }
      result = { mimeType: fmt.mime_type ?? 'text/plain', schema: fmt.schema as JsonObject | undefined };
    } else if (typeof type === 'string' && (RESPONSE_FORMAT_TYPES as readonly string[]).includes(type)) {
      throw invalid(`${formatPath([...path, 'type'])}: output modality '${type}' is not supported by the configured model backends`);
    } else {
      // A bare JSON schema (the pre-May-2026 form) means JSON text output with that schema.
      result = { mimeType: 'application/json', schema: obj as JsonObject };
    }
  });
  return result;
}

/** Validates and normalises a create body (§2). Throws ApiError(400) naming the field. */
export function validateCreateBody(body: unknown): CreateRequest {
  if (body === undefined || body === null) throw invalid('body: a JSON object is required');
  const raw = requireObject(body, []);
  const parsed = parseWith(createBodySchema, raw);
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
  const tools = validateTools(parsed.tools ?? []);
  let responseFormat =
    parsed.response_format === undefined ? undefined : validateResponseFormat(parsed.response_format);
  if (!responseFormat && parsed.response_mime_type !== undefined) {
    if (!['text/plain', 'application/json'].includes(parsed.response_mime_type)) {
      throw invalid(`response_mime_type: unsupported '${parsed.response_mime_type}'`);
    }
    responseFormat = { mimeType: parsed.response_mime_type as 'text/plain' | 'application/json' };
  }
  const { input: _i, tools: _t, response_format: _r, ...rest } = parsed;
  return { ...rest, inputSteps, ...tools, responseFormat, raw: raw as JsonObject };
}

export { ApiError };
