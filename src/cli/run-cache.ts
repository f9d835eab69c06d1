/**
 * `slipway cache`: the caches `slipway run` keeps between runs, per project. Like `run`,
 * a local command: it talks to the backend directly, not to a controller.
 */
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { Backend } from '../backends/backend.ts';
import { createDockerBackend } from '../backends/docker/docker-backend.ts';
import { createProcessBackend } from '../backends/process/process-backend.ts';
import { SlipwayError } from '../errors/index.ts';
import { table, type Output } from './output.ts';

/** The cache scope of a project directory: its real path on this machine. */
export function cacheScopeFor(dir: string): string {
  let path = resolve(dir);
  try {
    path = realpathSync(path);
  } catch {
    // A directory that does not exist yet keeps its resolved name.
  }
  return `local:${path}`;
}

interface CacheOptions {
  all?: boolean;
  backend: string;
}

async function open(name: string): Promise<Backend> {
  if (name === 'process') return createProcessBackend();
  if (name !== 'docker')
    throw new SlipwayError(
      'SW_INVALID_ARGUMENT',
      `--backend ${name} is not a backend; use docker or process`,
    );
  const backend = createDockerBackend();
  if (!(await backend.available()))
    throw new SlipwayError(
      'SW_ENGINE_UNREACHABLE',
      'the Docker engine does not answer; start it (scripts/setup.sh does)',
    );
  return backend;
}

export function registerCache(program: Command, output: Output): void {
  const cache = program
    .command('cache')
    .description('Show or remove the caches that `slipway run` keeps between runs');
  cache
    .command('list')
    .description("List a project's caches (or every project's with --all)")
    .argument('[dir]', 'the project directory', '.')
    .option('--all', 'all projects')
    .option('--backend <backend>', 'docker or process', 'docker')
    .action(async (dir: string, options: CacheOptions) => {
      const backend = await open(options.backend);
      const refs = await backend.listCaches(options.all ? undefined : cacheScopeFor(dir));
      if (refs.length === 0) output.out('no caches');
      else
        output.out(
          table([
            ['KEY', 'PROJECT', 'VOLUME'],
            ...refs.map((r) => [r.key, r.scope.replace(/^local:/, ''), r.volume]),
          ]),
        );
    });
  cache
    .command('prune')
    .description("Remove a project's caches (or every project's with --all)")
    .argument('[dir]', 'the project directory', '.')
    .option('--all', 'all projects')
    .option('--backend <backend>', 'docker or process', 'docker')
    .action(async (dir: string, options: CacheOptions) => {
      const backend = await open(options.backend);
      const refs = await backend.listCaches(options.all ? undefined : cacheScopeFor(dir));
      await Promise.all(refs.map((r) => backend.removeCache(r)));
      output.out(`removed ${refs.length} cache${refs.length === 1 ? '' : 's'}`);
    });
}
