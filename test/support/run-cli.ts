// Runs the CLI from source (tests spawn it as a real child process: `node --import tsx`).
import { main } from '../../src/cli/index.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
