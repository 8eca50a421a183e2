import Database from 'better-sqlite3';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import type { StoreKind, TestDatabase } from './databases.js';

/**
 * Makes a real store unavailable to a server under test, and available again, without touching
 * the server: PostgreSQL behind a TCP proxy on 127.0.0.1 that cuts its connections and refuses
 * new ones; SQLite locked by another connection holding `BEGIN EXCLUSIVE` (writes then fail with
 * SQLITE_BUSY once the busy timeout passes; reads go on, as they do in WAL mode).
 */
export interface StoreOutage {
  /** The database URL the server under test uses (through the proxy on PostgreSQL). */
  url: string;
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function createStoreOutage(kind: StoreKind, db: TestDatabase): Promise<StoreOutage> {
  return kind === 'sqlite' ? sqliteLock(db) : postgresProxy(db);
}

function sqliteLock(db: TestDatabase): StoreOutage {
  const path = db.url.slice('sqlite:'.length);
  let holder: Database.Database | null = null;
  const restore = () => {
    holder?.exec('ROLLBACK');
    holder?.close();
    holder = null;
  };
  return {
    url: db.url,
    cut() {
      if (holder) return;
      holder = new Database(path);
      holder.pragma('busy_timeout = 5000');
      holder.exec('BEGIN EXCLUSIVE');
    },
    restore,
    close: async () => restore(),
  };
}

async function postgresProxy(db: TestDatabase): Promise<StoreOutage> {
  const target = new URL(db.url);
  const sockets = new Set<Socket>();
  let down = false;
  const proxy = createServer((client) => {
    if (down) {
      client.resetAndDestroy();
      return;
    }
    const server = connect(Number(target.port || 5432), target.hostname);
    const drop = () => {
      for (const s of [client, server]) {
        sockets.delete(s);
        s.destroy();
      }
    };
    for (const s of [client, server]) {
      sockets.add(s);
      s.on('error', drop);
      s.on('close', drop);
    }
    client.pipe(server);
    server.pipe(client);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const url = new URL(db.url);
  url.hostname = '127.0.0.1';
  url.port = String((proxy.address() as AddressInfo).port);
  const cut = () => {
    down = true;
    for (const s of sockets) s.resetAndDestroy();
    sockets.clear();
  };
  return {
    url: url.toString(),
    cut,
    restore: () => {
      down = false;
    },
    async close() {
      cut();
      await new Promise<void>((r) => proxy.close(() => r()));
    },
  };
}
