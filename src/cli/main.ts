import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { isSlipwayError } from '../errors/index.ts';
import { guardStdio, processOutput, type Output } from './output.ts';
import { registerClient } from './client.ts';
import { registerCache } from './run-cache.ts';
import { registerRun } from './run.ts';
import { registerSchema } from './schema.ts';
import { registerServer } from './server.ts';
import { registerValidate } from './validate.ts';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** Builds the `slipway` command tree. */
export function createProgram(output: Output, setExit: (code: number) => void): Command {
  const program = new Command('slipway')
    .description(
      'Slipway: a container-native CI server. Every build runs in a fresh, disposable pod of containers.',
    )
    .version(version(), '-V, --version', 'print the version')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (s) => output.out(s), writeErr: (s) => output.err(s) })
    .exitOverride();
  registerValidate(program, output, setExit);
  registerRun(program, output, setExit);
  registerCache(program, output);
  registerSchema(program, output);
  registerServer(program, output, version());
  registerClient(program, output, setExit);
  return program;
}

/**
 * Runs the CLI and returns the exit code: 0 success, 1 the checked thing failed, 2 could not
 * run. Without `output` it writes to the process's own streams, guarded against EPIPE.
 */
export async function main(argv: readonly string[], output?: Output): Promise<number> {
  if (!output) {
    guardStdio();
    output = processOutput();
  }
  let code = 0;
  const program = createProgram(output, (c) => (code = c));
  try {
    await program.parseAsync([...argv]);
    return code;
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
