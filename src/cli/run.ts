import type { Command } from 'commander';
import { gitContext } from './git-context.ts';
import { collect } from './options.ts';
import type { Output } from './output.ts';
import { readPipelineFile } from './pipeline-file.ts';
import type { RunOptions } from './run-local.ts';

/** `slipway run`: runs a pipeline here, with the same runtime the controller uses. */
export function registerRun(
  program: Command,
  output: Output,
  setExit: (code: number) => void,
): void {
  program
    .command('run')
    .description('Run a pipeline on this machine, each job in a fresh pod of containers')
    .argument('[target]', 'pipeline file, or a directory holding .slipway.yml', '.')
    .option('--job <name>', 'run only this job and what it needs (repeatable)', collect)
    .option(
      '--matrix <axis=value>',
      'run only the matrix variants with this value (repeatable)',
      collect,
    )
    .option('--env <KEY=VALUE>', 'extra environment for every step (repeatable)', collect)
    .option('--env-file <file>', 'read KEY=VALUE lines into the environment (repeatable)', collect)
    .option(
      '--secret <KEY[=VALUE]>',
      'a secret: injected where a job lists it, masked everywhere; without =VALUE it is read from the environment (repeatable)',
      collect,
    )
    .option(
      '--backend <backend>',
      'docker (isolated containers) or process (host processes, no isolation)',
      'docker',
    )
    .option('--jobs <n>', 'how many jobs may run at once', '2')
    .option('--json', 'write one JSON event per line instead of the human view')
    .option('--timestamps', 'prefix every output line with its time')
    .option(
      '--network <mode>',
      'use this network instead of "isolated" for every job: offline (no outside access), isolated, none',
    )
    .option('--no-pull', 'never pull images; a missing image fails the job')
    .option('--allow-host-network', 'let jobs use network: host')
    .option('--allow-docker-socket', "mount the engine's socket into primary and tool containers")
    .option('--grace <duration>', 'how long a stopped step gets between SIGTERM and SIGKILL', '10s')
    .option(
      '--artifacts <dir>',
      'where artifacts go (default: .slipway/artifacts next to the pipeline)',
    )
    .option('--event <event>', 'run as this event: push, tag, pull_request, schedule, manual, api')
    .option('--branch <branch>', 'run as this branch (default: the current git branch)')
    .option('--tag <tag>', 'run as this tag')
    .option('--sha <sha>', 'run as this commit')
    .option('--input <name=value>', 'a manual input (repeatable)', collect)
    .addHelpText(
      'after',
      '\nExit status: 0 the pipeline succeeded, 1 it failed, 2 it could not start (invalid pipeline or options),\n3 infrastructure error (engine unreachable, image missing), 130 canceled.',
    )
    .action(async (target: string, options: RunOptions) => {
      const file = await readPipelineFile(target);
      // git answers in processes of its own while the runtime loads here.
      const facts = gitContext(file.dir);
      const { runLocal } = await import('./run-local.ts');
      setExit(await runLocal(file, facts, options, output));
    });
}
