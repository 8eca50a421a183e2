import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { GoogleGenAI } from '@google/genai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_EMBEDDING_MODEL, DEFAULT_MODEL } from '../src/models/download/index.js';
import { startChildServer, writeConfig } from './support/child-server.js';

const run = promisify(execFile);
const GGUF = resolve(process.env.OI_TEST_GGUF ?? '../shared/models/llama-2-tiny-random.gguf');
const cli = (args: string[], env: NodeJS.ProcessEnv) =>
  run(process.execPath, ['--import', 'tsx', 'test/support/run-cli.ts', ...args], {
    env: { ...process.env, ...env },
  });
/** Runs the command to its end, whatever its exit status. */
const cliResult = (
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> =>
  cli(args, env).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );
const VERSION = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;

describe('open-interactions command', () => {
  let dir: string;
  let hub: Server;
  let hubUrl: string;
  const hubRequests: string[] = [];
  const bytes = readFileSync(GGUF);
  const sha = createHash('sha256').update(bytes).digest('hex');
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'oi-cli-'));
    // A Hugging Face-style file host on 127.0.0.1 (nothing is downloaded from the internet).
    hub = createServer((req, res) => {
      hubRequests.push(req.url ?? '');
      if (req.url?.startsWith('/stalled/')) return; // accepts, never answers
      if (req.url?.endsWith('/resolve/main/tiny.gguf') || req.url === '/files/tiny.gguf') {
        res.writeHead(200, { 'content-length': bytes.length, 'x-linked-etag': `"${sha}"` });
        res.end(bytes);
      } else res.writeHead(404).end();
    });
    await new Promise<void>((r) => hub.listen(0, '127.0.0.1', r));
    hubUrl = `http://127.0.0.1:${(hub.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    hub.closeAllConnections();
    hub.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('--help on every command and subcommand: its usage on stdout, exit 0', async () => {
    const cases: [string[], string][] = [
      [[], 'open-interactions — the Gemini Interactions API'],
      [['serve', '--port', '0', '--help'], 'Usage: open-interactions serve [--config FILE]'],
      [['models'], 'Usage:\n  open-interactions models pull <ref>'],
      [['models', 'pull', '--help'], 'Usage: open-interactions models pull <ref> [--sha256 HEX]'],
      [['help', 'models', 'list'], 'Usage: open-interactions models list [--dir DIR]'],
    ];
    const results = await Promise.all(cases.map(([args]) => cliResult(args)));
    results.forEach((result, i) => {
      const [args, start] = cases[i]!;
      expect({ args, code: result.code, stderr: result.stderr }).toEqual({
        args,
        code: 0,
        stderr: '',
      });
      expect(result.stdout.startsWith(start), `${args.join(' ')}: ${result.stdout}`).toBe(true);
    });
    // the serve help names every option and the download's environment variables
    for (const word of [
      '--config',
      '--host',
      '--port',
      '--db',
      '--offline',
      'OI_HF_ENDPOINT',
      'HF_ENDPOINT',
      'OI_DOWNLOAD_CONNECT_TIMEOUT_SECONDS',
      'OI_DOWNLOAD_IDLE_TIMEOUT_SECONDS',
    ])
      expect(results[1]!.stdout).toContain(word);
  }, 120_000);

  it('--version on every command prints the package version, exit 0', async () => {
    const cases = [
      ['--version'],
      ['serve', '--version'],
      ['models', 'pull', '--version'],
      ['models', 'list', '--version'],
    ];
    const results = await Promise.all(cases.map((args) => cliResult(args)));
    for (const result of results)
      expect(result).toEqual({ code: 0, stdout: `open-interactions ${VERSION}\n`, stderr: '' });
  }, 120_000);

  it('a command line it cannot run: exit 2, the reason and where the help is', async () => {
    const [option, command, value] = await Promise.all([
      cliResult(['serve', '--bogus']),
      cliResult(['frobnicate']),
      cliResult(['serve', '--port', 'eighty']),
    ]);
    expect(option.code).toBe(2);
    expect(option.stderr).toContain("open-interactions serve: Unknown option '--bogus'");
    expect(option.stderr).toContain("Run 'open-interactions serve --help' for usage.");
    expect(command.code).toBe(2);
    expect(command.stderr).toContain("unknown command 'frobnicate'");
    expect(value.code).toBe(2);
    expect(value.stderr).toContain("open-interactions serve: --port: 'eighty' is not a port");
  }, 120_000);

  it('serve --host 0.0.0.0 without keys is refused before anything is downloaded or opened', async () => {
    hubRequests.length = 0;
    const db = join(dir, 'public.db');
    const result = await cliResult(
      ['serve', '--host', '0.0.0.0', '--port', '0', '--db', `sqlite:${db}`],
      {
        OI_MODELS_DIR: join(dir, 'public-models'),
        OI_HF_ENDPOINT: hubUrl,
      },
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('refusing to listen on 0.0.0.0 without API keys');
    expect(hubRequests).toEqual([]);
    expect(existsSync(join(dir, 'public-models'))).toBe(false);
    expect(existsSync(db)).toBe(false);
  }, 120_000);

  it('serve with a hub that never answers stops after the timeout, naming the host and every way out', async () => {
    hubRequests.length = 0;
    const result = await cliResult(
      ['serve', '--port', '0', '--db', `sqlite:${join(dir, 'stall.db')}`],
      {
        OI_MODELS_DIR: join(dir, 'stall-models'),
        OI_HF_ENDPOINT: `${hubUrl}/stalled`,
        OI_DOWNLOAD_CONNECT_TIMEOUT_SECONDS: '0.5',
      },
    );
    expect(result.code).toBe(1);
    expect(hubRequests).toHaveLength(1);
    const host = new URL(hubUrl).host;
    expect(result.stderr).toContain(
      `Could not download the default model ${DEFAULT_MODEL.fileName}: ${host} accepted the connection but sent no response within 0.5 s`,
    );
    for (const hint of [
      'OI_DOWNLOAD_CONNECT_TIMEOUT_SECONDS',
      'OI_HF_ENDPOINT (or HF_ENDPOINT)',
      `open-interactions models pull ${DEFAULT_MODEL.ref}`,
      '`path:` in a llama-cpp model entry',
      'serve --offline',
    ])
      expect(result.stderr).toContain(hint);
  }, 120_000);

  it('a llama-cpp path: that does not exist stops serve at start-up, naming models[i].path', async () => {
    const configPath = writeConfig(join(dir), {
      models: [
        {
          name: 'remote',
          backend: 'openai-compatible',
          base_url: 'http://127.0.0.1:1/v1',
          model: 'm',
        },
        { name: 'local', backend: 'llama-cpp', path: join(dir, 'nope.gguf') },
      ],
    });
    const result = await cliResult([
      'serve',
      '--config',
      configPath,
      '--port',
      '0',
      '--db',
      `sqlite:${join(dir, 'nopath.db')}`,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `config: models[1] (local): path: no GGUF file at ${join(dir, 'nope.gguf')}`,
    );
    expect(result.stdout).not.toContain('"msg":"listening"');
  }, 120_000);

  it('models pull of a missing file: the host, the status and what to do', async () => {
    const result = await cliResult(
      ['models', 'pull', 'someone/tiny-GGUF/absent.gguf', '--dir', join(dir, 'absent')],
      {
        OI_HF_ENDPOINT: hubUrl,
      },
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `${new URL(hubUrl).host} answered HTTP 404 Not Found for ${hubUrl}/someone/tiny-GGUF/resolve/main/absent.gguf`,
    );
    expect(result.stderr).toContain('set OI_HF_ENDPOINT (or HF_ENDPOINT)');
  }, 120_000);

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

  it('serve with tools.file_search and no embedding_models fetches the default embedding model (or, --offline, says how)', async () => {
    const models = join(dir, 'embedding-default');
    rmSync(models, { recursive: true, force: true });
    await run('mkdir', ['-p', models]);
    symlinkSync(GGUF, join(models, DEFAULT_MODEL.fileName)); // the chat model is there
    const config = writeConfig(mkdtempSync(join(dir, 'fs-')), { tools: { file_search: {} } });
    const args = [
      'serve',
      '--config',
      config,
      '--port',
      '0',
      '--db',
      `sqlite:${join(dir, 'fs.db')}`,
    ];
    hubRequests.length = 0;
    const offline = await cliResult([...args, '--offline'], {
      OI_MODELS_DIR: models,
      OI_HF_ENDPOINT: hubUrl,
    });
    expect(offline.code).toBe(1);
    expect(offline.stderr).toContain(
      `No local embedding model found at ${join(models, DEFAULT_EMBEDDING_MODEL.fileName)}`,
    );
    expect(offline.stderr).toContain(
      `open-interactions models pull ${DEFAULT_EMBEDDING_MODEL.ref}`,
    );
    expect(offline.stderr).toContain('`embedding_models:`');
    expect(hubRequests).toEqual([]);

    // online: from the hub endpoint, at the pinned revision (this hub has no such file)
    const online = await cliResult(args, { OI_MODELS_DIR: models, OI_HF_ENDPOINT: hubUrl });
    expect(online.code).toBe(1);
    expect(hubRequests).toEqual([new URL(DEFAULT_EMBEDDING_MODEL.url).pathname]);
    expect(online.stderr).toContain(
      `Could not download the default model ${DEFAULT_EMBEDDING_MODEL.fileName}: ${new URL(hubUrl).host} answered HTTP 404`,
    );
    expect(online.stderr).toContain('`path:` in a llama-cpp entry of `embedding_models:`');
  }, 120_000);

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
