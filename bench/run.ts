/**
 * The benchmark runner behind `npm run bench`.
 *
 *   npm run bench                          lists the benchmarks in bench/ and how to run them
 *   npm run bench -- <name> [options…]     runs bench/<name>.ts with those options
 *   npm run bench -- all                   runs every benchmark with its default options, in turn
 *
 * Each benchmark runs in its own process (its tables on stdout, progress on stderr); the runner
 * exits with the first non-zero status. Results and machines are recorded in BENCHMARKS.md.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const self = basename(fileURLToPath(import.meta.url));

interface Bench {
  name: string;
  file: string;
  /** The first sentence of the file's header comment. */
  summary: string;
}

function benches(): Bench[] {
  return readdirSync(here)
    .filter((f) => f.endsWith('.ts') && f !== self)
    .sort()
    .map((f) => {
      const file = join(here, f);
      const header = /^\/\*\*([\s\S]*?)\*\//.exec(readFileSync(file, 'utf8'))?.[1] ?? '';
      const text = header.replace(/^\s*\* ?/gm, '').trim();
      const summary = /^[\s\S]*?\.(\s|$)/.exec(text)?.[0].replace(/\s+/g, ' ').trim() ?? '';
      return { name: f.replace(/\.ts$/, ''), file, summary };
    });
}

function run(bench: Bench, args: string[]): number {
  process.stderr.write(`\n== bench/${bench.name}.ts ${args.join(' ')}\n`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', bench.file, ...args], {
    stdio: 'inherit',
  });
  return result.status ?? 1;
}

const [name, ...args] = process.argv.slice(2);
const all = benches();
if (name === undefined) {
  process.stdout.write('Benchmarks (npm run bench -- <name> [options], or -- all):\n');
  for (const b of all) process.stdout.write(`  ${b.name.padEnd(18)} ${b.summary}\n`);
  process.stdout.write(
    'Each file documents its options at its top; results are in BENCHMARKS.md.\n',
  );
} else if (name === 'all') {
  for (const bench of all) {
    const status = run(bench, []);
    if (status !== 0) process.exit(status);
  }
} else {
  const bench = all.find((b) => b.name === name);
  if (!bench) {
    process.stderr.write(`no benchmark '${name}'; one of: ${all.map((b) => b.name).join(', ')}\n`);
    process.exit(2);
  }
  process.exit(run(bench, args));
}
