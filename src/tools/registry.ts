import { z } from 'zod';
import type { Config } from '../config.js';
import { parseWith } from '../protocol/validate.js';
import {
  codeExecutionConfigSchema,
  createCodeExecutionToolFromConfig,
} from './code-execution/index.js';
import {
  createFileSearchTool,
  fileSearchConfigSchema,
  type FileSearchBackend,
} from './file-search/index.js';
import { createGoogleMapsTool, googleMapsConfigSchema } from './google-maps/index.js';
import { createGoogleSearchTool, googleSearchConfigSchema } from './google-search/index.js';
import { createMcpServerTool } from './mcp-server/index.js';
import type { BuiltInTool } from './types.js';
import {
  createUrlContextTool,
  urlContextConfigSchema,
  urlContextOptions,
} from './url-context/index.js';

/** `enabled: false` switches off a tool that is on by default. */
const switchable = <T extends z.ZodRawShape>(shape: T) =>
  z.strictObject({ enabled: z.boolean().default(true), ...shape });

/**
 * Operator settings of the built-in tools (`tools:` in the server config). url_context,
 * code_execution and mcp_server need no outside service and are on by default (URL fetching refuses
 * private addresses unless allowed; code runs in a WASM sandbox); google_search and google_maps
 * need a backend endpoint and are off until configured; file_search is on when `file_search:`
 * is set (`{}` will do), and then needs an embedding model (`embedding_models:`, or the default
 * one `serve` fetches).
 */
export const toolSettingsSchema = z.strictObject({
  max_rounds: z.number().int().min(1).max(100).default(10),
  url_context: z
    .union([
      z.literal(false),
      urlContextConfigSchema.extend({ enabled: z.boolean().default(true) }),
    ])
    .prefault({}),
  code_execution: z
    .union([
      z.literal(false),
      codeExecutionConfigSchema.extend({ enabled: z.boolean().default(true) }),
    ])
    .prefault({}),
  mcp_server: switchable({
    /** Allow MCP servers on loopback/private addresses (e.g. a sidecar on 127.0.0.1). */
    allow_private: z.boolean().default(false),
    connect_timeout_seconds: z.number().positive().default(10),
    call_timeout_seconds: z.number().positive().default(60),
    /**
     * Server URLs (picomatch globs, e.g. `https://tools.example.com/**`) whose tools may be
     * called again when the node running a call stopped during it. Others: the run fails.
     */
    repeat_safe: z.array(z.string().min(1)).default([]),
  }).prefault({}),
  google_search: googleSearchConfigSchema.optional(),
  google_maps: googleMapsConfigSchema.optional(),
  file_search: z.union([z.literal(false), fileSearchConfigSchema]).optional(),
});

/** What tools that work on the server's own data are built over (server.ts wires them). */
export interface ToolServices {
  /** Retrieval over File Search stores (src/files/file-search-retrieval.ts). */
  fileSearch?: FileSearchBackend;
}

/**
 * The built-in tools the operator configured. A tool that is absent here is refused with 400
 * naming `tools[i]` and the setting before a run starts.
 */
export function createConfiguredTools(
  config: Config['tools'],
  services: ToolServices = {},
): BuiltInTool[] {
  const settings = parseWith(toolSettingsSchema, config ?? {}, ['config', 'tools']);
  const tools: BuiltInTool[] = [];
  if (settings.url_context !== false && settings.url_context.enabled) {
    tools.push(createUrlContextTool(urlContextOptions(settings.url_context)));
  }
  if (settings.code_execution !== false && settings.code_execution.enabled) {
    const { enabled: _enabled, ...limits } = settings.code_execution;
    tools.push(createCodeExecutionToolFromConfig(limits));
  }
  if (settings.mcp_server.enabled) {
    tools.push(
      createMcpServerTool({
        allowPrivate: settings.mcp_server.allow_private,
        connectTimeoutMs: settings.mcp_server.connect_timeout_seconds * 1000,
        callTimeoutMs: settings.mcp_server.call_timeout_seconds * 1000,
        repeatSafe: settings.mcp_server.repeat_safe,
      }),
    );
  }
  if (settings.google_search) tools.push(createGoogleSearchTool(settings.google_search));
  if (settings.google_maps) tools.push(createGoogleMapsTool(settings.google_maps));
  if (settings.file_search && settings.file_search.enabled && services.fileSearch) {
    tools.push(createFileSearchTool(settings.file_search, services.fileSearch));
  }
  return tools;
}
