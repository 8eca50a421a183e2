/**
 * The document parser's pool of parser processes: real child processes started from source
 * (tsx), real documents. The slow document is the 1.1 MB page of issue 9 (100,000 nested
 * `div`s): linkedom needs tens of seconds for it, so it reliably outlasts a 1 s time cap and
 * keeps a parser busy while a test looks at the pool.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { deepHtml, makePdf } from '../../test/support/pdf.js';
import {
  createDocumentParser,
  DocumentError,
  type DocumentParser,
  type DocumentParserOptions,
} from './index.js';

const SLOW = { bytes: deepHtml(100_000), mimeType: 'text/html' };
const SMALL = { bytes: Buffer.from('<p>small page</p>'), mimeType: 'text/html' };

let parsers: DocumentParser[] = [];
function parser(options: DocumentParserOptions): DocumentParser {
  const p = createDocumentParser(options);
  parsers.push(p);
  return p;
}
afterEach(async () => {
  await Promise.all(parsers.map((p) => p.close()));
  parsers = [];
});

async function failure(promise: Promise<unknown>): Promise<DocumentError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(DocumentError.isInstance(error)).toBe(true);
  return error as DocumentError;
}

/** The pids of this process's parser processes. */
function parserPids(): number[] {
  const out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], {
    encoding: 'utf8',
  });
  return out
    .split('\n')
    .filter((line) => line.includes('parser-process'))
    .map((line) => Number(line.trim().split(/\s+/)[0]));
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setTimeout(r, 20));
}

describe('document parser pool', () => {
  it('reads a PDF with its pages in a parser process, and reuses the process', async () => {
    const p = parser({});
    const doc = await p.parse({
      bytes: makePdf(['Alpha page', 'Beta page'], 'Two'),
      mimeType: 'application/pdf',
    });
    expect(doc).toEqual({
      format: 'pdf',
      title: 'Two',
      text: 'Alpha page\n\nBeta page',
      pages: [
        { pageNumber: 1, text: 'Alpha page' },
        { pageNumber: 2, text: 'Beta page' },
      ],
    });
    const pids = parserPids();
    expect(pids).toHaveLength(1);
    expect(await p.parse(SMALL)).toEqual({ format: 'html', text: 'small page' });
    expect(parserPids()).toEqual(pids);
    expect(p.stats()).toEqual({ processes: 1, running: 0, queued: 0 });
  }, 60_000);

  it('starts parsers with the kernel data limit and without the server environment', async () => {
    process.env.OI_PARSER_TEST_SECRET = 'parser-must-not-see-this';
    try {
      const p = parser({ memoryMb: 200 });
      await p.parse(SMALL);
      const [pid] = parserPids();
      const limits = readFileSync(`/proc/${pid}/limits`, 'utf8');
      const data = /^Max data size\s+(\d+)\s+(\d+)\s+bytes/m.exec(limits);
      expect(data?.slice(1).map(Number)).toEqual([(200 + 256) * 2 ** 20, (200 + 256) * 2 ** 20]);
      expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain('--max-old-space-size=200');
      expect(readFileSync(`/proc/${pid}/environ`, 'utf8')).not.toContain(
        'parser-must-not-see-this',
      );
    } finally {
      delete process.env.OI_PARSER_TEST_SECRET;
    }
  });

  it('reports a corrupt PDF as corrupt, and the process serves the next document', async () => {
    const p = parser({});
    const error = await failure(
      p.parse({ bytes: Buffer.from('%PDF-1.7\n1 0 obj garbage'), mimeType: 'application/pdf' }),
    );
    expect(error.kind).toBe('corrupt');
    expect(error.message).toMatch(/^not a readable PDF/);
    expect(await p.parse(SMALL)).toMatchObject({ text: 'small page' });
  }, 60_000);

  it('stops a parser at the time cap (the 1.1 MB deep page) and starts a fresh one', async () => {
    const p = parser({ timeoutMs: 1_000 });
    const error = await failure(p.parse(SLOW));
    expect(error.kind).toBe('timed_out');
    expect(error.message).toBe('reading it took longer than the 1 s limit');
    expect(p.stats().processes).toBe(0);
    expect(await p.parse(SMALL)).toMatchObject({ text: 'small page' });
  }, 60_000);

  it('reports a parser that exceeds its memory cap as out_of_memory; the server lives on', async () => {
    const p = parser({ memoryMb: 64, timeoutMs: 300_000 });
    // linkedom keeps ~800 bytes per element: 200,000 elements need ~170 MB of heap
    const page = Buffer.from(`<html><body>${'<p>x</p>'.repeat(200_000)}</body></html>`);
    const error = await failure(p.parse({ bytes: page, mimeType: 'text/html' }));
    expect(error.kind).toBe('out_of_memory');
    expect(error.message).toBe('reading it needed more than the 64 MB memory limit');
    expect(await p.parse(SMALL)).toMatchObject({ text: 'small page' });
  }, 320_000);

  it('reports a parser killed mid-parse as crashed', async () => {
    const p = parser({ timeoutMs: 300_000 });
    await p.parse(SMALL); // a ready process: the next document is sent to it at once
    const [pid] = parserPids();
    const parsing = failure(p.parse(SLOW));
    expect(p.stats().running).toBe(1);
    process.kill(pid!, 'SIGKILL');
    const error = await parsing;
    expect(error.kind).toBe('crashed');
    expect(error.message).toBe('the parser process stopped unexpectedly (SIGKILL)');
    expect(await p.parse(SMALL)).toMatchObject({ text: 'small page' });
  }, 60_000);

  it('refuses a document over capacity as busy; cancelling frees the queue and the process', async () => {
    const p = parser({ workers: 1, queue: 1, timeoutMs: 300_000 });
    const first = new AbortController();
    const running = p.parse(SLOW, { signal: first.signal }).catch((e: unknown) => e);
    const second = new AbortController();
    const queued = p.parse(SLOW, { signal: second.signal }).catch((e: unknown) => e);
    const third = p.parse(SMALL).catch((e: unknown) => e);
    const busy = (await third) as DocumentError;
    expect(DocumentError.isInstance(busy, 'busy')).toBe(true);
    expect(busy.message).toMatch(/too many documents at once \(1 running, 1 waiting\)/);
    expect(p.stats()).toEqual({ processes: 1, running: 1, queued: 1 });

    second.abort(new Error('queued one cancelled'));
    expect(await queued).toEqual(new Error('queued one cancelled'));
    expect(p.stats().queued).toBe(0);

    const fourth = p.parse(SMALL);
    first.abort(new Error('running one cancelled'));
    expect(await running).toEqual(new Error('running one cancelled'));
    // the cancelled parse's process is killed; the waiting document gets a fresh one
    expect(await fourth).toMatchObject({ text: 'small page' });
    await until(() => p.stats().running === 0);
    expect(p.stats()).toEqual({ processes: 1, running: 0, queued: 0 });
  }, 60_000);

  it('fails running and waiting documents on close, and refuses new ones', async () => {
    const p = parser({ workers: 1, queue: 4, timeoutMs: 300_000 });
    const running = failure(p.parse(SLOW));
    const waiting = failure(p.parse(SMALL));
    await p.close();
    expect((await running).kind).toBe('closed');
    expect((await waiting).kind).toBe('closed');
    expect((await failure(p.parse(SMALL))).kind).toBe('closed');
    expect(parserPids()).toEqual([]);
  }, 60_000);

  it('refuses oversize and unsupported documents without starting a process', async () => {
    const p = parser({ maxBytes: 10 });
    const large = await failure(p.parse({ bytes: Buffer.alloc(11), mimeType: 'text/plain' }));
    expect(large.kind).toBe('too_large');
    expect(large.message).toBe('it is 11 bytes; at most 10 are read');
    const image = await failure(p.parse({ bytes: Buffer.alloc(4), mimeType: 'image/png' }));
    expect(image.kind).toBe('unsupported');
    expect(p.stats().processes).toBe(0);
  });
});
