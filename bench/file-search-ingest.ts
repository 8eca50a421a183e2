/**
 * File Search ingestion: chunks per second through a real server process, and the peak memory
 * of that process (and of its parser processes) while it ingests a 50 MB PDF.
 *
 *   npx tsx bench/file-search-ingest.ts [--db sqlite|postgres|both] [--docs 20] [--words 20000]
 *                                       [--pdf-mb 50] [--pdf-pages 1000] [--skip-pdf]
 *
 * The server is `open-interactions serve` from source (test/support/child-server.ts) with its
 * defaults (2 ingestions at once, 64 passages per embedding call, chunks of 200 words overlapping
 * by 20); embeddings come from the scripted OpenAI-compatible server of
 * test/support/fake-embeddings.ts in this process (256 dimensions, answered at once), so the
 * figures are the server's own cost: reading, parsing, chunking, the embedding round trips and
 * the index writes.
 *
 * Throughput: `--docs` text documents of `--words` words each, uploaded with the SDK, timed from
 * the first upload to the last operation done.
 *
 * The PDF: `--pdf-pages` pages of text (≈250 words each) and incompressible images (random RGB
 * noise, PNG) up to `--pdf-mb` MB, generated here with pdf-lib — what a scanned report with a
 * text layer looks like. Memory is read from /proc (Linux): the server's peak resident set
 * (`VmHWM`) before and after, and the largest resident set seen of its parser processes (sampled
 * every 50 ms). Progress goes to stderr; the tables to stdout.
 */
import { GoogleGenAI, type UploadToFileSearchStoreOperation } from '@google/genai';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { crc32, deflateSync } from 'node:zlib';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { startChildServer, writeConfig, type ChildServer } from '../test/support/child-server.js';
import { createTestDatabase, type StoreKind } from '../test/support/databases.js';
import { startFakeEmbeddings } from '../test/support/fake-embeddings.js';
import { embeddingModels } from '../test/support/file-search.js';

const { values: argv } = parseArgs({
  options: {
    db: { type: 'string', default: 'both' },
    docs: { type: 'string', default: '20' },
    words: { type: 'string', default: '20000' },
    'pdf-mb': { type: 'string', default: '50' },
    'pdf-pages': { type: 'string', default: '1000' },
    'skip-pdf': { type: 'boolean', default: false },
  },
});
const kinds: StoreKind[] = argv.db === 'both' ? ['sqlite', 'postgres'] : [argv.db as StoreKind];
const log = (msg: string) => process.stderr.write(`[file-search-ingest] ${msg}\n`);
const out = (line = '') => process.stdout.write(`${line}\n`);
const KEY = 'bench-key-0000000001';
const MB = 1024 * 1024;

/** mulberry32: seeded, so every run ingests the same text. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const VOCABULARY = Array.from({ length: 3000 }, (_, i) => `w${i.toString(36)}`);
function text(words: number, rnd: () => number): string {
  const out: string[] = [];
  for (let i = 0; i < words; i++) {
    out.push(VOCABULARY[Math.floor(rnd() ** 2 * VOCABULARY.length)]!);
    if (i % 15 === 14) out.push('\n');
  }
  return out.join(' ');
}

/** A PNG of random RGB pixels (incompressible), written by hand: zlib does the deflate. */
function noisePng(width: number, height: number, rnd: () => number): Uint8Array {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let i = 0; i < raw.length; i++) raw[i] = i % (width * 3 + 1) === 0 ? 0 : (rnd() * 256) | 0;
  const chunk = (type: string, data: Buffer) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, 'latin1');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
    return Buffer.concat([head, data, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 1 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

async function bigPdf(megabytes: number, pages: number): Promise<Uint8Array> {
  const rnd = random(7);
  const pdf = await PDFDocument.create();
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  const image = () => pdf.embedPng(noisePng(512, 512, rnd));
  const textPages: string[] = [];
  for (let p = 0; p < pages; p++) textPages.push(text(250, rnd));
  // Text pages first; images are added until the file reaches the size asked for.
  for (const body of textPages) {
    const page = pdf.addPage([612, 792]);
    body
      .split('\n')
      .forEach((line, i) => page.drawText(line.trim(), { x: 30, y: 760 - i * 12, size: 9, font }));
  }
  let size = (await pdf.save()).length;
  const perImage = 512 * 512 * 3;
  for (let p = 0; size + perImage < megabytes * MB; p = (p + 7) % pages) {
    const page = pdf.getPage(p);
    page.drawImage(await image(), { x: 300, y: 20, width: 100, height: 100 });
    size += perImage;
  }
  return pdf.save();
}

/** Resident set sizes from /proc (kB → bytes). */
function status(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${field}:`));
    return line ? Number(/(\d+)/.exec(line)![1]) * 1024 : 0;
  } catch {
    return 0; // the process is gone
  }
}

/** Every descendant process of `pid` (the parser pool's processes). */
function descendants(pid: number): number[] {
  const found: number[] = [];
  const visit = (p: number) => {
    for (const task of safeReaddir(`/proc/${p}/task`)) {
      let children = '';
      try {
        children = readFileSync(`/proc/${p}/task/${task}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const child of children.trim().split(/\s+/).filter(Boolean).map(Number)) {
        found.push(child);
        visit(child);
      }
    }
  };
  visit(pid);
  return found;
}
function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Polls until every operation is done; `onStage` hears each stage an operation reaches. */
async function waitAll(
  ai: GoogleGenAI,
  ops: UploadToFileSearchStoreOperation[],
  onStage: (stage: string) => void = () => {},
) {
  const done: UploadToFileSearchStoreOperation[] = [];
  for (let op of ops) {
    while (!op.done) {
      await new Promise((r) => setTimeout(r, 50));
      op = await ai.operations.get({ operation: op });
      onStage((op.metadata as { stage: string }).stage);
    }
    if (op.error) throw new Error(`ingestion failed: ${JSON.stringify(op.error)}`);
    done.push(op);
  }
  return done;
}

const chunksOf = (op: UploadToFileSearchStoreOperation) =>
  Number((op.metadata as { chunksTotal?: string }).chunksTotal ?? 0);

const fmtMb = (bytes: number) => `${(bytes / MB).toFixed(0)} MB`;

const embeddings = await startFakeEmbeddings();
const dir = mkdtempSync(join(tmpdir(), 'oi-bench-ingest-'));
const throughput: string[] = [];
const memory: string[] = [];
try {
  let pdfPath: string | undefined;
  if (!argv['skip-pdf']) {
    log(`generating a ${argv['pdf-mb']} MB PDF of ${argv['pdf-pages']} text pages…`);
    const pdf = await bigPdf(Number(argv['pdf-mb']), Number(argv['pdf-pages']));
    pdfPath = join(dir, 'report.pdf');
    writeFileSync(pdfPath, pdf);
    log(`PDF: ${fmtMb(pdf.length)}`);
  }
  for (const kind of kinds) {
    const db = await createTestDatabase(kind);
    const configPath = writeConfig(dir, {
      keys: [{ key: KEY, project: 'bench' }],
      models: [{ name: '*', backend: 'openai-compatible', base_url: embeddings.url, model: 'm' }],
      embedding_models: embeddingModels(embeddings.url),
    });
    let server: ChildServer | undefined;
    try {
      server = await startChildServer(['--config', configPath, '--db', db.url]);
      const ai = new GoogleGenAI({ apiKey: KEY, httpOptions: { baseUrl: server.baseUrl } });

      // Throughput over text documents.
      const { name } = await ai.fileSearchStores.create({ config: { displayName: 'bench' } });
      const rnd = random(1);
      const bodies = Array.from({ length: Number(argv.docs) }, () => text(Number(argv.words), rnd));
      log(`${kind}: ingesting ${bodies.length} documents of ${argv.words} words…`);
      const started = performance.now();
      const ops = [];
      for (const body of bodies) {
        ops.push(
          await ai.fileSearchStores.uploadToFileSearchStore({
            fileSearchStoreName: name!,
            file: new Blob([body], { type: 'text/plain' }),
          }),
        );
      }
      const done = await waitAll(ai, ops);
      const seconds = (performance.now() - started) / 1000;
      const chunks = done.reduce((n, op) => n + chunksOf(op), 0);
      throughput.push(
        `| ${kind} | ${bodies.length} × ${argv.words} words | ${chunks} | ${seconds.toFixed(1)} s | ${(chunks / seconds).toFixed(0)} |`,
      );

      if (pdfPath) {
        // A fresh process, so the peak is the PDF's alone.
        server.process.kill('SIGTERM');
        await server.exited;
        server = await startChildServer(['--config', configPath, '--db', db.url]);
        const pdfClient = new GoogleGenAI({
          apiKey: KEY,
          httpOptions: { baseUrl: server.baseUrl },
        });
        const serverPid = server.process.pid!;
        const { name: pdfStore } = await pdfClient.fileSearchStores.create({});
        const idle = status(serverPid, 'VmRSS');
        let parserPeak = 0;
        const sampler = setInterval(() => {
          for (const child of descendants(serverPid))
            parserPeak = Math.max(parserPeak, status(child, 'VmRSS'));
        }, 50);
        log(`${kind}: ingesting the PDF…`);
        const t0 = performance.now();
        const op = await pdfClient.fileSearchStores.uploadToFileSearchStore({
          fileSearchStoreName: pdfStore!,
          file: pdfPath,
        });
        const uploaded = performance.now();
        let parsed = 0;
        const [pdfDone] = await waitAll(pdfClient, [op], (stage) => {
          if (stage !== 'PARSING' && stage !== 'QUEUED' && parsed === 0) parsed = performance.now();
        });
        const t1 = performance.now();
        clearInterval(sampler);
        const pdfChunks = chunksOf(pdfDone!);
        memory.push(
          `| ${kind} | ${fmtMb(idle)} | ${fmtMb(status(serverPid, 'VmHWM'))} | ${fmtMb(parserPeak)} | ${((uploaded - t0) / 1000).toFixed(1)} s | ${((parsed - uploaded) / 1000).toFixed(1)} s | ${((t1 - uploaded) / 1000).toFixed(1)} s | ${pdfChunks} |`,
        );
      }
    } finally {
      server?.process.kill('SIGTERM');
      await server?.exited;
      await db.drop();
    }
  }
} finally {
  await embeddings.close();
  rmSync(dir, { recursive: true, force: true });
}

out('### Ingestion throughput');
out();
out('| store | documents | chunks | time | chunks/s |');
out('| --- | --- | ---: | ---: | ---: |');
for (const row of throughput) out(row);
if (memory.length > 0) {
  out();
  out(`### Memory while ingesting a ${argv['pdf-mb']} MB PDF`);
  out();
  out(
    '| store | server RSS idle | server peak RSS | parser peak RSS | upload | parsed after | done after | chunks |',
  );
  out('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const row of memory) out(row);
}
