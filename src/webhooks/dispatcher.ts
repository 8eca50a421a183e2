import { createHash, randomUUID } from 'node:crypto';
import PgBoss from 'pg-boss';
import { UnsafeUrlError } from '../net/address-policy.js';
import type {
  DeliveryRecord,
  FanOutContext,
  SqlExecutor,
  WebhookStore,
} from '../store/webhook-store.js';
import type { Config } from '../config.js';
import { postWebhook } from './post.js';
import { SecretSealer, signDelivery } from './secrets.js';

/**
 * Delivers webhook events at least once (docs/webhooks.md).
 *
 * 1. The outbox: an interaction's terminal state and its event row are written in one
 *    transaction (webhook-store.ts `recordWebhookEvent`).
 * 2. Fan-out: every node looks for events not fanned out yet; one claims each and turns it into
 *    deliveries (one per target: each `webhook_config.uris` entry, or else each subscribed
 *    webhook of the project), in one transaction with their jobs on PostgreSQL.
 * 3. Delivery: on PostgreSQL each delivery is a pg-boss job on its own queue (any node takes it;
 *    a failed attempt fails the job and pg-boss retries it with exponential back-off); on SQLite
 *    an in-process worker takes due rows of the same table (`next_attempt`), so pending
 *    deliveries survive a restart either way. A delivery keeps its `webhook-id` on every attempt
 *    and is given up when older than `max_age_hours`; a webhook that fails `max_failures`
 *    attempts in a row is disabled and its pending deliveries are given up.
 */

export const DELIVERY_QUEUE = 'webhook-deliveries';
const SWEEP_EVERY_MS = 3_600_000;

type WebhookSettings = Config['webhooks'];

export interface DispatcherOptions {
  store: WebhookStore;
  settings: WebhookSettings;
  sealer: SecretSealer;
  /** PostgreSQL: deliveries ride pg-boss; absent (SQLite): the in-process worker. */
  pg?: { connectionString: string };
  onError: (err: unknown, message: string) => void;
  clock?: () => number;
}

interface DeliveryJob {
  delivery_id: string;
}

type Outcome = 'done' | 'retry';

/** pg-boss job ids are UUIDs: one per delivery, derived from its id. */
function jobId(deliveryId: string): string {
  const h = createHash('sha256').update(`webhook:${deliveryId}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export const newDeliveryId = () => `msg_${randomUUID().replace(/-/g, '')}`;

const iso = (ms: number) => new Date(ms).toISOString();

export class WebhookDispatcher {
  private readonly boss: PgBoss | undefined;
  private readonly now: () => number;
  private stopped = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private readonly inFlight = new Set<string>();
  private readonly running = new Set<Promise<void>>();

  constructor(private readonly o: DispatcherOptions) {
    this.now = o.clock ?? Date.now;
    if (o.pg) {
      this.boss = new PgBoss({
        connectionString: o.pg.connectionString,
        max: 2,
        schema: 'pgboss',
        supervise: true,
        maintenanceIntervalSeconds: 30,
        schedule: false,
      });
      this.boss.on('error', (err) => o.onError(err, 'webhook queue error'));
    }
  }

  async start(): Promise<void> {
    if (this.boss) {
      await this.boss.start();
      const { settings } = this.o;
      await this.boss.createQueue(DELIVERY_QUEUE, {
        name: DELIVERY_QUEUE,
        // The delivery's age stops it first (max_age_hours); this only backs that up.
        retryLimit: 1000,
        retryDelay: Math.max(1, Math.round(settings.initial_backoff_ms / 1000)),
        retryBackoff: true,
        expireInSeconds: Math.ceil(settings.timeout_seconds) + 60,
        retentionMinutes: Math.ceil(settings.max_age_hours * 60) + 60,
      });
    }
    this.loop = this.run();
  }

  /** Looks for work now (a new event or delivery was just written here). */
  nudge(): void {
    this.wake?.();
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
    await Promise.allSettled([...this.running]);
    await this.boss?.stop({ graceful: false, wait: true, close: true });
  }

  /** Writes deliveries made outside an event (`:ping`) and queues them. */
  async enqueue(deliveries: DeliveryRecord[]): Promise<void> {
    await this.o.store.addDeliveries(deliveries, this.enqueueJobs);
    this.nudge();
  }

  /** A fresh pending delivery, due now. */
  newDelivery(
    fields: Pick<
      DeliveryRecord,
      'eventId' | 'project' | 'target' | 'webhookId' | 'uri' | 'payload'
    >,
  ): DeliveryRecord {
    const now = iso(this.now());
    return {
      id: newDeliveryId(),
      ...fields,
      state: 'pending',
      attempts: 0,
      nextAttempt: now,
      lastError: null,
      created: now,
      updated: now,
    };
  }

  /** PostgreSQL: the deliveries' jobs, inserted in the transaction that inserts the rows. */
  private get enqueueJobs() {
    const boss = this.boss;
    if (!boss) return undefined;
    return async (executor: SqlExecutor, deliveries: DeliveryRecord[]) => {
      await boss.insert(
        deliveries.map((d) => ({
          name: DELIVERY_QUEUE,
          id: jobId(d.id),
          data: { delivery_id: d.id } satisfies DeliveryJob,
        })),
        { db: executor } as never,
      );
    };
  }

  private async run(): Promise<void> {
    let lastSweep = 0;
    while (!this.stopped) {
      let busy = false;
      try {
        if (this.now() - lastSweep > SWEEP_EVERY_MS) {
          // Settled deliveries are kept a day past the retry window (for operators), then go.
          lastSweep = this.now();
          const keepMs = this.o.settings.max_age_hours * 3_600_000 + 86_400_000;
          await this.o.store.sweep(iso(this.now() - keepMs));
        }
        busy = (await this.fanOut()) || busy;
        busy = (await this.takeDeliveries()) || busy;
      } catch (err) {
        this.o.onError(err, 'webhook dispatch failed (retrying)');
      }
      if (this.stopped) break;
      if (!busy || this.inFlight.size >= this.o.settings.concurrency) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.o.settings.poll_ms);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = null;
      }
    }
  }

  /** Fans out pending events; true when there were any. */
  private async fanOut(): Promise<boolean> {
    const events = await this.o.store.pendingEvents(50);
    for (const event of events) {
      await this.o.store.fanOut(event, (context) => this.plan(context), this.enqueueJobs);
    }
    return events.length > 0;
  }

  /** The deliveries of one event: the request's URIs if it named any, else subscribed webhooks. */
  private plan({ event, request, webhooks }: FanOutContext): DeliveryRecord[] {
    const config = (request?.webhook_config ?? undefined) as
      { uris?: string[]; user_metadata?: Record<string, unknown> } | undefined;
    const status = event.type.slice('interaction.'.length);
    const payload = JSON.stringify({
      type: event.type,
      timestamp: event.created,
      data: {
        id: event.interactionId,
        object: 'interaction',
        status,
        ...(config?.user_metadata !== undefined ? { user_metadata: config.user_metadata } : {}),
      },
    });
    const base = { eventId: event.id, project: event.project, payload };
    // Google: "If set, these webhook URIs will be used instead of the registered webhooks."
    if (config?.uris && config.uris.length > 0) {
      return [...new Set(config.uris)].map((uri) =>
        this.newDelivery({ ...base, target: `uri:${uri}`, webhookId: null, uri }),
      );
    }
    return webhooks.map((w) =>
      this.newDelivery({ ...base, target: w.id, webhookId: w.id, uri: w.uri }),
    );
  }

  /** Starts attempts up to the concurrency; true when it started any. */
  private async takeDeliveries(): Promise<boolean> {
    const free = this.o.settings.concurrency - this.inFlight.size;
    if (free <= 0) return false;
    if (this.boss) {
      const jobs = await this.boss.fetch<DeliveryJob>(DELIVERY_QUEUE, { batchSize: free });
      for (const job of jobs) {
        this.track(job.data.delivery_id, async () => {
          const outcome = await this.attempt(job.data.delivery_id);
          if (outcome === 'done') await this.boss!.deleteJob(DELIVERY_QUEUE, job.id);
          else await this.boss!.fail(DELIVERY_QUEUE, job.id, { message: 'delivery failed' });
        });
      }
      return jobs.length > 0;
    }
    const due = (await this.o.store.dueDeliveries(iso(this.now()), free + this.inFlight.size))
      .filter((d) => !this.inFlight.has(d.id))
      .slice(0, free);
    for (const d of due) this.track(d.id, () => this.attempt(d.id).then(() => {}));
    return due.length > 0;
  }

  private track(deliveryId: string, work: () => Promise<void>): void {
    this.inFlight.add(deliveryId);
    const p = work()
      .catch((err) => this.o.onError(err, 'webhook delivery attempt failed to record'))
      .finally(() => {
        this.inFlight.delete(deliveryId);
        this.running.delete(p);
        this.wake?.();
      });
    this.running.add(p);
  }

  /** One attempt of one delivery, its outcome recorded. */
  private async attempt(deliveryId: string): Promise<Outcome> {
    const { store, settings, sealer } = this.o;
    const delivery = await store.getDelivery(deliveryId);
    if (!delivery || delivery.state !== 'pending') return 'done';
    const started = this.now();
    const nowIso = iso(started);
    const giveUp = async (error: string) => {
      await store.settle(delivery.id, {
        state: 'failed',
        attempts: delivery.attempts,
        error,
        now: nowIso,
      });
      return 'done' as const;
    };

    let secrets: string[] = [];
    const isPing = delivery.eventId.startsWith('ping_');
    if (delivery.webhookId) {
      const webhook = await store.getById(delivery.webhookId);
      if (!webhook) return giveUp('the webhook was deleted');
      if (webhook.state !== 'enabled' && !isPing) return giveUp(`the webhook is ${webhook.state}`);
      secrets = webhook.secrets
        .filter((s) => !s.expire_time || Date.parse(s.expire_time) > started)
        .map((s) => sealer.open(s.sealed))
        .filter((s): s is string => s !== undefined);
    } else if (settings.request_signing_secret) {
      secrets = [settings.request_signing_secret];
    }

    const headers: Record<string, string> = {
      'webhook-id': delivery.id,
      'webhook-timestamp': String(Math.floor(started / 1000)),
    };
    if (secrets.length > 0) {
      headers['webhook-signature'] = signDelivery(
        secrets,
        delivery.id,
        new Date(started),
        delivery.payload,
      );
    }
    let error: string;
    try {
      const { status } = await postWebhook(delivery.uri, delivery.payload, headers, {
        allowPrivate: settings.allow_private,
        allowedHosts: settings.allowed_hosts,
        timeoutMs: settings.timeout_seconds * 1000,
      });
      if (status >= 200 && status < 300) {
        await store.settle(delivery.id, {
          state: 'delivered',
          attempts: delivery.attempts + 1,
          now: iso(this.now()),
        });
        if (delivery.webhookId) await store.resetFailures(delivery.webhookId);
        return 'done';
      }
      error = `the receiver answered HTTP ${status}`;
    } catch (err) {
      error =
        err instanceof UnsafeUrlError
          ? `refused by the address policy: ${err.message}`
          : `could not deliver: ${(err as Error).message}`;
    }

    const attempts = delivery.attempts + 1;
    const now = this.now();
    if (delivery.webhookId && !isPing) {
      const disabled = await store.recordFailure(
        delivery.webhookId,
        settings.max_failures,
        iso(now),
      );
      if (disabled) {
        await store.failPendingOf(
          delivery.webhookId,
          'the webhook was disabled after repeated failed deliveries',
          iso(now),
        );
        return 'done';
      }
    }
    const backoff = Math.min(
      settings.initial_backoff_ms * 2 ** Math.min(attempts - 1, 30),
      settings.max_backoff_ms,
    );
    const next = now + backoff;
    if (next - Date.parse(delivery.created) > settings.max_age_hours * 3_600_000) {
      await store.settle(delivery.id, { state: 'failed', attempts, error, now: iso(now) });
      return 'done';
    }
    await store.settle(delivery.id, {
      state: 'pending',
      attempts,
      nextAttempt: iso(next),
      error,
      now: iso(now),
    });
    return 'retry';
  }
}
