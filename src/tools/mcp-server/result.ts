import type { JsonObject, JsonValue } from '../../protocol/types.js';

/**
 * Maps an MCP `tools/call` result onto the `mcp_server_tool_result.result` union
 * (`string | object | Content[]`, spec §4.1) and onto what the model is shown.
 */

/** The parts of an MCP CallToolResult we read (kept loose: servers vary). */
export interface McpCallResult {
  content?: unknown;
  structuredContent?: unknown;
  isError?: unknown;
  /** Pre-2024-11-05 servers answer `{ toolResult }` instead of `content`. */
  toolResult?: unknown;
}

export interface MappedResult {
  result: JsonValue;
  modelOutput: JsonValue;
}

type Block = Record<string, unknown>;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Round-trips through JSON so only plain JSON values reach the step log. */
function toJson(value: unknown): JsonValue {
  if (value === undefined) return null;
  try {
    return JSON.parse(JSON.stringify(value)) as JsonValue;
  } catch {
    return String(value);
  }
}

/** The Content item for binary data, chosen by MIME type. */
function binaryContent(data: string, mimeType: string | undefined): JsonObject {
  const mime = mimeType ?? 'application/octet-stream';
  const kind = mime.startsWith('image/')
    ? 'image'
    : mime.startsWith('audio/')
      ? 'audio'
      : mime.startsWith('video/')
        ? 'video'
        : 'document';
  return { type: kind, data, mime_type: mime };
}

/** One MCP content block → one Content item (`text`, `image`, `audio`, `video`, `document`). */
function mapBlock(block: Block): JsonObject {
  const str = (k: string) => (typeof block[k] === 'string' ? (block[k] as string) : undefined);
  switch (block.type) {
    case 'text':
      return { type: 'text', text: str('text') ?? '' };
    case 'image':
    case 'audio':
      return {
        type: block.type,
        data: str('data') ?? '',
        ...(str('mimeType') ? { mime_type: str('mimeType')! } : {}),
      };
    case 'resource': {
      const resource = isObject(block.resource) ? block.resource : {};
      const mime = typeof resource.mimeType === 'string' ? resource.mimeType : undefined;
      if (typeof resource.text === 'string') return { type: 'text', text: resource.text };
      if (typeof resource.blob === 'string') return binaryContent(resource.blob, mime);
      return { type: 'text', text: `Resource: ${String(resource.uri ?? '')}` };
    }
    case 'resource_link': {
      const name = str('name') ?? str('title');
      const description = str('description');
      return {
        type: 'text',
        text: `Resource link: ${name ? `${name} ` : ''}<${str('uri') ?? ''}>${description ? ` — ${description}` : ''}`,
      };
    }
    default:
      return { type: 'text', text: JSON.stringify(toJson(block)) };
  }
}

function blocksOf(result: McpCallResult): Block[] {
  return Array.isArray(result.content) ? result.content.filter(isObject) : [];
}

/** The text of a result's text blocks, joined; for error reports. */
function textOf(blocks: Block[]): string {
  return blocks
    .filter((b) => b.type === 'text' && typeof b.text === 'string')
    .map((b) => b.text as string)
    .join('\n');
}

/**
 * - `isError`: the error text (string) as the result; the model sees `{error: text}`.
 * - `structuredContent`: the object (the machine-readable form; its text block is a copy).
 * - one text block: the string.
 * - otherwise: a Content[] (empty content → empty string).
 */
export function mapCallResult(raw: McpCallResult): MappedResult {
  const blocks = blocksOf(raw);
  if (raw.isError === true) {
    const text =
      textOf(blocks) ||
      (blocks.length > 0 ? JSON.stringify(toJson(blocks)) : 'The MCP tool reported an error.');
    return { result: text, modelOutput: { error: text } };
  }
  if (isObject(raw.structuredContent)) {
    const structured = toJson(raw.structuredContent);
    return { result: structured, modelOutput: structured };
  }
  if (raw.content === undefined && raw.toolResult !== undefined) {
    const legacy = toJson(raw.toolResult);
    const result = isObject(legacy) || typeof legacy === 'string' ? legacy : { value: legacy };
    return { result, modelOutput: result };
  }
  if (blocks.length === 0) return { result: '', modelOutput: '' };
  if (blocks.length === 1 && blocks[0]!.type === 'text') {
    const text = typeof blocks[0]!.text === 'string' ? blocks[0]!.text : '';
    return { result: text, modelOutput: text };
  }
  const content = blocks.map(mapBlock);
  return { result: content, modelOutput: content };
}

/** The result for a call that failed before the server answered (time-out, protocol error). */
export function failureResult(message: string): MappedResult {
  return { result: message, modelOutput: { error: message } };
}
