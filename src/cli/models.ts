import { parseArgs } from 'node:util';
import {
  pinnedSha256,
  PullError,
  createProgressBar,
  defaultModelsDir,
  downloadTimeouts,
  formatBytes,
  howToRecoverFromDownload,
  listModels,
  pullModel,
  resolveModelRef,
  type PullModelResult,
} from '../models/download/index.js';
import { UsageError } from './usage-error.js';

const dirOption = { dir: { type: 'string' } } as const;

export async function modelsList(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: dirOption, strict: true });
  const dir = values.dir ?? defaultModelsDir();
  const found = await listModels(dir);
  if (found.length === 0) process.stdout.write(`no models in ${dir}\n`);
  for (const m of found) process.stdout.write(`${m.fileName}\t${formatBytes(m.size)}\t${m.path}\n`);
  return 0;
}

export async function modelsPull(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { ...dirOption, sha256: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  const ref = positionals[0];
  if (!ref) throw new UsageError('give <owner>/<repo>/<file>.gguf or an https URL');
  if (positionals.length > 1)
    throw new UsageError(`one model at a time (got ${positionals.length})`);
  let resolved: ReturnType<typeof resolveModelRef>;
  try {
    resolved = resolveModelRef(ref);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { url, fileName } = resolved;
  // The default model's checksum is pinned in the code: pulling it by name checks against that.
  const sha256 = values.sha256 ?? pinnedSha256(ref);
  const bar = createProgressBar({ label: fileName });
  let result: PullModelResult;
  try {
    result = await pullModel({
      url,
      destDir: values.dir ?? defaultModelsDir(),
      fileName,
      onProgress: bar.onProgress,
      timeouts: downloadTimeouts(),
      ...(sha256 ? { sha256 } : {}),
    });
  } catch (err) {
    if (err instanceof PullError) throw new Error(err.message + howToRecoverFromDownload(err));
    throw err;
  } finally {
    bar.stop();
  }
  const how = result.alreadyPresent ? 'already present' : 'downloaded';
  process.stdout.write(
    `${how}: ${result.path} (${formatBytes(result.bytes)}, sha256 ${result.sha256}, verified: ${result.verified})\n`,
  );
  return 0;
}
