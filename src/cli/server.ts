/** `slipway server`: the controller with its API, queue, scheduler and embedded agent. */
import type { Command } from 'commander';
import { holdYoungGeneration } from './startup-heap.ts';
// The young generation is held small while the controller's modules load (see there).
const releaseYoungGeneration = holdYoungGeneration();
const { ConfigError, defaultConfig, loadConfig, resolveRef, resolveSecrets } =
  await import('../config/server-config.ts');
const { SlipwayError } = await import('../errors/index.ts');
const { shortSecretWarnings } = await import('../logs/secret-forms.ts');
const { startServer } = await import('../main/server.ts');
const { formatDiagnostics } = await import('../pipeline/format.ts');
import type { Output } from './output.ts';

interface ServerCliOptions {
  config?: string;
  listen?: string;
  dataDir?: string;
  check?: boolean;
}

/** `--check`: validate the configuration and resolve its references, start nothing. */
function check(options: ServerCliOptions, output: Output): void {
  const overrides = {
    ...(options.listen ? { listen: options.listen } : {}),
    ...(options.dataDir ? { dataDir: options.dataDir } : {}),
  };
  const config = options.config ? loadConfig(options.config, overrides) : defaultConfig(overrides);
  for (const warning of shortSecretWarnings(resolveSecrets(config)))
    output.err(`slipway: WARNING: ${warning}`);
  for (const job of config.jobs)
    if (job.webhookSecret) resolveRef(job.webhookSecret, `jobs.${job.name}.webhook_secret`);
  if (config.adminTokenRef) resolveRef(config.adminTokenRef, 'admin_token');
  const secrets = Object.keys(config.secrets).length;
  const webhookSecrets = config.jobs.filter((job) => job.webhookSecret).length;
  output.out(
    `${config.file ?? 'the embedded defaults'}: valid; listen ${config.listen.host}:${config.listen.port}, ` +
      `data in ${config.dataDir}, ${config.jobs.length} job${config.jobs.length === 1 ? '' : 's'}` +
      (config.jobs.length ? ` (${config.jobs.map((j) => j.name).join(', ')})` : '') +
      `, ${plural(secrets, 'secret')} and ${plural(webhookSecrets, 'webhook secret')} resolved` +
      (config.adminTokenRef ? ', and the admin token' : ''),
  );
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

export function registerServer(program: Command, output: Output, version: string): void {
  program
    .command('server')
    .description('run the controller: API on /api/v1, webhooks, schedules, and the embedded agent')
    .option(
      '-c, --config <file>',
      'configuration file (slipway.server.yml); default: embedded defaults',
    )
    .option('--listen <host:port>', 'address to listen on (default 127.0.0.1:8080)')
    .option(
      '--data-dir <dir>',
      'where the store, mirrors and admin token live (default ./.slipway-data)',
    )
    .option('--check', 'validate the configuration and resolve its secret references, then exit')
    .addHelpText(
      'after',
      `
The admin token comes from SLIPWAY_ADMIN_TOKEN, or admin_token in the file, or is generated on
first start and stored 0600 in the data directory.

Signals:
  SIGTERM  stop dispatching and exit at once (status 0), handing running builds over: their
           pods keep running and the next start adopts them, their logs going on where they
           were (clients following a build reconnect)
  SIGINT   (Ctrl-C) stop dispatching, wait for running builds to finish, exit 0
  a second SIGINT or SIGTERM while stopping: cancel the running builds (their steps get
           SIGTERM, then SIGKILL), remove their pods, exit 130
  SIGHUP   re-read the configuration; an invalid file is refused and the running one kept`,
    )
    .action(async (options: ServerCliOptions) => {
      let server;
      try {
        if (options.check) {
          check(options, output);
          return;
        }
        server = await startServer({
          ...(options.config ? { configFile: options.config } : {}),
          ...(options.listen ? { listen: options.listen } : {}),
          ...(options.dataDir ? { dataDir: options.dataDir } : {}),
          version,
          log: (line) => output.err(line),
        });
      } catch (error) {
        if (error instanceof ConfigError) {
          if (error.diagnostics.length > 0)
            output.err(formatDiagnostics(error.diagnostics, error.text, { color: output.color }));
          throw new SlipwayError('SW_CONFIG_INVALID', error.message);
        }
        throw error;
      }
      output.err(
        `slipway: controller listening on ${server.url} (data in ${server.config.dataDir})`,
      );
      releaseYoungGeneration();
      // Last line of defence: one failed call never ends the controller. Every known path
      // handles its failures; one that does not is a bug, told here with its stack.
      process.on('unhandledRejection', (reason) => {
        output.err(
          `slipway: BUG: a failure nobody handled (the controller goes on): ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}`,
        );
      });
      let stopping = false;
      const exit = (code: number) => (): never => process.exit(code);
      // A stop that fails still ends the process, saying why.
      const failed = (error: unknown): never => {
        output.err(`slipway: stopping failed: ${(error as Error).message}`);
        return process.exit(1);
      };
      const stop = (signal: string): void => {
        if (stopping) {
          output.err(`slipway: ${signal} again: canceling running builds`);
          void server.stop({ running: 'cancel' }).then(exit(130), failed);
          return;
        }
        stopping = true;
        if (signal === 'SIGTERM') {
          // Service managers stop with SIGTERM: hand the running attempts over. Their pods
          // keep running and the next start adopts them, logs continuing where they were.
          output.err(
            'slipway: SIGTERM: no new builds start; running ones keep running in their pods and are adopted at the next start',
          );
          void server.stop({ running: 'hand-over' }).then(exit(0), failed);
          return;
        }
        output.err(
          `slipway: ${signal}: no new builds start; waiting for running ones (again to cancel them)`,
        );
        void server.stop().then(exit(0), failed);
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGHUP', () => {
        server.reload().then(
          (diff) =>
            output.err(
              `slipway: configuration reloaded (added ${diff.added.length}, changed ${diff.changed.length}, removed ${diff.removed.length})`,
            ),
          (error: unknown) => {
            if (error instanceof ConfigError && error.diagnostics.length > 0)
              output.err(formatDiagnostics(error.diagnostics, error.text, { color: output.color }));
            output.err(
              `slipway: reload refused, the running configuration stays: ${(error as Error).message}`,
            );
          },
        );
      });
      await new Promise(() => undefined);
    });
}
