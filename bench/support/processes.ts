import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface CpuSample {
  userMs: number;
  systemMs: number;
  eventLoopUtilization: number;
  /** The longest the event loop was blocked since the previous sample. */
  maxEventLoopDelayMs: number;
}

export type ChildRequest =
  | { type: 'sample'; id: number }
  | { type: 'lastRequest'; id: number }
  | { type: 'idle'; id: number }
  | { type: 'close'; id: number };

export type ChildReply =
  | { type: 'ready'; url: string }
  | { type: 'sample'; id: number; sample: CpuSample }
  | { type: 'lastRequest'; id: number; body: unknown }
  | { type: 'idle'; id: number; activeRuns: number }
  | { type: 'closed'; id: number };

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));

/** A benchmark child process (see child.ts) with request/reply over IPC. */
export class BenchChild {
  private nextId = 1;
  private readonly waiting = new Map<number, (reply: ChildReply) => void>();

  private constructor(
    readonly name: string,
    readonly process: ChildProcess,
    readonly url: string,
  ) {
    process.on('message', (reply: ChildReply) => {
      if (reply.type === 'ready') return;
      const resolve = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      resolve?.(reply);
    });
  }

  /**
   * Forks `child.ts <args>`; the child inherits this process's execArgv (the tsx loader when run
   * with `npx tsx`), plus `extraExecArgv` (e.g. `--cpu-prof`).
   */
  static async start(
    name: string,
    args: string[],
    extraExecArgv: string[] = [],
  ): Promise<BenchChild> {
    const child = fork(CHILD, args, {
      execArgv: [...process.execArgv, ...extraExecArgv],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const url = await new Promise<string>((resolve, reject) => {
      const onExit = (code: number | null) =>
        reject(new Error(`${name} process exited with ${code} before it was ready`));
      child.once('exit', onExit);
      child.on('message', (m: ChildReply) => {
        if (m.type === 'ready') {
          child.off('exit', onExit);
          resolve(m.url);
        }
      });
    });
    return new BenchChild(name, child, url);
  }

  private request(type: 'sample' | 'lastRequest' | 'idle'): Promise<ChildReply> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.process.send({ type, id } satisfies ChildRequest);
    });
  }

  /** CPU time and event-loop utilisation of the child since the previous sample. */
  async sample(): Promise<CpuSample> {
    const reply = await this.request('sample');
    if (reply.type !== 'sample') throw new Error(`unexpected reply ${reply.type}`);
    return reply.sample;
  }

  /** The upstream child: the newest chat-completions body it received. */
  async lastRequest(): Promise<unknown> {
    const reply = await this.request('lastRequest');
    if (reply.type !== 'lastRequest') throw new Error(`unexpected reply ${reply.type}`);
    return reply.body;
  }

  /** The server child: resolves when no run is active any more; returns how many still are. */
  async idle(): Promise<number> {
    const reply = await this.request('idle');
    if (reply.type !== 'idle') throw new Error(`unexpected reply ${reply.type}`);
    return reply.activeRuns;
  }

  async close(): Promise<void> {
    if (this.process.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.process.once('exit', () => resolve()));
    this.process.send({ type: 'close', id: this.nextId++ } satisfies ChildRequest);
    await exited;
  }
}
