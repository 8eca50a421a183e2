import { z } from 'zod';
import { ApiError } from '../../protocol/errors.js';
import type { JsonObject, JsonValue } from '../../protocol/types.js';
import { parseWith } from '../../protocol/validate.js';
import type {
  BuiltInTool,
  ToolCallOutcome,
  ToolContext,
  ToolDeclaration,
  ToolSession,
} from '../types.js';
import { defaultPerProject } from './project-slots.js';
import {
  SandboxPool,
  SandboxStartupError,
  type RunOutcome,
  type SandboxLimits,
  type SandboxOptions,
  type SandboxStats,
} from './sandbox.js';

/**
 * The `code_execution` built-in tool (spec §7.2): Python 3 (Pyodide, CPython compiled to WASM)
 * in a child process per program, with OS-enforced memory and time limits, output caps, no
 * network and no host file system. See docs/code-execution.md.
 */

export interface CodeExecutionOptions {
  /** Wall-clock limit of one program (default 10 s). */
  timeoutMs?: number;
  /** Memory of one program's interpreter (default 256 MB). */
  memoryMb?: number;
  /** Output kept from stdout + stderr (default 64 KiB); the rest is cut with a marker. */
  maxOutputBytes?: number;
  /** Programs running at once across all requests (default 2); more are refused. */
  maxConcurrent?: number;
  /** Programs of one project running at once (default: half of `maxConcurrent`, at least 1). */
  maxConcurrentPerProject?: number;
  /** Child processes kept loaded and ready for the next program (default 1). */
  warmWorkers?: number;
  /** How long loading the interpreter may take (default 60 s). */
  startupTimeoutMs?: number;
  /** Idle warm children are stopped after this long without runs (default 5 min). */
  idleTimeoutMs?: number;
  /** Internal switches, for tests. */
  sandbox?: SandboxOptions;
}

export interface CodeExecutionTool extends BuiltInTool {
  readonly type: 'code_execution';
  readonly limits: Readonly<SandboxLimits>;
  /** The OS memory limit of each child process, in MB (`memoryMb` plus the runtime's share). */
  readonly processMemoryMb: number;
  /** Starts loading the interpreter now instead of at the first request that uses the tool. */
  warmUp(): void;
  stats(): SandboxStats;
  /** Stops every child process; programs still running end as cancelled. */
  close(): Promise<void>;
}

export const CODE_EXECUTION_FUNCTION = 'code_execution';

/** Marker placed where output was cut. */
export const TRUNCATION_MARKER = '\n[output truncated]\n';

const DEFAULT_MAX_CONCURRENT = 2;

/** Programs longer than this are refused without running. */
const MAX_CODE_BYTES = 256 * 1024;

const declaration: ToolDeclaration = {
  name: CODE_EXECUTION_FUNCTION,
  description:
    'Runs Python 3 code in a sandbox and returns what it prints (stdout, then stderr). ' +
    'Use print() to see results. Only the standard library is available; there is no ' +
    'network access, no host file system (files written live only for this run), and each ' +
    'run starts from a fresh interpreter with time and memory limits.',
  parameters: {
    type: 'object',
    properties: {
      code: { type: 'string', description: 'The Python 3 program to run.' },
    },
    required: ['code'],
  },
};

const entrySchema = z.strictObject({ type: z.literal('code_execution') });

/** Operator settings (`tools.code_execution` in the config file). */
export const codeExecutionConfigSchema = z.strictObject({
  timeout_seconds: z.number().positive().max(3600).optional(),
  memory_mb: z.number().int().min(64).max(4096).optional(),
  max_output_bytes: z
    .number()
    .int()
    .min(256)
    .max(16 * 1024 * 1024)
    .optional(),
  max_concurrent: z.number().int().min(1).max(256).optional(),
  max_concurrent_per_project: z.number().int().min(1).max(256).optional(),
  warm_workers: z.number().int().min(0).max(64).optional(),
});

export type CodeExecutionConfig = z.infer<typeof codeExecutionConfigSchema>;

export function createCodeExecutionToolFromConfig(
  config: CodeExecutionConfig = {},
): CodeExecutionTool {
  const cfg = codeExecutionConfigSchema.parse(config);
  const total = cfg.max_concurrent ?? DEFAULT_MAX_CONCURRENT;
  if (cfg.max_concurrent_per_project !== undefined && cfg.max_concurrent_per_project > total) {
    throw new RangeError(
      `code_execution.max_concurrent_per_project (${cfg.max_concurrent_per_project}) must not exceed max_concurrent (${total})`,
    );
  }
  return createCodeExecutionTool({
    timeoutMs: cfg.timeout_seconds === undefined ? undefined : cfg.timeout_seconds * 1000,
    memoryMb: cfg.memory_mb,
    maxOutputBytes: cfg.max_output_bytes,
    maxConcurrent: cfg.max_concurrent,
    maxConcurrentPerProject: cfg.max_concurrent_per_project,
    warmWorkers: cfg.warm_workers,
  });
}

function positive(value: number | undefined, fallback: number, name: string, min = 1): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < min) {
    throw new RangeError(`code execution: ${name} must be a number ≥ ${min}`);
  }
  return value;
}

export function createCodeExecutionTool(options: CodeExecutionOptions = {}): CodeExecutionTool {
  const maxConcurrent = Math.floor(
    positive(options.maxConcurrent, DEFAULT_MAX_CONCURRENT, 'maxConcurrent'),
  );
  const maxConcurrentPerProject = Math.floor(
    positive(
      options.maxConcurrentPerProject,
      defaultPerProject(maxConcurrent),
      'maxConcurrentPerProject',
    ),
  );
  if (maxConcurrentPerProject > maxConcurrent) {
    throw new RangeError(
      `code execution: maxConcurrentPerProject (${maxConcurrentPerProject}) must not exceed maxConcurrent (${maxConcurrent})`,
    );
  }
  const limits: SandboxLimits = {
    timeoutMs: positive(options.timeoutMs, 10_000, 'timeoutMs'),
    memoryMb: Math.floor(positive(options.memoryMb, 256, 'memoryMb', 64)),
    maxOutputBytes: Math.floor(positive(options.maxOutputBytes, 64 * 1024, 'maxOutputBytes', 64)),
    maxConcurrent,
    maxConcurrentPerProject,
    warmWorkers: Math.floor(positive(options.warmWorkers, 1, 'warmWorkers', 0)),
    startupTimeoutMs: positive(options.startupTimeoutMs, 60_000, 'startupTimeoutMs'),
    idleTimeoutMs: positive(options.idleTimeoutMs, 5 * 60_000, 'idleTimeoutMs'),
  };
  const pool = new SandboxPool(limits, options.sandbox);

  const execute = async (
    name: string,
    args: JsonObject,
    project: string,
    signal: AbortSignal,
  ): Promise<ToolCallOutcome> => {
    if (name !== CODE_EXECUTION_FUNCTION) {
      throw new ApiError('internal_error', `code_execution has no function named '${name}'`);
    }
    const code = args.code;
    if (typeof code !== 'string') {
      return refused('', 'the argument "code" must be a string containing a Python program');
    }
    if (Buffer.byteLength(code) > MAX_CODE_BYTES) {
      return refused(code, `the program is longer than ${MAX_CODE_BYTES} bytes`);
    }
    let outcome: RunOutcome;
    try {
      outcome = await pool.run(code, project, signal);
    } catch (error) {
      if (error instanceof SandboxStartupError) {
        throw new ApiError('unavailable', `code execution is unavailable: ${error.message}`, {
          cause: error,
        });
      }
      throw error;
    }
    return toolOutcome(code, renderOutcome(outcome, limits.maxOutputBytes));
  };

  return {
    type: 'code_execution',
    limits,
    processMemoryMb: pool.processMemoryMb,
    warmUp: () => pool.prewarm(),
    stats: () => pool.stats(),
    close: () => pool.close(),
    async open(entry: JsonObject, index: number, context?: ToolContext): Promise<ToolSession> {
      parseWith(entrySchema, entry, ['tools', index]);
      // Without a context (direct library use) every session shares one project's slots.
      const project = context?.project ?? '';
      pool.prewarm();
      const runs = new Set<AbortController>();
      let closed = false;
      return {
        type: 'code_execution',
        steps: { call: 'code_execution_call', result: 'code_execution_result' },
        declarations: [declaration],
        callStep: (_name, args) => ({
          arguments: { language: 'python', code: typeof args.code === 'string' ? args.code : '' },
        }),
        callOf: (step) => {
          const args = step.arguments as JsonObject | undefined;
          return typeof args?.code === 'string'
            ? { name: CODE_EXECUTION_FUNCTION, args: { code: args.code } }
            : undefined;
        },
        async execute(name, args, signal) {
          if (closed) throw new ApiError('internal_error', 'code_execution session is closed');
          const controller = new AbortController();
          runs.add(controller);
          try {
            return await execute(name, args, project, AbortSignal.any([signal, controller.signal]));
          } finally {
            runs.delete(controller);
          }
        },
        async close() {
          closed = true;
          for (const run of runs) run.abort();
        },
      };
    },
  };
}

export interface RenderedOutcome {
  /** `code_execution_result.result`: stdout, then stderr, then the traceback or reason. */
  text: string;
  isError: boolean;
  /** Short reason when `isError` (the exception line, "execution timed out after 10 s", …). */
  error?: string;
}

const decoder = new TextDecoder('utf-8');

/** The first `max` bytes of `bytes`, cut back to a UTF-8 character boundary. */
function head(bytes: Uint8Array, max: number): Uint8Array {
  if (bytes.length <= max) return bytes;
  let end = Math.max(0, max);
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

/** The last `max` bytes of `text` (UTF-8), cut forward to a character boundary. */
function tail(text: string, max: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= max) return text;
  let start = bytes.length - max;
  while (start < bytes.length && (bytes[start]! & 0xc0) === 0x80) start++;
  return `…${decoder.decode(bytes.subarray(start))}`;
}

function lastLine(text: string): string {
  const lines = text.trimEnd().split('\n');
  return lines[lines.length - 1]!.trim();
}

/**
 * Turns a run into the result text. The output part (stdout, then stderr) and the closing part
 * (traceback or reason) together stay within `maxOutputBytes`, plus the truncation marker when
 * something was cut; the closing part is kept whole when it fits in half the budget, so the
 * exception line is never the part that is lost.
 */
export function renderOutcome(outcome: RunOutcome, maxOutputBytes: number): RenderedOutcome {
  let closing = '';
  let error: string | undefined;
  switch (outcome.status) {
    case 'exited':
      if (outcome.traceback) {
        closing = outcome.traceback;
        error = lastLine(outcome.traceback);
      } else if (outcome.exitStatus !== 0) {
        error = `the program exited with status ${outcome.exitStatus}`;
        closing = `${error}\n`;
      }
      break;
    default:
      error = outcome.message ?? outcome.status;
      closing = `${error}\n`;
  }
  closing = tail(closing, Math.floor(maxOutputBytes / 2));
  const closingBytes = Buffer.byteLength(closing);
  const budget = Math.max(0, maxOutputBytes - closingBytes - (closing ? 1 : 0));
  const combined = Buffer.concat([outcome.stdout, outcome.stderr]);
  const kept = head(combined, budget);
  const cut = outcome.overflow || kept.length < combined.length;
  let output = decoder.decode(kept);
  if (cut) output += TRUNCATION_MARKER;
  const separator = closing && output && !output.endsWith('\n') ? '\n' : '';
  const isError = outcome.status !== 'exited' || outcome.exitStatus !== 0;
  return { text: output + separator + closing, isError, ...(isError ? { error } : {}) };
}

function toolOutcome(code: string, rendered: RenderedOutcome): ToolCallOutcome {
  const modelOutput: JsonValue = rendered.isError
    ? { output: rendered.text, error: rendered.error ?? 'error' }
    : rendered.text;
  return {
    call: { arguments: { language: 'python', code } },
    result: { result: rendered.text, is_error: rendered.isError },
    modelOutput,
  };
}

function refused(code: string, reason: string): ToolCallOutcome {
  return toolOutcome(code, { text: `${reason}\n`, isError: true, error: reason });
}
