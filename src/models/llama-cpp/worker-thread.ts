/**
 * What every llama-cpp worker thread shares (the chat model's, worker-model.ts, and the embedding
 * model's, models/embeddings/llama-cpp-worker.ts): starting a host module on a worker thread, from
 * `src/` (TypeScript) or from `dist/`, and errors crossing `postMessage` as data.
 */
import { APICallError } from '@ai-sdk/provider';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { LocalModelError } from '../errors.js';
import type { SerializedError } from './worker-protocol.js';

/**
 * Started with `eval` so the same code works from `src/` (TypeScript, where the worker first
 * registers tsx's loader) and from `dist/`.
 */
const BOOTSTRAP = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  if (workerData.tsxApi) await import(workerData.tsxApi).then((m) => m.register());
  const host = await import(workerData.hostUrl);
  host[workerData.entry](parentPort, workerData.options);
})().catch((err) => { setImmediate(() => { throw err; }); });
`;

/**
 * Starts `entry(parentPort, options)` of the module `hostModule` (a path relative to `baseUrl`,
 * without extension: `.ts` when running from source, `.js` from `dist/`) on a new worker thread.
 * `options` must be structured-cloneable.
 */
export function startHostWorker(
  baseUrl: string,
  hostModule: string,
  entry: string,
  options: unknown,
): Worker {
  const hostUrl = new URL(`${hostModule}${baseUrl.endsWith('.ts') ? '.ts' : '.js'}`, baseUrl).href;
  // From source, the worker registers tsx's loader itself (Node 20 workers do not inherit hooks
  // registered with `--import`).
  const tsxApi = hostUrl.endsWith('.ts') ? tsxEsmApiUrl() : undefined;
  return new Worker(BOOTSTRAP, { eval: true, workerData: { hostUrl, tsxApi, entry, options } });
}

/** tsx's ESM `register` entry (its package exports, resolved for `import`). */
function tsxEsmApiUrl(): string {
  const pkgPath = createRequire(import.meta.url).resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as {
    exports: Record<string, { import: { default: string } }>;
  };
  return pathToFileURL(join(dirname(pkgPath), pkg.exports['./esm/api']!.import.default)).href;
}

/** An error as data, for `postMessage` (the worker side). */
export function serializeError(err: unknown): SerializedError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) };
  const e = err as Error & Partial<Omit<SerializedError, 'name' | 'message' | 'stack'>>;
  return {
    name: e.name,
    message: e.message,
    ...(e.stack !== undefined ? { stack: e.stack } : {}),
    ...(typeof e.statusCode === 'number' ? { statusCode: e.statusCode } : {}),
    ...(typeof e.isRetryable === 'boolean' ? { isRetryable: e.isRetryable } : {}),
    ...(e.responseHeaders ? { responseHeaders: e.responseHeaders } : {}),
    ...(typeof e.url === 'string' ? { url: e.url } : {}),
    ...(LocalModelError.isInstance(err) ? { local: true } : {}),
  };
}

/** The error again (the owning side): APICallError's fields survive, so the API still answers 503/400. */
export function deserializeError(e: SerializedError): Error {
  if (e.statusCode !== undefined || e.url !== undefined) {
    return new (e.local ? LocalModelError : APICallError)({
      message: e.message,
      url: e.url ?? 'llama-cpp://worker',
      requestBodyValues: undefined,
      ...(e.statusCode !== undefined ? { statusCode: e.statusCode } : {}),
      ...(e.isRetryable !== undefined ? { isRetryable: e.isRetryable } : {}),
      ...(e.responseHeaders ? { responseHeaders: e.responseHeaders } : {}),
    });
  }
  const err = new Error(e.message);
  err.name = e.name;
  if (e.stack !== undefined) err.stack = e.stack;
  return err;
}
