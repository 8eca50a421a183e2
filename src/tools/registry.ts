import { z } from 'zod';
import type { Config } from '../config.js';
import { parseWith } from '../protocol/validate.js';
import { createMcpServerTool } from './mcp-server/index.js';
import type { BuiltInTool } from './types.js';

const enabled = z.boolean().default(true);

/** Operator settings of each built-in tool (`tools.<type>` in the server config). */
export const toolSettingsSchema = z.looseObject({
  max_rounds: z.number().int().min(1).max(100).default(10),
  mcp_server: z
    .strictObject({
      enabled,
      /** Allow MCP servers on loopback/private addresses (e.g. a sidecar on 127.0.0.1). */
      allow_private: z.boolean().default(false),
      connect_timeout_seconds: z.number().positive().default(10),
      call_timeout_seconds: z.number().positive().default(60),
    })
    .prefault({}),
});

/**
 * The built-in tools the operator configured (`tools:` in the server config). A tool that is
 * absent here is refused with 400 naming `tools[i]` and the setting before a run starts.
 */
export function createConfiguredTools(config: Config['tools']): BuiltInTool[] {
  const settings = parseWith(toolSettingsSchema, config, ['config', 'tools']);
  const tools: BuiltInTool[] = [];
  if (settings.mcp_server.enabled) {
    tools.push(
      createMcpServerTool({
        allowPrivate: settings.mcp_server.allow_private,
        connectTimeoutMs: settings.mcp_server.connect_timeout_seconds * 1000,
        callTimeoutMs: settings.mcp_server.call_timeout_seconds * 1000,
      }),
    );
  }
  return tools;
}
