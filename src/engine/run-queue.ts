import { createHash } from 'node:crypto';
import PgBoss from 'pg-boss';
import type { JsonObject } from '../protocol/types.js';

/**
 * Background runs go through a queue so that any node may take one, and a run whose node died
 * is taken again by another (design §5). On PostgreSQL the queue is pg-boss (jobs are rows, taken
 * with SKIP LOCKED, retried with back-off); on SQLite, one process serves the file, so the same
 * interface hands the run to this process at once.
 *
 * A job only names the run; the run's state is its event log. Whoever takes a job claims the
 * interaction (run-store.ts), reads its stored events and continues after them.
 */

/** What a job carries: enough to prepare the run again on any node. */
export interface QueuedRun {
  interactionId: string;
  project: string;
  /**
   * The create request's body as the client sent it, but for its credentials (the `headers` of
   * MCP tool entries): those are `sealed` beside it, or `withheld` (job-secrets.ts).
   */
  body: JsonObject;
  sealed?: string;
  withheld?: string[];
  requestId?: string;
}

export type RunJobHandler = (run: QueuedRun) => Promise<void>;

export interface RunQueue {
  /** True when a job outlives the process that sent it (PostgreSQL). */
  readonly durable: boolean;
  start(handler: RunJobHandler): Promise<void>;
  /**
   * Records the run's job. `heldBy`: the node that sends it runs it at once, so the job waits
   * (for a day) and is only handed out when `retake` says that node died.
   */
  enqueue(run: QueuedRun, options?: { heldBy?: string }): Promise<void>;
  /** Makes the job of a run whose node died available again (a retry, with back-off). */
  retake(interactionId: string, reason: string): Promise<void>;
  /**
   * A run nobody owns whose job is stuck: taken (active) since before `staleBefore` by a node
   * that died before it claimed the run, or failed for good. Its job is made available again.
   */
  reviveStalled(interactionId: string, staleBefore: Date): Promise<boolean>;
  /** Gives up the job of a run for good (its terminal state was written). */
  drop(interactionId: string): Promise<void>;
  /** Stops taking jobs; jobs running here keep running (their runs end on their own). */
  stop(): Promise<void>;
  /** Lets go of the queue (after the runs here ended). */
  close(): Promise<void>;
}

/** SQLite: no other node exists, so a run is handed to this process at once. */
export class InProcessRunQueue implements RunQueue {
  readonly durable = false;
  private handler: RunJobHandler | undefined;
  private stopped = false;

  async start(handler: RunJobHandler): Promise<void> {
    this.handler = handler;
  }

  async enqueue(run: QueuedRun, options: { heldBy?: string } = {}): Promise<void> {
    if (options.heldBy !== undefined) return;
    if (!this.handler || this.stopped) throw new Error('the run queue is not running');
    void this.handler(run).catch(() => {});
  }

  async retake(): Promise<void> {}
  async reviveStalled(): Promise<boolean> {
    return false;
  }
  async drop(): Promise<void> {}

  async stop(): Promise<void> {
    this.stopped = true;
  }

  async close(): Promise<void> {}
}

export interface PgRunQueueOptions {
  connectionString: string;
  /** Runs this node executes at once. */
  concurrency: number;
  /** How often an idle node asks for jobs. */
  pollMs: number;
  /** Retries pg-boss allows a job (our own attempt count stops a poisoned run first). */
  retryLimit: number;
  /** A job active this long is failed by pg-boss's supervisor (a last resort: the run's deadline plus a margin). */
  expireInSeconds: number;
  onError: (err: unknown) => void;
}

export const RUN_QUEUE = 'interaction-runs';
/** How long the job of a run its own node runs waits before anyone else may take it. */
const HELD_MS = 24 * 3_600_000;

/** pg-boss job ids are UUIDs: one per interaction, derived from its id, so any node can name it. */
export function runJobId(interactionId: string): string {
  const h = createHash('sha256').update(interactionId).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * pg-boss 10 (the newest line that runs on Node 20). Its `work()` takes one batch at a time and
 * waits for the whole batch, so this node asks with `fetch()` for as many jobs as it has free
 * places, runs each on its own, and completes or fails each as it ends.
 */
export class PgRunQueue implements RunQueue {
  readonly durable = true;
  private readonly boss: PgBoss;
  private handler: RunJobHandler | undefined;
  private active = 0;
  private stopped = false;
  private wake: (() => void) | null = null;
  private loop: Promise<void> | null = null;

  constructor(private readonly o: PgRunQueueOptions) {
    this.boss = new PgBoss({
      connectionString: o.connectionString,
      max: 4,
      schema: 'pgboss',
      // Expired jobs (the last resort after a node died) are failed by whichever node supervises.
      supervise: true,
      maintenanceIntervalSeconds: 30,
      schedule: false,
    });
    this.boss.on('error', (err) => o.onError(err));
  }

  async start(handler: RunJobHandler): Promise<void> {
    this.handler = handler;
    await this.boss.start();
    await this.boss.createQueue(RUN_QUEUE, {
      name: RUN_QUEUE,
      retryLimit: this.o.retryLimit,
      // Takeovers should be prompt; a poisoned run is stopped by our own attempt count.
      retryDelay: 1,
      retryBackoff: false,
      expireInSeconds: this.o.expireInSeconds,
    });
    this.loop = this.takeJobs();
  }

  async enqueue(run: QueuedRun, options: { heldBy?: string } = {}): Promise<void> {
    await this.boss.send(RUN_QUEUE, run as unknown as object, {
      id: runJobId(run.interactionId),
      ...(options.heldBy !== undefined ? { startAfter: new Date(Date.now() + HELD_MS) } : {}),
    });
    this.wake?.();
  }

  async retake(interactionId: string, reason: string): Promise<void> {
    const id = runJobId(interactionId);
    // A held or active job goes to `retry` (handed out after the retry delay); one that used
    // up pg-boss's retries is given one more.
    await this.boss.fail(RUN_QUEUE, id, { message: reason });
    await this.boss.retry(RUN_QUEUE, id);
  }

  async drop(interactionId: string): Promise<void> {
    // Deleted rather than cancelled: the job holds the request body (its credentials sealed).
    await this.boss.deleteJob(RUN_QUEUE, runJobId(interactionId));
  }

  async reviveStalled(interactionId: string, staleBefore: Date): Promise<boolean> {
    const job = await this.boss.getJobById(RUN_QUEUE, runJobId(interactionId));
    if (!job) return false;
    const stalled =
      job.state === 'failed' ||
      (job.state === 'active' && job.startedOn < staleBefore) ||
      (job.state === 'created' && job.startAfter.getTime() > Date.now() + HELD_MS / 2);
    if (!stalled) return false;
    await this.retake(interactionId, 'the run was taken by a node that stopped before starting it');
    return true;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
  }

  async close(): Promise<void> {
    await this.stop();
    // Jobs whose runs just ended here get their outcome recorded first (bounded wait).
    for (let i = 0; this.active > 0 && i < 100; i++) await new Promise((r) => setTimeout(r, 50));
    await this.boss.stop({ graceful: false, wait: true, close: true });
  }

  private async takeJobs(): Promise<void> {
    while (!this.stopped) {
      const free = this.o.concurrency - this.active;
      let taken = 0;
      if (free > 0) {
        try {
          const jobs = await this.boss.fetch<QueuedRun>(RUN_QUEUE, { batchSize: free });
          taken = jobs.length;
          for (const job of jobs) this.runJob(job.id, job.data);
        } catch (err) {
          this.o.onError(err);
        }
      }
      if (this.stopped) break;
      if (taken === 0 || this.active >= this.o.concurrency) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.o.pollMs);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = null;
      }
    }
  }

  private runJob(id: string, run: QueuedRun): void {
    this.active += 1;
    this.handler!(run)
      .then(
        // The run ended: its job (and the request body it holds) goes.
        () => this.boss.deleteJob(RUN_QUEUE, id),
        (err: unknown) =>
          this.boss.fail(RUN_QUEUE, id, {
            message: err instanceof Error ? err.message : String(err),
          }),
      )
      .catch((err) => this.o.onError(err))
      .finally(() => {
        this.active -= 1;
        this.wake?.();
      });
  }
}
