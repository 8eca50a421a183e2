import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * Checkpoints a SQLite file's write-ahead log on a worker thread of its own.
 *
 * By default the connection whose commit pushes the WAL past 1,000 pages copies them back into
 * the database file and syncs it, inside that COMMIT: on the server that is the event loop, which
 * stood still for it (with many small group commits, a third of the time spent in SQLite went to
 * checkpoints, mostly waiting for fsync). Here a second connection on a worker thread runs a
 * PASSIVE checkpoint every `everyMs` (it never blocks the writer or readers); the server's own
 * connection keeps a much larger automatic checkpoint only as a backstop, should this thread
 * ever fall behind.
 *
 * The worker is a few lines of CommonJS run with `eval`, so it needs no loader when the server
 * runs from TypeScript sources; it gets better-sqlite3's resolved path.
 */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 0');
const checkpoint = () => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // busy or closing: the next round tries again
  }
};
const timer = setInterval(checkpoint, workerData.everyMs);
parentPort.on('message', () => {
  clearInterval(timer);
  checkpoint();
  db.close();
  parentPort.close();
});
`;

/** The server connection's automatic checkpoint while a checkpointer runs (pages, ~40 MB). */
export const BACKSTOP_CHECKPOINT_PAGES = 10_000;

export interface WalCheckpointer {
  /** Checkpoints once more, closes the worker's connection and lets the thread end. */
  close(): void;
}

export function startWalCheckpointer(file: string, everyMs = 200): WalCheckpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER, { eval: true, workerData: { driver, file, everyMs } });
  // A checkpointer that fails to start or dies leaves the backstop in charge; nothing to crash.
  worker.on('error', () => {});
  worker.unref();
  return { close: () => worker.postMessage('close') };
}
