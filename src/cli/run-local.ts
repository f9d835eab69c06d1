/**
 * `slipway run` after its options are parsed: compiles the pipeline, opens the backend and
 * runs the plan. Separate from run.ts (the command's definition) so that the runtime, the
 * compiler and the engine client load while git answers (see docs/benchmarks.md,
 * cli-startup).
 */
import { resolve } from 'node:path';
import type { Backend } from '../backends/backend.ts';
import { DEFAULT_POLICY } from '../backends/backend.ts';
import { createDockerBackend } from '../backends/docker/docker-backend.ts';
import { createProcessBackend } from '../backends/process/process-backend.ts';
import { SlipwayError } from '../errors/index.ts';
import { maskableSecrets } from '../logs/masker.ts';
import { compile } from '../pipeline/compile.ts';
import { hasErrors } from '../pipeline/diagnostics.ts';
import { formatDiagnostics } from '../pipeline/format.ts';
import type { BuildContext } from '../pipeline/plan.ts';
import { parseDuration } from '../pipeline/units.ts';
import { prepareArtifacts } from '../runtime/artifacts.ts';
import { currentOwner, sweepDeadOwners } from '../runtime/owner.ts';
import { PlanFilterError, selectJobs, selectMatrix } from '../runtime/plan-filter.ts';
import { runPlan } from '../runtime/plan-runner.ts';
import { localSource } from '../runtime/workspace-source.ts';
import { cacheScopeFor } from './run-cache.ts';
import { readEnvFile } from './env-file.ts';
import { contextFromOptions, parsePairs, type ContextOptions } from './options.ts';
import type { Output } from './output.ts';
import type { PipelineFile } from './pipeline-file.ts';
import { exitCodeFor, humanReporter, jsonReporter, summaryTable } from './run-output.ts';

/** The options of `slipway run`, as commander parses them. */
export interface RunOptions extends ContextOptions {
  job?: string[];
  matrix?: string[];
  env?: string[];
  envFile?: string[];
  secret?: string[];
  backend: string;
  jobs: string;
  json?: boolean;
  timestamps?: boolean;
  network?: string;
  pull: boolean;
  allowHostNetwork?: boolean;
  allowDockerSocket?: boolean;
  grace: string;
  artifacts?: string;
}

/** The creator label of pods made by `slipway run`; the start-up sweep looks for it. */
export const RUN_CREATOR = 'slipway-run';

/**
 * The run itself, once `slipway run` has read the pipeline file and started git (whose
 * answer `facts` brings): loaded by run.ts after that, so git runs while this loads.
 */
export async function runLocal(
  file: PipelineFile,
  facts: Promise<Partial<BuildContext>>,
  options: RunOptions,
  output: Output,
): Promise<number> {
  const context = contextFromOptions(options, await facts);
  const compiled = compile(file.text, { file: file.displayName, context });
  if (compiled.diagnostics.length > 0)
    output.err(formatDiagnostics(compiled.diagnostics, file.text, { color: output.color }));
  if (hasErrors(compiled.diagnostics) || !compiled.plan) return 2;

  let plan = compiled.plan;
  try {
    plan = selectMatrix(
      selectJobs(plan, options.job ?? []),
      parsePairs(options.matrix, '--matrix'),
    );
  } catch (error) {
    if (error instanceof PlanFilterError)
      throw new SlipwayError('SW_INVALID_ARGUMENT', error.message);
    throw error;
  }
  const parallelism = Number(options.jobs);
  if (!Number.isInteger(parallelism) || parallelism < 1)
    throw new SlipwayError(
      'SW_INVALID_ARGUMENT',
      `--jobs ${options.jobs} must be a whole number of 1 or more`,
    );
  const grace = parseDuration(options.grace);
  if (!grace.ok) throw new SlipwayError('SW_INVALID_ARGUMENT', `--grace: ${grace.reason}`);
  const network = options.network;
  if (network !== undefined && !['offline', 'isolated', 'none'].includes(network)) {
    throw new SlipwayError(
      'SW_INVALID_ARGUMENT',
      `--network ${network} is not a mode; use offline, isolated or none`,
    );
  }

  const env: Record<string, string> = {};
  for (const path of options.envFile ?? []) Object.assign(env, await readEnvFile(path));
  Object.assign(env, parsePairs(options.env, '--env'));
  const secrets = parseSecrets(options.secret ?? []);
  const { ignored } = maskableSecrets(Object.values(secrets));
  for (const { reason } of ignored)
    output.err(`slipway: warning: a secret is not masked: ${reason}`);

  const backend = await openBackend(options.backend, output);
  try {
    const swept = await sweepDeadOwners(backend, RUN_CREATOR);
    if (swept.length > 0)
      output.err(
        `slipway: removed ${swept.length} pod${swept.length === 1 ? '' : 's'} left behind by an earlier run that did not finish`,
      );

    const abort = new AbortController();
    let interrupts = 0;
    const onSignal = (signal: NodeJS.Signals): void => {
      interrupts++;
      if (interrupts === 1) {
        output.err(
          `\nslipway: ${signal}: canceling; running steps get SIGTERM, then SIGKILL after ${options.grace} (again to quit at once)`,
        );
        abort.abort();
      } else {
        output.err('slipway: quitting; leftovers are swept by the next run');
        process.exit(130);
      }
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);

    const artifactsDir = resolve(options.artifacts ?? resolve(file.dir, '.slipway', 'artifacts'));
    const stale = await prepareArtifacts(artifactsDir, plan.jobs, {
      owned: options.artifacts === undefined,
    });
    if (stale.length > 0)
      output.err(
        `slipway: removed the artifacts an earlier run left in ${artifactsDir} for ${stale.join(', ')}`,
      );

    const write = (text: string): void => output.write(text);
    const reporter = options.json
      ? jsonReporter(write)
      : humanReporter({
          write,
          color: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
          timestamps: Boolean(options.timestamps),
        });
    if (!options.json)
      output.err(
        `slipway: running ${plan.file}: ${plan.jobs.length} job${plan.jobs.length === 1 ? '' : 's'} on the ${backend.name} backend`,
      );
    try {
      const result = await runPlan(plan, {
        backend,
        owner: currentOwner(RUN_CREATOR),
        policy: {
          ...DEFAULT_POLICY,
          allowHostNetwork: Boolean(options.allowHostNetwork),
          allowDockerSocket: Boolean(options.allowDockerSocket),
        },
        pull: options.pull,
        ...(network ? { networkOverride: network as 'offline' | 'isolated' | 'none' } : {}),
        signal: abort.signal,
        reporter,
        secrets,
        env,
        source: localSource(file.dir),
        artifactsDir,
        cacheScope: cacheScopeFor(file.dir),
        graceMs: grace.value,
        context: plan.context,
        parallelism,
      });
      if (!options.json)
        output.out(summaryTable(result, Boolean(process.stdout.isTTY) && !process.env.NO_COLOR));
      return exitCodeFor(result.outcome);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  } finally {
    await backend.close();
  }
}

function parseSecrets(pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    const name = at < 0 ? pair : pair.slice(0, at);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
      throw new SlipwayError(
        'SW_INVALID_ARGUMENT',
        `--secret ${JSON.stringify(name)} is not a valid variable name`,
      );
    const value = at < 0 ? process.env[name] : pair.slice(at + 1);
    if (value === undefined)
      throw new SlipwayError(
        'SW_INVALID_ARGUMENT',
        `--secret ${name} has no value and $${name} is not set; give --secret ${name}=VALUE`,
      );
    out[name] = value;
  }
  return out;
}

async function openBackend(name: string, output: Output): Promise<Backend> {
  if (name === 'process') {
    output.err(
      'slipway: WARNING: the process backend runs steps as plain processes on this machine, with no isolation and no resource limits',
    );
    return createProcessBackend();
  }
  if (name !== 'docker')
    throw new SlipwayError(
      'SW_INVALID_ARGUMENT',
      `--backend ${name} is not a backend; use docker or process`,
    );
  const backend = createDockerBackend();
  if (!(await backend.available())) {
    throw new SlipwayError(
      'SW_ENGINE_UNREACHABLE',
      'the Docker engine does not answer at /var/run/docker.sock (or $DOCKER_HOST); start it (scripts/setup.sh does) or use --backend process',
    );
  }
  return backend;
}
