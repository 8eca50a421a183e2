/**
 * The command line of a sandbox child process: its OS limits, Node.js/V8 flags and permissions.
 *
 * Memory is limited by the OS with RLIMIT_DATA, chosen by experiment (Linux 6.x, Node 20):
 * - RLIMIT_AS (`ulimit -v`) does not work with V8 + wasm: a loaded Pyodide child has ~43 GB of
 *   address space reserved (wasm guard regions for the trap handler); with
 *   `--disable-wasm-trap-handler` it is still ~5 GB, nearly all reservations that depend on the
 *   Node version and core count, not on what the program uses.
 * - cgroup v2 needs a delegated, writable cgroup (root or systemd delegation); not available to
 *   an ordinary server process (here: cgroup v1 memory controller owned by the host).
 * - RLIMIT_DATA (`ulimit -d`) counts private writable memory (heap, malloc/mmap, ArrayBuffer
 *   backing stores, committed wasm and V8 pages; since Linux 4.7 mmap too), not PROT_NONE
 *   reservations. A ready child uses ~210–235 MB of it (Node runtime, thread stacks, compiled
 *   wasm code, a 20 MB wasm heap). Exceeding it makes allocations fail: an ArrayBuffer throws
 *   `RangeError`, the wasm heap cannot grow (`MemoryError`), V8 aborts the process
 *   ("Fatal process out of memory"). Each case ends only that child.
 * No npm package sets another process's rlimits portably, so the child is started through
 * `/bin/sh -c 'ulimit …; exec node …'` (POSIX shell; `ulimit -d/-t/-c` exist in dash, bash and
 * busybox ash). RLIMIT_DATA covers mmap on Linux only; elsewhere the wasm cap and V8's heap cap
 * still apply.
 */
import { spawn } from 'node:child_process';
import { constants, mkdirSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * What a ready child takes besides the program's wasm heap (measured ~190–215 MB, mostly 8 MB
 * thread stacks and compiled wasm code), with room for the JS heap to grow.
 */
export const RUNTIME_OVERHEAD_MB = 256;

export interface LaunchLimits {
  /** The program's memory (wasm heap cap); the process gets this plus RUNTIME_OVERHEAD_MB. */
  memoryMb: number;
  /**
   * CPU seconds before the OS kills the process: a backstop for a child whose server died
   * while it ran (the server's own wall-clock limit is always shorter).
   */
  cpuSeconds: number;
}

export interface ChildLaunch {
  file: string;
  args: string[];
  env: Record<string, string>;
}

/** The OS memory limit of one child, in MB. */
export function processMemoryMb(memoryMb: number): number {
  return memoryMb + RUNTIME_OVERHEAD_MB;
}

/** The JS heap cap (V8 old space): only the JS bridge could fill it, which is closed. */
export function jsHeapMb(memoryMb: number): number {
  return Math.max(64, Math.ceil(memoryMb / 2));
}

const here = fileURLToPath(import.meta.url);
/** From source (vitest, tsx) the child is TypeScript and needs tsx's loader. */
const fromSource = here.endsWith('.ts');

/** The child entry beside this file: `.ts` from source, `.js` from `dist/`. */
export function childEntryPath(): string {
  return join(dirname(here), fromSource ? 'sandbox-child.ts' : 'sandbox-child.js');
}

/** tsx's ESM entry for `--import` (registers its loader hooks). */
function tsxEsmUrl(): { url: string; packageDir: string } {
  const packageDir = dirname(createRequire(import.meta.url).resolve('tsx/package.json'));
  return { url: pathToFileURL(join(packageDir, 'dist/esm/index.mjs')).href, packageDir };
}

/** Node's permission flag: `--permission` from Node 23.5, `--experimental-permission` before. */
function permissionFlags(): string[] {
  const flags = process.allowedNodeEnvironmentFlags;
  const permission = flags.has('--permission') ? '--permission' : '--experimental-permission';
  // Node's warnings about the permission model itself would fill the child's stderr tail.
  const quiet = flags.has('--disable-warning')
    ? ['--disable-warning=ExperimentalWarning', '--disable-warning=SecurityWarning']
    : [];
  return [permission, ...quiet];
}

/** OS isolation beyond the rlimits, where this host allows it (probed once per process). */
export interface Isolation {
  /** Own user and network namespace: no network interface but a down loopback. */
  networkNamespace: boolean;
  /** SIGKILL when the server process dies (PR_SET_PDEATHSIG), even mid-program. */
  parentDeathSignal: boolean;
  /** Command prefix that sets both up (util-linux `unshare`, `setpriv`). */
  prefix: string[];
}

let isolationProbe: Promise<Isolation> | undefined;

/**
 * Which util-linux wrappers work here. `unshare --user --net` needs unprivileged user
 * namespaces (off in some containers and AppArmor-restricted hosts): without it, network access
 * is refused only inside the child. `setpriv --pdeathsig KILL`: without it, a child whose server
 * died mid-program runs until its CPU limit. See docs/code-execution.md.
 */
export function isolation(): Promise<Isolation> {
  isolationProbe ??= probeIsolation();
  return isolationProbe;
}

async function probeIsolation(): Promise<Isolation> {
  const unshare = await workingTool('unshare', ['--user', '--net', '--']);
  const setpriv = await workingTool('setpriv', ['--pdeathsig', 'KILL', '--']);
  return {
    networkNamespace: unshare !== undefined,
    parentDeathSignal: setpriv !== undefined,
    prefix: [...(unshare ?? []), ...(setpriv ?? [])],
  };
}

/** `[path, ...args]` when `name` is on the PATH and `name args /bin/sh -c :` succeeds. */
async function workingTool(name: string, args: string[]): Promise<string[] | undefined> {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    const path = join(dir, name);
    try {
      await access(path, constants.X_OK);
    } catch {
      continue;
    }
    const works = await new Promise<boolean>((resolve) => {
      const probe = spawn(path, [...args, '/bin/sh', '-c', ':'], { stdio: 'ignore', env: {} });
      probe.once('error', () => resolve(false));
      probe.once('exit', (code) => resolve(code === 0));
    });
    return works ? [path, ...args] : undefined;
  }
  return undefined;
}

/**
 * The command that starts one child. `indexDir` is the pyodide package directory (the only
 * other place the child may read); `prefix` comes from isolation().
 */
export function childLaunch(
  indexDir: string,
  limits: LaunchLimits,
  prefix: string[] = [],
): ChildLaunch {
  const entry = childEntryPath();
  const readable = [indexDir, entry];
  const extra: string[] = [];
  const env: Record<string, string> = {};
  if (fromSource) {
    // Development and tests only: tsx reads the sources and its packages, keeps its transform
    // cache in the temp directory, runs its hooks in a worker thread and esbuild as a process.
    // Its own temp directory: tsx names its cache after the user id, which differs inside a
    // user namespace.
    const tsx = tsxEsmUrl();
    const projectRoot = resolve(tsx.packageDir, '..', '..');
    const cacheDir = join(tmpdir(), 'open-interactions-sandbox-tsx');
    // Must exist: Node's permission model treats a path that does not exist as a file.
    mkdirSync(cacheDir, { recursive: true });
    readable.push(projectRoot);
    extra.push(
      `--allow-fs-write=${cacheDir}`,
      '--allow-worker',
      '--allow-child-process',
      '--import',
      tsx.url,
    );
    env.TMPDIR = cacheDir;
  }
  const node = [
    `--max-old-space-size=${jsHeapMb(limits.memoryMb)}`,
    '--disallow-code-generation-from-strings',
    '--no-addons',
    ...permissionFlags(),
    ...readable.map((path) => `--allow-fs-read=${path}`),
    ...extra,
    entry,
  ];
  const dataKb = processMemoryMb(limits.memoryMb) * 1024;
  const cpu = Math.max(1, Math.ceil(limits.cpuSeconds));
  // Integers only are interpolated; every other argument is passed as "$@".
  const script = `ulimit -c 0 && ulimit -d ${dataKb} && ulimit -t ${cpu} && exec "$0" "$@"`;
  return { file: '/bin/sh', args: ['-c', script, ...prefix, process.execPath, ...node], env };
}
