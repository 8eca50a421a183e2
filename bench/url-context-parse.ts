/**
 * How long url_context's document parsing holds the server's event loop: the deep-HTML pages of
 * issue 9 (1,000 and 100,000 nested `div`s) are read through the url_context tool while
 * `perf_hooks.monitorEventLoopDelay` watches this process's event loop. Prints a Markdown table;
 * writes nothing into the repository.
 *
 *   npx tsx bench/url-context-parse.ts [--pages 1000,100000] [--parse-timeout 10] [--parse-timeout 10]
 *
 * The page server runs in this process too (it only writes a prepared buffer).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createUrlContextTool } from '../src/tools/url-context/index.js';

const { values: argv } = parseArgs({
  options: {
    pages: { type: 'string', default: '1000,100000' },
    'parse-timeout': { type: 'string', default: '10' },
  },
});
const depths = argv.pages.split(',').map(Number);

const pages = new Map<string, Buffer>();
for (const depth of depths) {
  pages.set(
    `/deep-${depth}`,
    Buffer.from(
      `<html><head><title>Deep ${depth}</title></head><body>${'<div>'.repeat(depth)}hello${'</div>'.repeat(depth)}</body></html>`,
    ),
  );
}
const server = createServer((req, res) => {
  const body = pages.get(req.url ?? '');
  res.writeHead(body ? 200 : 404, { 'content-type': 'text/html' }).end(body);
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const tool = createUrlContextTool({
  allowPrivate: true,
  maxBytes: 2 << 20,
  timeoutMs: 600_000,
  parseTimeoutMs: Number(argv['parse-timeout']) * 1000, // ignored by main-thread versions
});
const session = await tool.open({ type: 'url_context' }, 0);
console.log('| page | bytes | wall time | max event-loop delay | url_context status | reason |');
console.log('|---|---|---|---|---|---|');
{
  // the machine's own noise: the same histogram over an idle loop
  const idle = monitorEventLoopDelay({ resolution: 10 });
  idle.enable();
  await new Promise((r) => setTimeout(r, 5_000));
  idle.disable();
  console.log(`| (idle loop, 5 s) | | 5.0 s | ${(idle.max / 1e6).toFixed(0)} ms | | |`);
}
for (const depth of depths) {
  const path = `/deep-${depth}`;
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  // the histogram records from its second tick on: let it tick before the work starts
  await new Promise((r) => setTimeout(r, 50));
  const started = performance.now();
  const outcome = await session.execute(
    'url_context',
    { urls: [`${origin}${path}`] },
    new AbortController().signal,
  );
  const wall = performance.now() - started;
  // a blocked loop is recorded when the histogram's timer fires late: let it fire
  await new Promise((r) => setTimeout(r, 50));
  histogram.disable();
  const status = (outcome.result.result as { status: string }[])[0]!.status;
  const reason = /Could not read:\n- [^\n]*\((.*)\)/.exec(String(outcome.modelOutput))?.[1] ?? '';
  console.log(
    `| ${depth} nested divs | ${pages.get(path)!.length} | ${(wall / 1000).toFixed(1)} s | ${(histogram.max / 1e6).toFixed(0)} ms | ${status} | ${reason.slice(0, 80)} |`,
  );
}
await session.close?.();
await tool.close?.();
server.close();
