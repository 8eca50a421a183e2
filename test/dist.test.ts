/**
 * The compiled server, as `npm run build` makes it and `bin/open-interactions.js` runs it, serves a
 * local model: the llama-cpp worker thread starts from the compiled `worker-host.js`, with no
 * TypeScript loader anywhere (the rest of the suite runs from source).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChildServer, writeConfig } from './support/child-server.js';
import { makePdf } from './support/pdf.js';

const run = promisify(execFile);
const GGUF = resolve(process.env.OI_TEST_GGUF ?? '../shared/models/llama-2-tiny-random.gguf');
// Inside the repository, so the compiled files resolve packages from its node_modules.
const outDir = resolve('.tmp/dist-test');

describe('compiled server (tsc output)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'oi-dist-'));
    rmSync(outDir, { recursive: true, force: true });
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    await run(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', outDir]);
    // what bin/open-interactions.js does, against this build
    writeFileSync(
      join(outDir, 'run.mjs'),
      "import { main } from './cli/index.js';\n" +
        'main(process.argv.slice(2)).then((code) => { process.exitCode = code; });\n',
    );
  }, 180_000);
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(outDir, { recursive: true, force: true });
  });

  it('serves a local model from its worker thread and stops cleanly', async () => {
    const config = writeConfig(dir, {
      models: [
        { name: '*', backend: 'llama-cpp', path: GGUF, gpu: false, threads: 1, context_size: 512 },
      ],
    });
    const server = await startChildServer(
      ['--config', config, '--db', `sqlite:${join(dir, 'dist.db')}`],
      { NODE_OPTIONS: '' },
      [join(outDir, 'run.mjs')],
    );
    try {
      const res = await fetch(`${server.baseUrl}/v1beta/interactions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'gemini-3.5-flash',
          input: 'Say hello',
          stream: true,
          generation_config: { max_output_tokens: 8 },
        }),
      });
      expect(res.status).toBe(200);
      const sse = await res.text();
      expect(sse).toContain('event: step.delta');
      expect(sse).toMatch(/"status":"(completed|incomplete)"/);
      expect(sse.trimEnd().endsWith('data: [DONE]')).toBe(true);
      server.process.kill('SIGTERM');
      expect(await server.exited).toEqual({ code: 0, signal: null });
    } finally {
      server.process.kill('SIGKILL');
      await server.exited;
    }
  }, 60_000);

  it('reads documents in parser processes started from the compiled files', async () => {
    const script = `
      import { createDocumentParser } from ${JSON.stringify(pathToFileURL(join(outDir, 'documents/index.js')).href)};
      const parser = createDocumentParser({ timeoutMs: 30_000 });
      const html = await parser.parse({ bytes: Buffer.from('<html><head><title>T</title></head><body><p>compiled html</p></body></html>'), mimeType: 'text/html' });
      const pdf = await parser.parse({ bytes: Buffer.from(process.argv[1], 'base64'), mimeType: 'application/pdf' });
      await parser.close();
      console.log(JSON.stringify({ html, pdf }));
    `;
    const pdf = makePdf(['compiled pdf'], 'Compiled').toString('base64');
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script, pdf], {
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    expect(JSON.parse(stdout)).toEqual({
      html: { format: 'html', title: 'T', text: 'compiled html' },
      pdf: {
        format: 'pdf',
        title: 'Compiled',
        text: 'compiled pdf',
        pages: [{ pageNumber: 1, text: 'compiled pdf' }],
      },
    });
  }, 60_000);
});
