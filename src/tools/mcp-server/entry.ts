import { z } from 'zod';
import { invalid } from '../../protocol/errors.js';
import type { JsonObject } from '../../protocol/types.js';
import { clip, parseWith } from '../../protocol/validate.js';

/**
 * The `mcp_server` tool entry (spec §7.6, @google/genai `MCPServer`):
 * `{type, name, url, headers?, allowed_tools?: [{mode?, tools?}]}`.
 */

/** Server names: snake_case identifiers (Google's rule: no '-'), so `<server>__<tool>` stays a valid function name. */
export const SERVER_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

const TOOL_CHOICE_MODES = ['auto', 'any', 'none', 'validated'] as const;

/** One `allowed_tools` entry. Also accepted: a bare tool name (our extension). */
const allowedToolsEntry = z.union(
  [
    z.string().min(1),
    z.strictObject({
      mode: z.enum(TOOL_CHOICE_MODES).optional(),
      tools: z.array(z.string().min(1)).optional(),
    }),
  ],
  { error: 'must be an object {mode?, tools?: string[]} or a tool name' },
);

const entrySchema = z.strictObject({
  type: z.literal('mcp_server'),
  name: z
    .string()
    .refine((n) => !n.includes('-'), { error: "MCP server names must not contain '-'" })
    .refine((n) => SERVER_NAME.test(n), {
      error: 'must be snake_case: letters, digits and _, starting with a letter or _, at most 64',
    }),
  url: z.string().min(1).max(2048),
  headers: z.record(z.string(), z.string()).optional(),
  allowed_tools: z
    .union([z.array(allowedToolsEntry), allowedToolsEntry], {
      error: 'must be a list of {mode?, tools?: string[]} objects',
    })
    .optional(),
});

/** Header names the transport owns; a request may not override them. */
const RESERVED_HEADERS = new Set([
  'accept',
  'connection',
  'content-length',
  'content-type',
  'host',
  'keep-alive',
  'last-event-id',
  'mcp-protocol-version',
  'mcp-session-id',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Visible ASCII, space, tab and obs-text; no CR, LF or NUL.
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** `tools[0].headers.X-Key`, with keys that are not identifier-like written as `["key"]` (as validate.ts does). */
export function fieldPath(path: ReadonlyArray<string | number>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else {
      const key = clip(part);
      if (PLAIN_KEY.test(key)) out += out ? `.${key}` : key;
      else out += `[${JSON.stringify(key)}]`;
    }
  }
  return out;
}

export interface AllowedToolsRule {
  /** Tool names the rule covers, each with its path (for error messages); undefined = every tool. */
  tools?: { name: string; path: string }[];
  /** `mode: 'none'` removes the tools; any other mode (or none) allows them. */
  exclude: boolean;
}

export interface McpServerEntry {
  name: string;
  url: URL;
  headers: Record<string, string>;
  /** undefined = no restriction. */
  allowedTools?: AllowedToolsRule[];
}

/** Validates `tools[index]`; throws a 400 `invalid_request` naming the offending field. */
export function parseEntry(entry: JsonObject, index: number): McpServerEntry {
  const at = (...rest: (string | number)[]) => fieldPath(['tools', index, ...rest]);
  const parsed = parseWith(entrySchema, entry, ['tools', index]);

  let url: URL;
  try {
    url = new URL(parsed.url);
  } catch {
    throw invalid(`${at('url')}: not a valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalid(`${at('url')}: must be an http or https URL`);
  }
  if (url.username || url.password) {
    throw invalid(`${at('url')}: must not contain credentials; pass them in headers`);
  }
  url.hash = '';

  const headers: Record<string, string> = {};
  const seen = new Set<string>();
  for (const [name, value] of Object.entries(parsed.headers ?? {})) {
    const lower = name.toLowerCase();
    if (!HEADER_NAME.test(name)) throw invalid(`${at('headers', name)}: not a valid header name`);
    if (RESERVED_HEADERS.has(lower) || lower.startsWith('proxy-') || lower.startsWith('sec-')) {
      throw invalid(`${at('headers', name)}: this header is set by the MCP transport`);
    }
    if (seen.has(lower)) throw invalid(`${at('headers', name)}: duplicate header`);
    // Never echo the value: headers carry secrets.
    if (!HEADER_VALUE.test(value)) {
      throw invalid(`${at('headers', name)}: value contains characters not allowed in a header`);
    }
    seen.add(lower);
    headers[name] = value;
  }

  let allowedTools: AllowedToolsRule[] | undefined;
  if (parsed.allowed_tools !== undefined) {
    const list = Array.isArray(parsed.allowed_tools)
      ? parsed.allowed_tools
      : [parsed.allowed_tools];
    const rules = list.map((item, j): AllowedToolsRule => {
      const base = Array.isArray(parsed.allowed_tools) ? ['allowed_tools', j] : ['allowed_tools'];
      if (typeof item === 'string')
        return { tools: [{ name: item, path: at(...base) }], exclude: false };
      return {
        tools: item.tools?.map((name, k) => ({ name, path: at(...base, 'tools', k) })),
        exclude: item.mode === 'none',
      };
    });
    // An empty list restricts nothing (there is no rule to apply).
    allowedTools = rules.length > 0 ? rules : undefined;
  }

  return { name: parsed.name, url, headers, allowedTools };
}
