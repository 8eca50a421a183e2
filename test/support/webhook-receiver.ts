import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a receiver got, exactly as it arrived. */
export interface ReceivedDelivery {
  path: string;
  headers: Record<string, string>;
  body: string;
  /** What the receiver answered. */
  status: number;
}

/**
 * A webhook receiver on 127.0.0.1: records every request and answers `status(request)` (200 by
 * default). `down()` closes its port (connections are refused); `up()` listens on the same port
 * again.
 */
export interface WebhookReceiver {
  url: string;
  port: number;
  received: ReceivedDelivery[];
  status: (path: string) => number;
  down(): Promise<void>;
  up(): Promise<void>;
  /** Resolves when `predicate` holds for the received requests (polled; generous limit). */
  waitFor(predicate: (received: ReceivedDelivery[]) => boolean, what: string): Promise<void>;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  let server: Server | undefined;
  let port = 0;
  const receiver: WebhookReceiver = {
    url: '',
    port: 0,
    received: [],
    status: () => 200,
    async down() {
      const s = server;
      server = undefined;
      if (!s) return;
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    async up() {
      const s = createServer((req, res) => {
        void readBody(req).then((body) => {
          const path = req.url ?? '/';
          const status = receiver.status(path);
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(req.headers))
            if (typeof v === 'string') headers[k] = v;
          receiver.received.push({ path, headers, body, status });
          res.writeHead(status, { 'content-type': 'text/plain' }).end('ok');
        });
      });
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, '127.0.0.1', () => resolve());
      });
      port = (s.address() as AddressInfo).port;
      receiver.port = port;
      receiver.url = `http://127.0.0.1:${port}`;
      server = s;
    },
    async waitFor(predicate, what) {
      const limit = Date.now() + 90_000;
      while (!predicate(receiver.received)) {
        if (Date.now() > limit) {
          throw new Error(
            `timed out waiting for ${what}; received ${receiver.received.length}: ${JSON.stringify(
              receiver.received.map((r) => [r.path, r.status, r.headers['webhook-id']]),
            )}`,
          );
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async close() {
      await receiver.down();
    },
  };
  await receiver.up();
  return receiver;
}
