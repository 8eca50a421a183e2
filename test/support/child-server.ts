import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';

export interface ChildServer {
  baseUrl: string;
  process: ChildProcess;
  /** Everything the process wrote to stdout (structured JSON log lines). */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function writeConfig(dir: string, config: object): string {
  const path = join(dir, 'open-interactions.yaml');
  writeFileSync(path, stringify(config));
  return path;
}

/** Runs the CLI from source. */
const FROM_SOURCE = ['--import', 'tsx', 'test/support/run-cli.ts'];

/**
 * Starts `open-interactions serve` as a real process and waits for its "listening" log line.
 * `entry` is what node runs before the CLI's arguments (default: the CLI from source).
 */
export async function startChildServer(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  entry: string[] = FROM_SOURCE,
): Promise<ChildServer> {
  const child = spawn(process.execPath, [...entry, 'serve', '--port', '0', ...args], {
    cwd: process.cwd(),
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const baseUrl = await new Promise<string>((resolve, reject) => {
    const timer = setInterval(() => {
      const line = out.split('\n').find((l) => l.includes('"msg":"listening"'));
      if (line) {
        clearInterval(timer);
        resolve((JSON.parse(line) as { address: string }).address.replace('[::1]', '127.0.0.1'));
      }
    }, 20);
    void exited.then(({ code }) => {
      clearInterval(timer);
      reject(new Error(`server exited with ${code} before listening:\n${out}\n${err}`));
    });
  });
  return { baseUrl, process: child, output: () => out + err, exited };
}
