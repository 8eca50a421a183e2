import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { GoogleGenAI } from '@google/genai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MODEL } from '../src/models/download/index.js';
import { startChildServer, writeConfig } from './support/child-server.js';

const run = promisify(execFile);
const GGUF = resolve(process.env.OI_TEST_GGUF ?? '../shared/models/llama-2-tiny-random.gguf');
const cli = (args: string[], env: NodeJS.ProcessEnv) =>
  run(process.execPath, ['--import', 'tsx', 'test/support/run-cli.ts', ...args], {
    env: { ...process.env, ...env },
  });

describe('open-interactions command', () => {
  let dir: string;
  let hub: Server;
  let hubUrl: string;
  const bytes = readFileSync(GGUF);
  const sha = createHash('sha256').update(bytes).digest('hex');
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'oi-cli-'));
    // A Hugging Face-style file host on 127.0.0.1 (nothing is downloaded from the internet).
    hub = createServer((req, res) => {
      if (req.url?.endsWith('/resolve/main/tiny.gguf') || req.url === '/files/tiny.gguf') {
        res.writeHead(200, { 'content-length': bytes.length, 'x-linked-etag': `"${sha}"` });
        res.end(bytes);
      } else res.writeHead(404).end();
    });
    await new Promise<void>((r) => hub.listen(0, '127.0.0.1', r));
    hubUrl = `http://127.0.0.1:${(hub.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    hub.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('models pull downloads a GGUF from a Hugging Face-style ref, verifies it, and models list shows it', async () => {
    const models = join(dir, 'pulled');
    const pulled = await cli(['models', 'pull', 'someone/tiny-GGUF/tiny.gguf', '--dir', models], {
      OI_HF_ENDPOINT: hubUrl,
    });
    expect(pulled.stdout).toContain(`sha256 ${sha}`);
    expect(pulled.stdout).toMatch(/verified: etag/);
    const again = await cli(
      ['models', 'pull', `${hubUrl}/files/tiny.gguf`, '--dir', models, '--sha256', sha],
      {},
    );
    expect(again.stdout).toMatch(/already present|downloaded/);
    const listed = await cli(['models', 'list', '--dir', models], {});
    expect(listed.stdout).toMatch(/^tiny\.gguf\t/m);
  });

  it('serve --offline without the default model exits with a message saying how to get one', async () => {
    const empty = join(dir, 'empty');
    const err = await cli(
      ['serve', '--offline', '--port', '0', '--db', `sqlite:${join(dir, 'x.db')}`],
      { OI_MODELS_DIR: empty },
    ).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).toBe(1);
    expect(err?.stderr).toContain(`open-interactions models pull ${DEFAULT_MODEL.ref}`);
    expect(err?.stderr).toContain('path:');
  });

  it('serve with no config runs the embedded default model (here: the fixture GGUF in its place)', async () => {
    const models = join(dir, 'default');
    rmSync(models, { recursive: true, force: true });
    await run('mkdir', ['-p', models]);
    symlinkSync(GGUF, join(models, DEFAULT_MODEL.fileName));
    const server = await startChildServer(['--db', `sqlite:${join(dir, 'default.db')}`], {
      OI_MODELS_DIR: models,
    });
    try {
      const ai = new GoogleGenAI({ apiKey: 'any-key', httpOptions: { baseUrl: server.baseUrl } });
      const r = await ai.interactions.create(
        {
          model: 'gemini-3.5-flash',
          input: 'Say hello',
          generation_config: { max_output_tokens: 8 },
        },
        { maxRetries: 0 },
      );
      expect(['completed', 'incomplete']).toContain(r.status);
      expect(r.usage!.total_output_tokens).toBeGreaterThan(0);
    } finally {
      server.process.kill('SIGTERM');
      await server.exited;
    }
  }, 60_000);

  it('serve stops cleanly on SIGTERM after running a local model (the worker frees llama.cpp first)', async () => {
    const configPath = writeConfig(dir, {
      models: [
        { name: '*', backend: 'llama-cpp', path: GGUF, gpu: false, threads: 1, context_size: 512 },
      ],
    });
    const server = await startChildServer([
      '--config',
      configPath,
      '--db',
      `sqlite:${join(dir, 'stop.db')}`,
    ]);
    try {
      const res = await fetch(`${server.baseUrl}/v1beta/interactions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'm',
          input: 'Say hello',
          generation_config: { max_output_tokens: 8 },
        }),
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { status: string }).status).toMatch(/^(completed|incomplete)$/);
      // tearing llama.cpp down together with the process would abort it (SIGABRT)
      server.process.kill('SIGTERM');
      const exit = await server.exited;
      expect(exit).toEqual({ code: 0, signal: null });
    } finally {
      server.process.kill('SIGKILL');
      await server.exited;
    }
  }, 60_000);
});
