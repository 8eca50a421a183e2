import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

/** The fixture GGUF the local-model tests run on (CI sets OI_TEST_GGUF). */
const TEST_GGUF = resolve(process.env.OI_TEST_GGUF ?? '../shared/models/llama-2-tiny-random.gguf');

/** Fails (never skips) a suite that needs the fixture GGUF when it is not there. */
export function requireTestGguf(): string {
  if (!existsSync(TEST_GGUF))
    throw new Error(
      `the fixture GGUF is missing at ${TEST_GGUF}: set OI_TEST_GGUF to a GGUF file ` +
        '(default ../shared/models/llama-2-tiny-random.gguf)',
    );
  return TEST_GGUF;
}
