/**
 * The `open-interactions` command: `serve`, `models pull|list`, `keys create|list|revoke`, `usage`. Every command and
 * subcommand answers `--help` (exit 0, stdout) and `--version`; a command line it cannot run exits 2
 * with the reason and a pointer to the command's help.
 */
import { HELP, packageVersion, type HelpTopic } from './help.js';
import { UsageError } from './usage-error.js';

// Loaded on use: `--help` and `--version` answer without loading the server.
const RUNNERS: Partial<Record<HelpTopic, (args: string[]) => Promise<number>>> = {
  serve: async (args) => (await import('./serve.js')).serve(args),
  'models pull': async (args) => (await import('./models.js')).modelsPull(args),
  'models list': async (args) => (await import('./models.js')).modelsList(args),
  'keys create': async (args) => (await import('./keys.js')).keysCreate(args),
  'keys list': async (args) => (await import('./keys.js')).keysList(args),
  'keys revoke': async (args) => (await import('./keys.js')).keysRevoke(args),
  usage: async (args) => (await import('./usage.js')).usage(args),
};

/** The command named by the leading words of `argv` (`models pull`), and the arguments after them. */
function findCommand(argv: string[]): { topic: HelpTopic; args: string[] } | undefined {
  const [first, second] = argv;
  if (first === undefined || first.startsWith('-')) return { topic: 'main', args: argv };
  if (first === 'serve') return { topic: 'serve', args: argv.slice(1) };
  if (first === 'usage') return { topic: 'usage', args: argv.slice(1) };
  if (first === 'keys') {
    if (second === 'create' || second === 'list' || second === 'revoke')
      return { topic: `keys ${second}`, args: argv.slice(2) };
    if (second === undefined || second.startsWith('-'))
      return { topic: 'keys', args: argv.slice(1) };
  }
  if (first === 'models') {
    if (second === 'pull' || second === 'list')
      return { topic: `models ${second}`, args: argv.slice(2) };
    if (second === undefined || second.startsWith('-'))
      return { topic: 'models', args: argv.slice(1) };
  }
  return undefined;
}

/** Whether `flag` is given before any `--` terminator. */
function hasFlag(args: string[], ...flags: string[]): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).some((a) => flags.includes(a));
}

function commandName(topic: HelpTopic): string {
  return topic === 'main' ? 'open-interactions' : `open-interactions ${topic}`;
}

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'help') {
    const found = findCommand(argv.slice(1));
    if (!found || found.args.length > 0) {
      process.stderr.write(`unknown command '${argv.slice(1).join(' ')}'\n\n${HELP.main}`);
      return 2;
    }
    process.stdout.write(HELP[found.topic]);
    return 0;
  }
  const found = findCommand(argv);
  if (!found) {
    process.stderr.write(`unknown command '${argv.slice(0, 2).join(' ')}'\n\n${HELP.main}`);
    return 2;
  }
  const { topic, args } = found;
  if (hasFlag(args, '--help', '-h')) {
    process.stdout.write(HELP[topic]);
    return 0;
  }
  if (hasFlag(args, '--version')) {
    process.stdout.write(`open-interactions ${packageVersion()}\n`);
    return 0;
  }
  const run = RUNNERS[topic];
  if (!run) {
    if (args.length > 0) return usage(topic, `unknown option '${args[0]}'`);
    process.stdout.write(HELP[topic]);
    return 0;
  }
  try {
    return await run(args);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (
      err instanceof UsageError ||
      (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))
    )
      return usage(topic, (err as Error).message);
    throw err;
  }
}

function usage(topic: HelpTopic, message: string): number {
  const name = commandName(topic);
  process.stderr.write(`${name}: ${message}\nRun '${name} --help' for usage.\n`);
  return 2;
}
