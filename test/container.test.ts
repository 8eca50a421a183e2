/**
 * The container files, checked without a container runtime (this machine has the docker CLI but
 * no daemon): the Dockerfile's stages and COPY sources, compose.yaml's structure, the image's
 * configuration, and — what the CPU image really runs — `docker/install-runtime.sh cpu` in a
 * fresh directory (npm registry only), whose install then serves the local GGUF.
 *
 * The install compiles better-sqlite3 when no prebuilt binary can be fetched (as here): the
 * suite took 329 s and 462 s on this shared 2-core machine (almost all of it that compile).
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseConfig, parseConfigYaml } from '../src/config.js';
import { requireStoriesGguf } from './support/gguf.js';
import { startChildServer } from './support/child-server.js';

const run = promisify(execFile);
const ROOT = resolve('.');

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

/**
 * Dockerfile instructions: comments dropped, `\` continuations joined. Hand-written (a dozen
 * lines): the checks below need only each instruction and its arguments, not a full AST.
 */
function readDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending: Instruction | undefined;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!pending && (line === '' || line.startsWith('#'))) return;
    if (pending && line.startsWith('#')) return;
    const continues = line.endsWith('\\');
    const body = continues ? line.slice(0, -1).trim() : line;
    if (pending) pending.args += ` ${body}`;
    else {
      const [keyword = '', ...rest] = body.split(/\s+/);
      pending = { keyword: keyword.toUpperCase(), args: rest.join(' '), line: i + 1 };
    }
    if (!continues) {
      out.push(pending);
      pending = undefined;
    }
  });
  expect(pending).toBeUndefined();
  return out;
}

const KEYWORDS = new Set([
  'FROM', 'RUN', 'CMD', 'LABEL', 'EXPOSE', 'ENV', 'ADD', 'COPY', 'ENTRYPOINT', 'VOLUME', 'USER',
  'WORKDIR', 'ARG', 'ONBUILD', 'STOPSIGNAL', 'HEALTHCHECK', 'SHELL',
]); // prettier-ignore

/** Paths `.dockerignore` keeps out of the build context (its plain entries). */
function ignoredPaths(): string[] {
  return readFileSync(join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}

describe('Dockerfile', () => {
  const instructions = readDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
  const stages = instructions
    .filter((i) => i.keyword === 'FROM')
    .map((i) => /\bAS\s+(\S+)$/i.exec(i.args)?.[1]);

  it('uses only Dockerfile instructions; stages are named once; cpu is the default (last) target', () => {
    for (const i of instructions)
      expect(KEYWORDS, `line ${i.line}: ${i.keyword}`).toContain(i.keyword);
    expect(instructions[0]!.keyword).toMatch(/^(ARG|FROM)$/);
    expect(new Set(stages).size).toBe(stages.length);
    expect(stages).toContain('cuda');
    expect(stages.at(-1)).toBe('cpu');
  });

  it('every FROM and COPY --from names an earlier stage or an image; FROM args are declared', () => {
    const declared = new Set(
      instructions
        .slice(
          0,
          instructions.findIndex((i) => i.keyword === 'FROM'),
        )
        .filter((i) => i.keyword === 'ARG')
        .map((i) => i.args.split('=')[0]),
    );
    const seen: string[] = [];
    for (const i of instructions) {
      const from = i.keyword === 'FROM' ? i.args.split(/\s+/)[0] : /--from=(\S+)/.exec(i.args)?.[1];
      if (from) {
        for (const [, name] of from.matchAll(/\$\{(\w+)\}/g)) expect(declared).toContain(name);
        const isImage = /[:/]/.test(from) || from.includes('${');
        expect(isImage || seen.includes(from), `line ${i.line}: ${from}`).toBe(true);
      }
      if (i.keyword === 'FROM') seen.push(/\bAS\s+(\S+)$/i.exec(i.args)?.[1] ?? '');
    }
  });

  it('every file it COPYs from the build context exists and is not excluded by .dockerignore', () => {
    const ignored = ignoredPaths();
    const copies = instructions.filter((i) => i.keyword === 'COPY' && !i.args.includes('--from='));
    expect(copies.length).toBeGreaterThan(5);
    for (const copy of copies) {
      const parts = copy.args.split(/\s+/).filter((p) => !p.startsWith('--'));
      for (const source of parts.slice(0, -1)) {
        expect(existsSync(join(ROOT, source)), `line ${copy.line}: ${source}`).toBe(true);
        expect(ignored, `line ${copy.line}: ${source} is ignored`).not.toContain(
          source.replace(/\/$/, ''),
        );
      }
    }
    // The build stage compiles src/ with these; the runtime needs bin/ and the install script.
    expect(ignored).not.toContain('src');
    expect(ignored).toContain('node_modules');
  });

  it('the CPU image installs the CPU build only, the CUDA image the CUDA build', () => {
    const runOf = (stage: string) => {
      const start = instructions.findIndex(
        (i) => i.keyword === 'FROM' && new RegExp(`\\bAS\\s+${stage}$`, 'i').test(i.args),
      );
      const end = instructions.findIndex((i, n) => n > start && i.keyword === 'FROM');
      return instructions.slice(start, end === -1 ? undefined : end);
    };
    expect(
      runOf('deps-cpu')
        .map((i) => i.args)
        .join('\n'),
    ).toContain('install-runtime.sh cpu');
    expect(
      runOf('deps-cuda')
        .map((i) => i.args)
        .join('\n'),
    ).toContain('install-runtime.sh cuda');
    expect(
      runOf('cpu')
        .map((i) => i.args)
        .join('\n'),
    ).toContain('--from=deps-cpu');
    expect(
      runOf('cpu')
        .map((i) => i.args)
        .join('\n'),
    ).not.toMatch(/cuda/i);
    expect(runOf('cuda')[0]!.args).toMatch(/^nvidia\/cuda:/);
  });
});

describe('compose.yaml', () => {
  const compose = parseYaml(readFileSync(join(ROOT, 'compose.yaml'), 'utf8'), {
    merge: true,
  }) as {
    services: Record<string, Record<string, unknown>>;
    volumes: Record<string, unknown>;
  };

  it('runs PostgreSQL and two server nodes that share it under distinct node ids', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['node-a', 'node-b', 'postgres']);
    const pg = compose.services.postgres!;
    expect(pg.image).toMatch(/^postgres:\d+/);
    expect(pg.healthcheck).toMatchObject({ test: expect.arrayContaining(['pg_isready']) });
    expect(Object.keys(compose.volumes)).toContain('pgdata');

    const nodes = ['node-a', 'node-b'].map((n) => compose.services[n]!);
    const env = nodes.map((n) => n.environment as Record<string, string>);
    expect(env[0]!.OI_DATABASE_URL).toMatch(/^postgres:\/\/oi:.*@postgres:5432\/oi$/);
    expect(env[1]!.OI_DATABASE_URL).toBe(env[0]!.OI_DATABASE_URL);
    expect(new Set(env.map((e) => e.OI_NODE_ID)).size).toBe(2);
    for (const [i, node] of nodes.entries()) {
      expect(node.build).toMatchObject({ context: '.', target: 'cpu' });
      expect(node.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
      expect(env[i]!.OI_API_KEY).toMatch(/^\$\{OI_API_KEY:\?/);
    }
    const ports = nodes.map((n) => (n.ports as string[])[0]);
    expect(new Set(ports).size).toBe(2);
    for (const p of ports) expect(p).toMatch(/^127\.0\.0\.1:\d+:8080$/);
  });
});

describe('docker/config.yaml', () => {
  it('is a valid configuration once the environment fills it in, with a key (it listens on 0.0.0.0)', () => {
    const text = readFileSync(join(ROOT, 'docker/config.yaml'), 'utf8');
    const config = parseConfig(
      parseConfigYaml(text, {
        OI_API_KEY: 'a-key-of-enough-length',
        OI_DATABASE_URL: 'postgres://oi:pw@postgres:5432/oi',
        OI_NODE_ID: 'node-a',
        OI_GPU: 'false',
      }),
    );
    expect(config.keys).toEqual([{ key: 'a-key-of-enough-length', project: 'default' }]);
    expect(config.database?.url).toBe('postgres://oi:pw@postgres:5432/oi');
    expect(config.server.node_id).toBe('node-a');
    expect(config.models[0]).toMatchObject({ backend: 'llama-cpp', gpu: false, threads: 4 });
    expect(config.models[0]!.path).toBeUndefined();
    // Without a key the file does not load.
    expect(() => parseConfigYaml(text, {})).toThrow(/OI_API_KEY/);
  });
});

describe('the CPU image’s install (docker/install-runtime.sh cpu) serves the local GGUF', () => {
  let dir: string;
  const gguf = requireStoriesGguf();
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'oi-cpu-image-'));
    for (const file of ['package.json', 'package-lock.json', 'docker/install-runtime.sh', 'bin'])
      cpSync(join(ROOT, file), join(dir, file), { recursive: true });
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    await run(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', join(dir, 'dist')]);
    await run('sh', ['docker/install-runtime.sh', 'cpu'], {
      cwd: dir,
      env: { ...process.env, NODE_OPTIONS: '' },
      maxBuffer: 64 * 1024 * 1024,
    });
  }, 900_000);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('holds llama.cpp’s CPU build and no GPU build, and no dev dependency', () => {
    expect(readdirSync(join(dir, 'node_modules/@node-llama-cpp'))).toEqual(['linux-x64']);
    expect(existsSync(join(dir, 'node_modules/sqlite-vec-linux-x64'))).toBe(true);
    expect(existsSync(join(dir, 'node_modules/vitest'))).toBe(false);
    expect(existsSync(join(dir, 'node_modules/typescript'))).toBe(false);
  });

  it('serves stories260K.gguf through the image’s config (threads 1, no GPU)', async () => {
    const server = await startChildServer(
      ['--config', join(ROOT, 'docker/config.yaml'), '--host', '127.0.0.1'],
      {
        NODE_OPTIONS: '',
        OI_API_KEY: 'container-test-key-0001',
        OI_DATABASE_URL: `sqlite:${join(dir, 'oi.db')}`,
        OI_MODEL_PATH: gguf,
        OI_GPU: 'false',
        OI_THREADS: '1',
        OI_CONTEXT_SIZE: '512',
        OI_MODELS_DIR: join(dir, 'models'),
      },
      [join(dir, 'bin/open-interactions.js')],
    );
    try {
      const res = await fetch(`${server.baseUrl}/v1beta/interactions`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-goog-api-key': 'container-test-key-0001',
        },
        body: JSON.stringify({
          model: 'gemini-3.5-flash',
          input: 'Once upon a time',
          generation_config: { max_output_tokens: 8 },
        }),
      });
      const body = (await res.json()) as {
        status: string;
        steps: { type: string; content?: { text: string }[] }[];
        usage: { total_output_tokens: number };
      };
      expect(res.status).toBe(200);
      expect(['completed', 'incomplete']).toContain(body.status);
      const text = body.steps.find((s) => s.type === 'model_output')?.content?.[0]?.text ?? '';
      expect(text.length).toBeGreaterThan(0);
      expect(body.usage.total_output_tokens).toBeGreaterThan(0);
      expect(body.usage.total_output_tokens).toBeLessThanOrEqual(8);
    } finally {
      server.process.kill('SIGTERM');
      await server.exited;
    }
  });
});
