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

/** The trained 260K-parameter fixture (`stories260K.gguf`): small, real, deterministic. */
const STORIES_GGUF = resolve(
  process.env.OI_TEST_STORIES_GGUF ?? '../shared/models/stories260K.gguf',
);

/** Fails (never skips) a suite that needs `stories260K.gguf` when it is not there. */
export function requireStoriesGguf(): string {
  if (!existsSync(STORIES_GGUF))
    throw new Error(
      `the fixture GGUF is missing at ${STORIES_GGUF}: set OI_TEST_STORIES_GGUF to it ` +
        '(default ../shared/models/stories260K.gguf)',
    );
  return STORIES_GGUF;
}
