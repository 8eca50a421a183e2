import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** The HTTP side every scripted upstream shares: a real server on 127.0.0.1 with held requests. */
export interface ScriptedServer {
  port: number;
  /** Parks the calling request until `release()`. */
  hold(): Promise<void>;
  /** Lets every held request go on. */
  release(): void;
  /** Tells waiters how many requests have been recorded so far. */
  recorded(count: number): void;
  /** Resolves once `count` requests have been recorded. */
  waitForRequests(count: number): Promise<void>;
  /** Resolves once `hold()` has been called `count` times in all. */
  waitForHeld(count: number): Promise<void>;
  close(): Promise<void>;
}

export async function startScriptedServer(
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
): Promise<ScriptedServer> {
  let held: Array<() => void> = [];
  let waiters: Array<{ count: number; resolve: () => void }> = [];
  let heldWaiters: Array<{ count: number; resolve: () => void }> = [];
  let seen = 0;
  let heldTotal = 0;
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const scripted: ScriptedServer = {
    port: (server.address() as AddressInfo).port,
    hold: () =>
      new Promise<void>((r) => {
        held.push(r);
        heldTotal += 1;
        heldWaiters = heldWaiters.filter((w) =>
          heldTotal >= w.count ? (w.resolve(), false) : true,
        );
      }),
    release() {
      for (const r of held.splice(0)) r();
    },
    recorded(count) {
      seen = count;
      waiters = waiters.filter((w) => (count >= w.count ? (w.resolve(), false) : true));
    },
    waitForRequests(count) {
      if (seen >= count) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ count, resolve }));
    },
    waitForHeld(count) {
      if (heldTotal >= count) return Promise.resolve();
      return new Promise((resolve) => heldWaiters.push({ count, resolve }));
    },
    async close() {
      scripted.release();
      held = [];
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  return scripted;
}
