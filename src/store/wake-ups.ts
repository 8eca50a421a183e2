import { EventEmitter } from 'node:events';
import pg from 'pg';

/**
 * Cross-node wake-ups (design §5): a node tells the others that an interaction has new durable
 * events, that a cancel was requested, that an interaction was deleted, or that keys changed.
 * On PostgreSQL this is LISTEN/NOTIFY on one connection per node; elsewhere (SQLite, or NOTIFY
 * switched off) only this process hears them. A wake-up is a hint, never the truth: whoever
 * wakes reads the store, and every reader still polls as the fallback (a NOTIFY sent while a
 * node was reconnecting is lost).
 */
export type WakeTopic = 'events' | 'cancel' | 'delete' | 'keys';

const TOPICS: ReadonlySet<string> = new Set(['events', 'cancel', 'delete', 'keys']);
const CHANNEL = 'oi_wake';
/** NOTIFY payloads must stay under 8000 bytes. */
const MAX_PAYLOAD = 7000;

export interface WakeUps {
  /** Tells every node, this one included; sent in one NOTIFY per topic and turn of the loop. */
  publish(topic: WakeTopic, id: string): void;
  on(topic: WakeTopic, listener: (id: string) => void): () => void;
  close(): Promise<void>;
}

/** One process: a wake-up reaches only the listeners here. */
export class LocalWakeUps implements WakeUps {
  protected readonly emitter = new EventEmitter().setMaxListeners(0);

  publish(topic: WakeTopic, id: string): void {
    queueMicrotask(() => this.emitter.emit(topic, id));
  }

  on(topic: WakeTopic, listener: (id: string) => void): () => void {
    this.emitter.on(topic, listener);
    return () => this.emitter.off(topic, listener);
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}

export interface PgWakeUpsOptions {
  connectionString: string;
  onError?: (err: unknown) => void;
  /** Wait before reconnecting after the listening connection broke. */
  reconnectMs?: number;
}

/** LISTEN/NOTIFY on a dedicated connection, reconnected when it breaks. */
export class PgWakeUps extends LocalWakeUps {
  private client: pg.Client | null = null;
  private closed = false;
  private readonly pending = new Map<WakeTopic, Set<string>>();
  private flushing = false;

  constructor(private readonly o: PgWakeUpsOptions) {
    super();
  }

  async start(): Promise<void> {
    await this.connect();
  }

  override publish(topic: WakeTopic, id: string): void {
    let ids = this.pending.get(topic);
    if (!ids) {
      ids = new Set();
      this.pending.set(topic, ids);
    }
    ids.add(id);
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => void this.flush());
    }
  }

  override async close(): Promise<void> {
    this.closed = true;
    await super.close();
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => {});
  }

  private async flush(): Promise<void> {
    const batch = [...this.pending];
    this.pending.clear();
    this.flushing = false;
    const client = this.client;
    for (const [topic, ids] of batch) {
      if (!client) {
        // Not connected: this node's own readers still hear it; the others poll.
        for (const id of ids) this.emitter.emit(topic, id);
        continue;
      }
      for (const payload of payloads(topic, [...ids])) {
        await client.query('select pg_notify($1, $2)', [CHANNEL, payload]).catch((err) => {
          this.o.onError?.(err);
          for (const id of ids) this.emitter.emit(topic, id);
        });
      }
    }
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.o.connectionString });
    const retry = () => {
      if (this.client === client) this.client = null;
      client.end().catch(() => {});
      if (this.closed) return;
      const timer = setTimeout(() => void this.connect(), this.o.reconnectMs ?? 1000);
      timer.unref();
    };
    client.on('error', (err) => {
      this.o.onError?.(err);
      retry();
    });
    client.on('notification', (message) => {
      if (message.channel !== CHANNEL || !message.payload) return;
      const colon = message.payload.indexOf(':');
      const topic = message.payload.slice(0, colon);
      if (!TOPICS.has(topic)) return;
      for (const id of message.payload.slice(colon + 1).split(',')) {
        if (id) this.emitter.emit(topic, id);
      }
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
      this.client = client;
    } catch (err) {
      this.o.onError?.(err);
      retry();
    }
  }
}

/** `topic:id,id,…`, split so that no payload exceeds NOTIFY's limit. */
function payloads(topic: string, ids: string[]): string[] {
  const out: string[] = [];
  let current = '';
  for (const id of ids) {
    if (current && current.length + id.length + topic.length + 2 > MAX_PAYLOAD) {
      out.push(`${topic}:${current}`);
      current = '';
    }
    current = current ? `${current},${id}` : id;
  }
  if (current) out.push(`${topic}:${current}`);
  return out;
}
