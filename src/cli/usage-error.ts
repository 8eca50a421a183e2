/** A command line the command cannot run (unknown option, bad value): exit status 2 with a hint. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
