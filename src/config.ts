import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { formatPath } from './protocol/errors.js';

/** `${NAME}` and `${NAME:-default}` are replaced from the environment; `$${` escapes. */
export function interpolateEnv(text: string, env: NodeJS.ProcessEnv = process.env): string {
  return text.replace(
    /\$?\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g,
    (match, name: string, fallback?: string) => {
      if (match.startsWith('$$')) return match.slice(1);
      const value = env[name];
      if (value !== undefined && value !== '') return value;
      if (fallback !== undefined) return fallback;
      throw new Error(`config: environment variable ${name} is not set`);
    },
  );
}

const modelEntry = z.looseObject({
  name: z.string().min(1),
  backend: z.string().min(1),
  aliases: z.array(z.string().min(1)).optional(),
});

export const configSchema = z.strictObject({
  server: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(8080),
      body_limit_bytes: z
        .number()
        .int()
        .positive()
        .default(32 * 1024 * 1024),
      cors_origins: z.union([z.boolean(), z.array(z.string())]).default(true),
      node_id: z.string().optional(),
      keepalive_seconds: z.number().positive().default(15),
      /**
       * A request's JSON body must arrive within this many seconds after its headers, and the
       * headers within `headers_timeout_seconds` (slower: 408, and the connection is closed).
       */
      request_timeout_seconds: z.number().positive().max(3600).default(60),
      headers_timeout_seconds: z.number().positive().max(3600).default(10),
      /** A keep-alive connection with no request in flight is closed after this many seconds. */
      idle_timeout_seconds: z.number().positive().max(3600).default(72),
      shutdown_grace_seconds: z.number().nonnegative().default(30),
      /** Token deltas of a stream are written (and sent) in batches at most this often. */
      event_batch_ms: z.number().int().min(0).max(1000).default(20),
    })
    .prefault({}),
  database: z.strictObject({ url: z.string().min(1) }).optional(),
  models: z.array(modelEntry).default([]),
  keys: z.array(z.strictObject({ key: z.string().min(8), project: z.string().min(1) })).optional(),
  limits: z
    .strictObject({
      unary_deadline_seconds: z.number().positive().default(600),
      stream_deadline_seconds: z.number().positive().default(1200),
    })
    .prefault({}),
  /** Built-in tools run by the server; see src/tools/registry.ts for each tool's settings. */
  tools: z
    .looseObject({
      max_rounds: z.number().int().min(1).max(100).default(10),
    })
    .prefault({}),
  retention_days: z.number().positive().default(55),
  signature_secret: z.string().min(16).optional(),
});

export type Config = z.infer<typeof configSchema>;

export function parseConfig(value: unknown): Config {
  const result = configSchema.safeParse(value ?? {});
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const path =
      issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0] ?? ''] : issue.path;
    throw new Error(
      `config: ${formatPath(path) || '(root)'}: ${issue.code === 'unrecognized_keys' ? 'unknown setting' : issue.message}`,
    );
  }
  return result.data;
}

export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): Config {
  const text = interpolateEnv(readFileSync(path, 'utf8'), env);
  return parseConfig(parseYaml(text));
}
