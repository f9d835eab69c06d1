/**
 * The `slipway` command tree. Start-up time matters (every `slipway run` and `trigger` pays
 * it), so this file imports only commander: each command's module is loaded with
 * `import()` when that command runs, and `slipway --help` lists the others from the table
 * below without loading them. See docs/benchmarks.md (cli-startup).
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Help } from 'commander';
import { isSlipwayError } from '../errors/index.ts';
import { EXIT_BROKEN_PIPE, guardStdio, processOutput, type Output } from './output.ts';

/** What a command module needs to register its commands. */
export interface CommandContext {
  output: Output;
  setExit: (code: number) => void;
  version: string;
}

type Register = (program: Command, context: CommandContext) => void;

/** A top-level command: how `slipway --help` lists it, and the module that defines it. */
export interface LazyCommand {
  name: string;
  /** The term in the command list, as commander prints it for the real command. */
  term: string;
  description: string;
  load: () => Promise<Register>;
}

const client = (): Promise<Register> =>
  import('./client.ts').then((m) => (p, c) => m.registerClient(p, c.output, c.setExit));

/** Every top-level command, in help order. A test keeps terms and descriptions true. */
export const COMMANDS: readonly LazyCommand[] = [
  {
    name: 'validate',
    term: 'validate [options] [file]',
    description: 'Check a pipeline file and show every problem, or a summary of its plan',
    load: () =>
      import('./validate.ts').then((m) => (p, c) => m.registerValidate(p, c.output, c.setExit)),
  },
  {
    name: 'run',
    term: 'run [options] [target]',
    description: 'Run a pipeline on this machine, each job in a fresh pod of containers',
    load: () => import('./run.ts').then((m) => (p, c) => m.registerRun(p, c.output, c.setExit)),
  },
  {
    name: 'cache',
    term: 'cache',
    description: 'Show or remove the caches that `slipway run` keeps between runs',
    load: () => import('./run-cache.ts').then((m) => (p, c) => m.registerCache(p, c.output)),
  },
  {
    name: 'schema',
    term: 'schema [options]',
    description: 'Print the JSON Schema of .slipway.yml (for editor completion and checks)',
    load: () => import('./schema.ts').then((m) => (p, c) => m.registerSchema(p, c.output)),
  },
  {
    name: 'server',
    term: 'server [options]',
    description: 'run the controller: API on /api/v1, webhooks, schedules, and the embedded agent',
    load: () =>
      import('./server.ts').then((m) => (p, c) => m.registerServer(p, c.output, c.version)),
  },
  {
    name: 'trigger',
    term: 'trigger [options] <job>',
    description: 'start a build of a job on the controller',
    load: client,
  },
  {
    name: 'builds',
    term: 'builds [options] [job]',
    description: 'list builds, newest first',
    load: client,
  },
  {
    name: 'logs',
    term: 'logs [options] <build>',
    description: "print a build's output (BUILD is an id or JOB#NUMBER)",
    load: client,
  },
  { name: 'cancel', term: 'cancel [options] <build>', description: 'cancel a build', load: client },
  {
    name: 'rerun',
    term: 'rerun [options] <build>',
    description: 'run a finished build again (new attempts)',
    load: client,
  },
  {
    name: 'jobs',
    term: 'jobs [options]',
    description: 'list jobs; `jobs add` and `jobs rm` change them',
    load: client,
  },
  {
    name: 'queue',
    term: 'queue [options]',
    description: 'queued job attempts and why each waits',
    load: client,
  },
  {
    name: 'credentials',
    term: 'credentials',
    description: 'list, add and remove credentials, and rotate their key',
    load: () =>
      import('./credentials.ts').then((m) => (p, c) => m.registerCredentials(p, c.output)),
  },
];

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** The command a command line names (`help X` names X), or undefined for none. */
export function commandNamed(args: readonly string[]): string | undefined {
  // The program's own options (--help, --version) take no values, so the first operand is
  // the command.
  const operands = args.filter((a) => !a.startsWith('-'));
  return operands[0] === 'help' ? operands[1] : operands[0];
}

/**
 * Builds the `slipway` command tree for `args` (the words after `slipway`): the named
 * command's module is loaded and registered for real; the others are listed only.
 * `load: 'all'` registers every command for real (tests).
 */
export async function createProgram(
  output: Output,
  setExit: (code: number) => void,
  args: readonly string[] | 'all' = 'all',
): Promise<Command> {
  const context: CommandContext = { output, setExit, version: version() };
  const program = new Command('slipway')
    .description(
      'Slipway: a container-native CI server. Every build runs in a fresh, disposable pod of containers.',
    )
    .version(context.version, '-V, --version', 'print the version')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (s) => output.out(s), writeErr: (s) => output.err(s) })
    .exitOverride();
  const named = args === 'all' ? undefined : commandNamed(args);
  const wanted = new Set(
    COMMANDS.filter((c) => args === 'all' || c.name === named).map((c) => c.load),
  );
  const loaded = new Set<LazyCommand['load']>();
  const terms = new Map<string, string>();
  for (const command of COMMANDS) {
    if (program.commands.some((c) => c.name() === command.name)) continue;
    if (wanted.has(command.load) && !loaded.has(command.load)) {
      loaded.add(command.load);
      (await command.load())(program, context);
    } else {
      // Listed for --help and for commander's "did you mean"; never run.
      program.command(command.name).description(command.description);
      terms.set(command.name, command.term);
    }
  }
  const help = new Help();
  program.configureHelp({
    subcommandTerm: (cmd) => terms.get(cmd.name()) ?? help.subcommandTerm(cmd),
  });
  return program;
}

/**
 * Runs the CLI and returns the exit code: 0 success, 1 the checked thing failed, 2 could not
 * run. Without `output` it writes to the process's own streams, guarded against EPIPE.
 */
export async function main(argv: readonly string[], output?: Output): Promise<number> {
  let brokenPipe = (): boolean => false;
  if (!output) {
    brokenPipe = guardStdio();
    output = processOutput();
  }
  let code = 0;
  try {
    const program = await createProgram(output, (c) => (code = c), argv.slice(2));
    await program.parseAsync([...argv]);
    return brokenPipe() ? EXIT_BROKEN_PIPE : code;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end through here with exit code 0.
      return error.exitCode === 0 ? 0 : 2;
    }
    if (isSlipwayError(error)) {
      output.err(`slipway: ${error.message} [${error.code}]`);
      return error.code === 'SW_ENGINE_UNREACHABLE' ? 3 : 2;
    }
    output.err(
      `slipway: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)} [SW_INTERNAL]`,
    );
    return 2;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await main(process.argv);
}
