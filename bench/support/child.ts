/**
 * A benchmark child process: `upstream` (the scripted fake upstream), `proxy <upstreamUrl>` (a bare
 * undici.request pass-through, the floor) or `server <upstreamUrl>
 * <databaseUrl> [nodeId] [no-notify]` (the real server; several on one PostgreSQL database need
 * distinct node ids, the default `<hostname>:<port>` is the same for all; `no-notify` turns off
 * the LISTEN/NOTIFY wake-ups). Each runs in its own process so the load generator, the
 * server and the upstream do not share one event loop. Talks to the parent over IPC.
 */
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { request as undiciRequest } from 'undici';
import { createServer } from '../../src/server.js';
import { testConfig } from '../../test/support/harness.js';
import {
  echoScript,
  lastUserText,
  startFakeUpstream,
  type UpstreamScript,
} from '../../test/support/fake-upstream.js';
import type { ChildReply, ChildRequest, CpuSample } from './processes.js';

const send = (message: ChildReply) => process.send!(message);

let lastCpu = process.cpuUsage();
let lastElu = performance.eventLoopUtilization();
const delay = monitorEventLoopDelay({ resolution: 5 });
delay.enable();
function sample(): CpuSample {
  const cpu = process.cpuUsage(lastCpu);
  const elu = performance.eventLoopUtilization(lastElu);
  lastCpu = process.cpuUsage();
  lastElu = performance.eventLoopUtilization();
  const maxEventLoopDelayMs = delay.max / 1e6;
  delay.reset();
  return {
    userMs: cpu.user / 1000,
    systemMs: cpu.system / 1000,
    eventLoopUtilization: elu.utilization,
    maxEventLoopDelayMs,
  };
}

/**
 * An input `CHUNKS:<n>` is answered with n text chunks of one short word each (a long stream:
 * the per-chunk cost of whatever sits between the client and the upstream).
 */
const chunksScript: UpstreamScript = (body, index) => {
  const match = /^CHUNKS:(\d+)$/.exec(lastUserText(body));
  if (!match) return echoScript(body, index);
  return {
    text: Array.from({ length: Number(match[1]) }, (_, i) => `w${i} `),
    usage: { prompt_tokens: 10, completion_tokens: Number(match[1]) },
  };
};

/**
 * `upstream raw-json`: answers an input `JSON:<text>` with <text> verbatim and echoes the first
 * 100 characters of anything else (a hostile 30 MB input measures the server's input path, not a
 * 30 MB answer).
 */
const rawJsonScript: UpstreamScript = (body, index) => {
  const last = [...body.messages].reverse().find((m) => m.role === 'user');
  const text =
    typeof last?.content === 'string'
      ? last.content
      : ((last?.content as { text?: string }[] | undefined)?.[0]?.text ?? '');
  if (text.startsWith('JSON:')) return { text: [text.slice(5)] };
  return { ...echoScript(body, index), text: [`echo: ${text.slice(0, 100)}`] };
};

async function main(): Promise<void> {
  const [role, ...args] = process.argv.slice(2);
  if (role === 'upstream') {
    const upstream = await startFakeUpstream(args[0] === 'raw-json' ? rawJsonScript : chunksScript);
    // The fake records every request body for tests; keep only the newest so memory stays flat.
    let last: unknown;
    const trim = setInterval(() => {
      if (upstream.requests.length > 0) last = upstream.requests[upstream.requests.length - 1];
      upstream.requests.length = 0;
    }, 500);
    trim.unref();
    process.on('message', async (message: ChildRequest) => {
      if (message.type === 'sample') send({ type: 'sample', id: message.id, sample: sample() });
      else if (message.type === 'lastRequest') {
        send({
          type: 'lastRequest',
          id: message.id,
          body: upstream.requests[upstream.requests.length - 1] ?? last,
        });
      } else if (message.type === 'close') {
        await upstream.close();
        send({ type: 'closed', id: message.id });
        process.exit(0);
      }
    });
    send({ type: 'ready', url: upstream.url });
    return;
  }
  if (role === 'proxy') {
    // The floor: a bare pass-through (node:http in, undici.request out, the body piped back
    // chunk by chunk) in front of the same upstream — no parsing, no storage.
    const upstreamOrigin = new URL(args[0]!).origin;
    const proxy = createHttpServer((req, res) => {
      const body: Buffer[] = [];
      req.on('data', (c: Buffer) => body.push(c));
      req.on('end', () => {
        undiciRequest(upstreamOrigin + req.url, {
          method: 'POST',
          headers: {
            'content-type': req.headers['content-type'] ?? 'application/json',
            authorization: req.headers.authorization ?? '',
          },
          body: Buffer.concat(body),
        }).then(
          async (up) => {
            res.writeHead(up.statusCode, {
              'content-type': String(up.headers['content-type'] ?? 'text/event-stream'),
            });
            for await (const chunk of up.body) res.write(chunk);
            res.end();
          },
          () => res.writeHead(502).end(),
        );
      });
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const { port } = proxy.address() as AddressInfo;
    process.on('message', (message: ChildRequest) => {
      if (message.type === 'sample') send({ type: 'sample', id: message.id, sample: sample() });
      else if (message.type === 'close') {
        proxy.closeAllConnections();
        proxy.close();
        send({ type: 'closed', id: message.id });
        process.exit(0);
      }
    });
    send({ type: 'ready', url: `http://127.0.0.1:${port}` });
    return;
  }
  if (role === 'server') {
    const [upstreamUrl, databaseUrl, nodeId, notify] = args as (string | undefined)[];
    // The test config (openai-compatible `gemini-*` → the fake upstream, keys A and B) with the
    // default server settings (the tests shorten the SSE keep-alive).
    const config = testConfig(upstreamUrl!, {
      server: {
        ...(nodeId === undefined ? {} : { node_id: nodeId }),
        ...(notify === 'no-notify' ? { notify: false } : {}),
      },
    });
    const server = await createServer({ config, databaseUrl: databaseUrl!, logger: false });
    const address = await server.listen('127.0.0.1', 0);
    process.on('message', async (message: ChildRequest) => {
      if (message.type === 'sample') send({ type: 'sample', id: message.id, sample: sample() });
      else if (message.type === 'idle') {
        const deadline = Date.now() + 30_000;
        while (server.engine.activeRuns > 0 && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 20));
        send({ type: 'idle', id: message.id, activeRuns: server.engine.activeRuns });
      } else if (message.type === 'close') {
        await server.close(5_000);
        send({ type: 'closed', id: message.id });
        process.exit(0); // also writes the --cpu-prof profile when profiling
      }
    });
    send({ type: 'ready', url: address.replace('[::1]', '127.0.0.1') });
    return;
  }
  throw new Error(`unknown role ${role}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
