/**
 * Messages between the server and a sandbox child process (sandbox.ts ↔ sandbox-child.ts), sent
 * over the child's IPC channel with the `advanced` (structured clone) serialization, so byte
 * arrays travel as `Uint8Array`.
 */

/** What a child is told once it has started: the first and, for a snapshot child, only message. */
export interface ChildStart {
  type: 'start';
  /** `snapshot`: load the interpreter, send a memory snapshot of it, run nothing. */
  mode: 'run' | 'snapshot';
  /** The pyodide package directory (interpreter, wasm, standard library). */
  indexDir: string;
  /** Cap of the interpreter's wasm linear memory (Python's heap). */
  memoryMb: number;
  /** Output kept per stream; the child sends one byte more to mark an overflow. */
  maxOutputBytes: number;
  /** Python setup code (sandbox-python.ts). */
  setupPython: string;
  /**
   * Size of the memory snapshot (made by a snapshot child) that follows on the child's stdin;
   * 0: no snapshot, the child loads the interpreter cold. (Streamed rather than sent as a message
   * so that the server never serializes 20 MB on its event loop for each child.)
   */
  snapshotBytes: number;
  /**
   * Close the Python routes into JavaScript (pyodide.ffi, js, run_js, …). Always true in the
   * server; tests turn it off to show that the process limits hold on their own.
   */
  lockdown: boolean;
}

/** The program to run (a child runs one, then is killed). */
export interface ChildRun {
  type: 'run';
  code: string;
}

export type ToChild = ChildStart | ChildRun;

export type FromChild =
  | { type: 'ready'; ms: number }
  | { type: 'snapshot'; image: Uint8Array; ms: number }
  | { type: 'failed'; message: string }
  | { type: 'output'; stream: 'stdout' | 'stderr'; data: Uint8Array }
  | {
      type: 'done';
      /** Exit status (0 = success; 1 = uncaught exception; `sys.exit(n)` = n). */
      status: number;
      traceback: string | null;
      /** The interpreter stopped (or the program reached a closed JS route): why. */
      fatal: string | null;
      ms: number;
    };
