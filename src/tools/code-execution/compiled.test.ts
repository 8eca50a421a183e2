/**
 * The tool as `npm run build` compiles it: the child entry is `sandbox-child.js`, started by
 * plain Node (no TypeScript loader) under the strict permission set (it may read only the
 * pyodide package and its own file). The other tests run from source, where the child loads tsx.
 */
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as CodeExecution from './index.js';

const run = promisify(execFile);
// Inside the repository, so the compiled files resolve packages from its node_modules.
const outDir = resolve('.tmp/code-execution-dist');

describe('code_execution compiled by tsc', () => {
  let compiled: typeof CodeExecution;
  let tool: CodeExecution.CodeExecutionTool | undefined;
  beforeAll(async () => {
    rmSync(outDir, { recursive: true, force: true });
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    // The entry files and what they import, with the build's options (tsconfig.build.json).
    await run(process.execPath, [
      tsc,
      ...['--outDir', outDir, '--rootDir', 'src', '--target', 'ES2022'],
      ...['--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--strict'],
      ...['--skipLibCheck', '--types', 'node'],
      'src/tools/code-execution/index.ts',
      'src/tools/code-execution/sandbox-child.ts',
    ]);
    compiled = (await import(
      pathToFileURL(resolve(outDir, 'tools/code-execution/index.js')).href
    )) as typeof CodeExecution;
  }, 180_000);
  afterAll(async () => {
    await tool?.close();
    rmSync(outDir, { recursive: true, force: true });
  });

  it('runs a program in a child started from the compiled entry', async () => {
    tool = compiled.createCodeExecutionTool({ warmWorkers: 0 });
    const session = await tool.open({ type: 'code_execution' }, 0, { project: 'p' });
    const outcome = await session.execute(
      'code_execution',
      { code: 'print(6 * 7)\nimport js' },
      new AbortController().signal,
    );
    const { result, is_error } = outcome.result as { result: string; is_error: boolean };
    expect(is_error).toBe(true);
    expect(result).toMatch(/^42\nTraceback[^]*ImportError: module 'js' is not available/);
  }, 180_000);
});
