/**
 * Runs ingestions in the background, in this process, at most `concurrency` at a time.
 *
 * The queue is the table of pending documents (file-search-store.ts): a node takes a document by
 * leasing it (one node only, even with several on one PostgreSQL: `FOR UPDATE SKIP LOCKED`),
 * renews the lease while it works, and ends it with the document's final state in the same
 * transaction as the index write. Crash recovery follows from that:
 *   - a node that restarts frees the leases its earlier life held (same `node_id`), so its
 *     pending documents are ingested again at once;
 *   - a lease of a node that died expires after `leaseMs`, and any node takes the document;
 *   - a document taken more than `maxAttempts` times (the server kept dying on it) fails with
 *     that reason instead of looping;
 *   - index rows are only ever written by the transaction that activates a document, so an
 *     interrupted ingestion leaves nothing to clean up.
 *
 * `IngestionQueue` is what the rest of the server sees; a Postgres-backed job queue (design §5)
 * can replace this runner by calling `DocumentIngestor.ingest` from its workers.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { ClaimedDocument, FileSearchStore } from '../store/file-search-store.js';
import { RPC } from './ingestion-ports.js';
import { documentName, type DocumentIngestor } from './ingestion.js';
import { iso } from './uploads.js';

export interface IngestionQueue {
  /** A document became pending: ingest it soon (on this node or another). */
  enqueue(): void;
  /** Recovers this node's interrupted work and starts taking documents. */
  start(): Promise<void>;
  /** Stops taking documents; running ones are interrupted and given back to the queue. */
  close(): Promise<void>;
}

export interface IngestionRunnerOptions {
  store: FileSearchStore;
  ingestor: DocumentIngestor;
  nodeId: string;
  /** Ingestions at once on this node. */
  concurrency: number;
  /** How long a lease lasts without renewal (renewed every third of it). */
  leaseMs: number;
  /** Attempts per document before it fails for good. */
  maxAttempts: number;
  /** How often the queue is looked at without a wake-up (other nodes' work, retries). */
  pollMs: number;
  /** First wait before a retryable failure is tried again (doubling per attempt). */
  retryMs: number;
  clock?: () => number;
  log?: Logger;
}

interface Running {
  claim: ClaimedDocument;
  controller: AbortController;
  done: Promise<void>;
}

export class LocalIngestionRunner implements IngestionQueue {
  private readonly running = new Map<string, Running>();
  private readonly clock: () => number;
  private pollTimer: NodeJS.Timeout | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** A fill is running; `again` asks it to look once more when it ends. */
  private filling: Promise<void> | undefined;
  private again = false;

  constructor(private readonly o: IngestionRunnerOptions) {
    this.clock = o.clock ?? Date.now;
  }

  async start(): Promise<void> {
    const freed = await this.o.store.releaseOwnerLeases(this.o.nodeId);
    if (freed > 0) {
      this.o.log?.warn({ count: freed }, 'resuming document ingestions interrupted by a restart');
    }
    this.pollTimer = setInterval(() => this.enqueue(), this.o.pollMs);
    this.pollTimer.unref();
    this.renewTimer = setInterval(() => void this.renew(), Math.max(50, this.o.leaseMs / 3));
    this.renewTimer.unref();
    this.enqueue();
  }

  enqueue(): void {
    if (this.closed) return;
    if (this.filling) {
      this.again = true;
      return;
    }
    this.filling = this.fill()
      .catch((err: unknown) => this.o.log?.warn({ err }, 'could not take pending documents'))
      .finally(() => {
        this.filling = undefined;
        if (this.again) {
          this.again = false;
          this.enqueue();
        }
      });
  }

  private async fill(): Promise<void> {
    while (!this.closed && this.running.size < this.o.concurrency) {
      const now = this.clock();
      const claims = await this.o.store.claimDocuments(
        this.o.nodeId,
        iso(now),
        iso(now + this.o.leaseMs),
        this.o.concurrency - this.running.size,
        () => randomBytes(12).toString('base64url'),
      );
      if (claims.length === 0) return;
      for (const claim of claims) this.launch(claim);
    }
  }

  private launch(claim: ClaimedDocument): void {
    const controller = new AbortController();
    const entry: Running = {
      claim,
      controller,
      done: this.runOne(claim, controller.signal)
        .catch((err: unknown) =>
          this.o.log?.error({ err, document: documentName(claim.document) }, 'ingestion crashed'),
        )
        .finally(() => {
          this.running.delete(claim.leaseToken);
          this.enqueue();
        }),
    };
    this.running.set(claim.leaseToken, entry);
  }

  private async runOne(claim: ClaimedDocument, signal: AbortSignal): Promise<void> {
    const { ingestor, store, maxAttempts } = this.o;
    if (claim.attempts > maxAttempts) {
      await ingestor.fail(claim, {
        code: RPC.ABORTED,
        message: `ingestion was interrupted ${claim.attempts - 1} times (the server stopped while ingesting it); giving up`,
      });
      return;
    }
    const outcome = await ingestor.ingest(claim, signal);
    if (outcome.kind === 'failed') {
      await ingestor.fail(claim, outcome.error);
    } else if (outcome.kind === 'retry') {
      if (claim.attempts >= maxAttempts) {
        await ingestor.fail(claim, outcome.error);
        return;
      }
      const wait = this.o.retryMs * 2 ** (claim.attempts - 1);
      this.o.log?.warn(
        { document: documentName(claim.document), reason: outcome.error.message, retry_ms: wait },
        'document ingestion will be retried',
      );
      await store.releaseLease(claim.leaseToken, iso(this.clock() + wait), true);
    } else if (outcome.kind === 'interrupted' && this.closed) {
      // Shut down: the document goes back to the queue at once, and this try does not count.
      await store.releaseLease(claim.leaseToken, null, false);
    }
  }

  /** Extends this node's leases; an ingestion whose lease was taken over is stopped. */
  private async renew(): Promise<void> {
    if (this.running.size === 0) return;
    const tokens = [...this.running.keys()];
    try {
      const held = await this.o.store.renewLeases(
        this.o.nodeId,
        tokens,
        iso(this.clock() + this.o.leaseMs),
      );
      for (const token of tokens) {
        if (!held.has(token)) this.running.get(token)?.controller.abort(new Error('lease lost'));
      }
    } catch (err) {
      this.o.log?.warn({ err }, 'could not renew ingestion leases');
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.pollTimer);
    clearInterval(this.renewTimer);
    await this.filling;
    const running = [...this.running.values()];
    for (const r of running) r.controller.abort(new Error('shutdown'));
    await Promise.all(running.map((r) => r.done));
  }
}
