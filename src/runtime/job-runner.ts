/**
 * Runs one attempt of one job: makes its pod, runs its steps in order, and always tears
 * the pod down. The same code runs under `slipway run` and, later, under the agent.
 */
import type {
  Backend,
  OwnerLabels,
  Pod,
  PodPolicy,
  PodSpec,
  StepCommand,
  StreamOffsets,
} from '../backends/backend.ts';
import { PodError } from '../backends/backend.ts';
import { createMasker } from '../logs/masker.ts';
import { evaluate, parseExpression, truthy } from '../pipeline/expressions.ts';
import { buildValues } from '../pipeline/job-render.ts';
import type { BuildContext, PlanJob, PlanStep } from '../pipeline/plan.ts';
import { WORKSPACE_PATH } from '../pipeline/plan.ts';
import { resolvePosix, splitWords } from '../pipeline/shell-words.ts';
import { artifactsDirFor, collectArtifacts } from './artifacts.ts';
import { renderCacheKey, transferCache } from './caches.ts';
import { emit, type Reporter } from './events.ts';
import {
  classifyPodFailure,
  classifyStep,
  formatMs,
  isSuccess,
  type Ending,
  type Outcome,
  type StopCause,
} from './outcome.ts';
import { planPod } from './pod-plan.ts';
import type { WorkspaceSource } from './workspace-source.ts';

export interface JobRunOptions {
  backend: Backend;
  runId: string;
  attempt: number;
  owner: Omit<OwnerLabels, 'runId' | 'job' | 'attempt'>;
  policy: PodPolicy;
  pull: boolean;
  networkOverride?: PodSpec['network'];
  /** Cancels the job: the running step is stopped (SIGTERM, then SIGKILL) and the pod removed. */
  signal: AbortSignal;
  reporter: Reporter;
  /** Every secret value of the run, by name. Injected when the job lists the name; always masked. */
  secrets: Readonly<Record<string, string>>;
  /** Extra environment for every step (e.g. `slipway run --env`). */
  env?: Readonly<Record<string, string>>;
  /** What `checkout` copies into the workspace, and what `hashFiles()` hashes. */
  source?: WorkspaceSource;
  /** Where artifacts are written (`<dir>/<job>/...`); no artifacts when undefined. */
  artifactsDir?: string;
  /** Whose caches this run uses and fills (a project); caches of other scopes never mix. */
  cacheScope: string;
  /** SIGTERM-to-SIGKILL grace period for stopped steps. */
  graceMs: number;
  context: BuildContext;
  /** Spool each step's output in the pod, so a later process can resume it (controller agents). */
  durable?: boolean;
  /** Continue an attempt that an earlier process started, in its adopted pod. */
  resume?: ResumePoint;
}

/** Where an adopted attempt continues. */
export interface ResumePoint {
  pod: Pod;
  /** The step to continue at. */
  step: number;
  /** `follow`: the step was running: wait for it and deliver its output after `offsets`. `start`: run it. */
  mode: 'follow' | 'start';
  offsets: StreamOffsets;
  /** Whether a step before `step` failed (for `when`/`if` of the later ones). */
  previousFailed: boolean;
}

export interface StepResult {
  index: number;
  name: string;
  outcome: Outcome;
  reason: string;
  exitCode: number | null;
  durationMs: number;
  allowedFailure: boolean;
  /** How its stop went when it was not the usual way (a frozen container killed from outside). */
  note?: string;
}

export interface JobResult {
  job: string;
  attempt: number;
  outcome: Outcome;
  reason: string;
  durationMs: number;
  steps: StepResult[];
}

/** Runs one job attempt. Never throws for anything a build can do; returns its ending. */
export async function runJobAttempt(job: PlanJob, options: JobRunOptions): Promise<JobResult> {
  const started = Date.now();
  const { reporter, attempt } = options;
  const base = { job: job.id, attempt };
  emit(reporter, { type: 'job.started', ...base });
  const progress = (message: string): void =>
    emit(reporter, { type: 'job.progress', ...base, message });

  const abort = new AbortController();
  const cancel = (): void => abort.abort('canceled' satisfies StopCause);
  if (options.signal.aborted) cancel();
  options.signal.addEventListener('abort', cancel, { once: true });
  const timer = setTimeout(() => abort.abort('timeout' satisfies StopCause), job.timeoutMs);
  const cause = (): StopCause | undefined =>
    abort.signal.aborted ? (abort.signal.reason as StopCause) : undefined;

  const steps: StepResult[] = [];
  const finish = (ending: Pick<Ending, 'outcome' | 'reason'>): JobResult => {
    clearTimeout(timer);
    options.signal.removeEventListener('abort', cancel);
    return {
      job: job.id,
      attempt,
      outcome: ending.outcome,
      reason: ending.reason,
      durationMs: Date.now() - started,
      steps,
    };
  };

  const missing = job.secrets.filter((name) => options.secrets[name] === undefined);
  if (missing.length > 0) {
    return finish({
      outcome: 'failure',
      reason: `the job needs secret${missing.length > 1 ? 's' : ''} ${missing.join(', ')}, which ${missing.length > 1 ? 'are' : 'is'} not set; give ${missing.map((m) => `--secret ${m}=...`).join(' ')} (or --env-file)`,
    });
  }

  let pod: Pod | undefined;
  try {
    const cacheKeys = await Promise.all(
      job.caches.map((c) => renderCacheKey(c, job, options.context, options.source)),
    );
    const plan = planPod(job, {
      runId: options.runId,
      attempt,
      owner: options.owner,
      policy: options.policy,
      pull: options.pull,
      cacheKeys,
      cacheScope: options.cacheScope,
      ...(options.networkOverride ? { networkOverride: options.networkOverride } : {}),
    });
    if (abort.signal.aborted) return finish(stoppedEnding(cause(), job));
    try {
      pod = options.resume
        ? options.resume.pod
        : await options.backend.createPod(plan.spec, abort.signal, { onProgress: progress });
    } catch (error) {
      if (cause()) return finish(stoppedEnding(cause(), job));
      if (error instanceof PodError)
        return finish(classifyPodFailure(error.failure, error.message));
      return finish({
        outcome: 'infra_error',
        reason: `could not start the pod: ${(error as Error).message}`,
      });
    }
    const asRoot = options.backend.name === 'docker';
    for (const [i, cache] of job.caches.entries()) {
      if (cache.policy === 'push' || options.resume) continue;
      const result = await transferCache(pod, cache, i, 'restore', asRoot, abort.signal);
      progress(
        `cache ${cacheKeys[i] ?? ''}: ${result.ok ? result.lines.join(', ') : `could not be restored (${result.lines.join(' ')})`}`,
      );
    }

    const failure = await runSteps(
      job,
      pod,
      (step) => plan.targetOf(step),
      options,
      abort.signal,
      cause,
      steps,
    );
    const ending: Pick<Ending, 'outcome' | 'reason'> = cause()
      ? stoppedEnding(cause(), job, steps.find((s) => s.note)?.note)
      : (failure ?? {
          outcome: 'success',
          reason: `${steps.filter((s) => s.outcome === 'success').length} steps succeeded`,
        });

    if (ending.outcome === 'success') {
      for (const [i, cache] of job.caches.entries()) {
        if (cache.policy === 'pull') continue;
        const result = await transferCache(
          pod,
          cache,
          i,
          'save',
          asRoot,
          new AbortController().signal,
        );
        progress(
          `cache ${cacheKeys[i] ?? ''}: ${result.ok ? result.lines.join(', ') : `could not be saved (${result.lines.join(' ')})`}`,
        );
      }
    }
    if (
      job.artifacts &&
      options.artifactsDir &&
      artifactsWanted(job.artifacts.when, ending.outcome)
    ) {
      try {
        const collected = await collectArtifacts(
          pod,
          job.artifacts.paths,
          artifactsDirFor(options.artifactsDir, job.id),
        );
        progress(
          `artifacts: ${collected.files} file${collected.files === 1 ? '' : 's'} (${collected.bytes} bytes) saved to ${collected.dir}`,
        );
      } catch (error) {
        progress(`artifacts: could not be collected: ${(error as Error).message}`);
      }
    }
    return finish(ending);
  } finally {
    // Teardown outlives cancellation: it runs on its own deadline inside destroy().
    if (pod) await pod.destroy();
  }
}

function stoppedEnding(
  cause: StopCause | undefined,
  job: PlanJob,
  note?: string,
): Pick<Ending, 'outcome' | 'reason'> {
  const ending: Pick<Ending, 'outcome' | 'reason'> =
    cause === 'timeout'
      ? { outcome: 'timeout', reason: `the job ran past its timeout of ${formatMs(job.timeoutMs)}` }
      : { outcome: 'canceled', reason: 'canceled' };
  return note ? { ...ending, reason: `${ending.reason}; ${note}` } : ending;
}

function artifactsWanted(when: 'on_success' | 'on_failure' | 'always', outcome: Outcome): boolean {
  if (when === 'always') return true;
  return when === 'on_success' ? outcome === 'success' : outcome !== 'success';
}

/** Runs the steps; returns the ending of the first failing step that fails the job. */
async function runSteps(
  job: PlanJob,
  pod: Pod,
  targetOf: (step: PlanStep) => string,
  options: JobRunOptions,
  signal: AbortSignal,
  cause: () => StopCause | undefined,
  results: StepResult[],
): Promise<Pick<Ending, 'outcome' | 'reason'> | undefined> {
  const { reporter, attempt, resume } = options;
  let firstFailure: Pick<Ending, 'outcome' | 'reason'> | undefined = resume?.previousFailed
    ? { outcome: 'failure', reason: 'a step failed before the controller restarted' }
    : undefined;
  const record = (step: PlanStep, ending: Ending, durationMs: number): void => {
    const allowedFailure = step.allowFailure && !isSuccess(ending.outcome);
    results.push({
      index: step.index,
      name: step.name,
      outcome: ending.outcome,
      reason: ending.reason,
      exitCode: ending.exitCode,
      durationMs,
      allowedFailure,
      ...(ending.note ? { note: ending.note } : {}),
    });
    emit(reporter, {
      type: 'step.finished',
      job: job.id,
      attempt,
      step: step.index,
      name: step.name,
      outcome: ending.outcome,
      reason: ending.reason,
      exitCode: ending.exitCode,
      durationMs,
      allowedFailure,
    });
    if (!isSuccess(ending.outcome) && !step.allowFailure && !firstFailure) {
      firstFailure = {
        outcome: ending.outcome,
        reason: `step ${step.index + 1} (${step.name}): ${ending.reason}`,
      };
    }
  };
  const skip = (step: PlanStep, reason: string): void =>
    record(step, { outcome: 'skipped', reason, exitCode: null }, 0);

  for (const step of job.steps) {
    // An adopted attempt: the steps before the resume point were reported by the process
    // that started them; the one being followed was already announced.
    if (resume && step.index < resume.step) continue;
    const following = resume?.mode === 'follow' && step.index === resume.step;
    if (following) {
      const started = Date.now();
      record(
        step,
        await execStep(step, job, pod, targetOf(step), options, signal, resume.offsets),
        Date.now() - started,
      );
      continue;
    }
    if (step.skip !== null) {
      skip(step, step.skip);
      continue;
    }
    if (signal.aborted) {
      skip(
        step,
        cause() === 'timeout' ? 'not run: the job timed out' : 'not run: the job was canceled',
      );
      continue;
    }
    const failed = firstFailure !== undefined;
    const decision = shouldRun(step, job, options.context, failed);
    if (decision !== true) {
      skip(step, decision);
      continue;
    }
    emit(reporter, {
      type: 'step.started',
      job: job.id,
      attempt,
      step: step.index,
      name: step.name,
    });
    const started = Date.now();
    const ending =
      step.kind === 'checkout'
        ? await checkout(step, pod, options, job)
        : await execStep(step, job, pod, targetOf(step), options, signal);
    record(step, ending, Date.now() - started);
  }
  return firstFailure;
}

/** True when the step should run; otherwise why not. */
function shouldRun(
  step: PlanStep,
  job: PlanJob,
  context: BuildContext,
  failed: boolean,
): true | string {
  if (step.if !== null) {
    const parsed = parseExpression(step.if);
    if (!parsed.ok) return `if: ${step.if} could not be read`;
    const value = evaluate(parsed.expr, {
      matrix: job.matrix,
      env: { ...job.env, ...step.env },
      inputs: context.inputs,
      build: buildValues(context),
      status: { success: !failed, failure: failed, canceled: false },
    });
    return truthy(value) ? true : `if: ${step.if} is false`;
  }
  switch (step.when) {
    case 'success':
      return failed ? 'skipped: an earlier step failed' : true;
    case 'failure':
      return failed ? true : 'skipped: no earlier step failed (when.status: failure)';
    case 'always':
      return true;
  }
}

/** Characters that need a shell; a script without them can run in an image without one. */
const SHELL_SYNTAX = /[|&;<>()$`\\\n*?[\]{}~#]/;

async function execStep(
  step: PlanStep,
  job: PlanJob,
  pod: Pod,
  target: string,
  options: JobRunOptions,
  jobSignal: AbortSignal,
  resumeAt?: StreamOffsets,
): Promise<Ending> {
  const script = step.run ?? '';
  const abort = new AbortController();
  const stop = (): void => abort.abort(jobSignal.reason);
  if (jobSignal.aborted) stop();
  jobSignal.addEventListener('abort', stop, { once: true });
  const timer =
    step.timeoutMs === null
      ? undefined
      : setTimeout(() => abort.abort('timeout' satisfies StopCause), step.timeoutMs);
  const secretValues = Object.values(options.secrets);
  const maskers = { stdout: createMasker(secretValues), stderr: createMasker(secretValues) };
  const send = (stream: 'stdout' | 'stderr', data: Buffer): void => {
    if (data.length > 0)
      emit(options.reporter, {
        type: 'output',
        job: job.id,
        attempt: options.attempt,
        step: step.index,
        stream,
        data,
      });
  };
  const command: StepCommand = {
    id: `${options.runId}-${options.attempt}-${step.index}`,
    argv: [...step.shell, script],
    directArgv: SHELL_SYNTAX.test(script) ? null : splitWords(script),
    env: stepEnv(step, job, options),
    workingDir: step.workingDir,
    user: job.user,
    graceMs: options.graceMs,
    ...(options.durable ? { spool: true } : {}),
  };
  try {
    const io = {
      stdout: (b: Buffer) => send('stdout', maskers.stdout.write(b)),
      stderr: (b: Buffer) => send('stderr', maskers.stderr.write(b)),
    };
    const exit = resumeAt
      ? pod.resume
        ? await pod.resume(target, command, resumeAt, io, abort.signal)
        : ({ kind: 'infra_error', message: 'this backend cannot resume a step' } as const)
      : await pod.exec(target, command, io, abort.signal);
    const cause = abort.signal.aborted ? (abort.signal.reason as StopCause) : undefined;
    return classifyStep(
      exit,
      cause,
      cause === 'timeout' && !jobSignal.aborted ? step.timeoutMs : job.timeoutMs,
    );
  } finally {
    send('stdout', maskers.stdout.end());
    send('stderr', maskers.stderr.end());
    clearTimeout(timer);
    jobSignal.removeEventListener('abort', stop);
  }
}

/** The environment of a step: Slipway's variables, the job's, its secrets, the step's. */
function stepEnv(step: PlanStep, job: PlanJob, options: JobRunOptions): Record<string, string> {
  const c = options.context;
  const secrets = Object.fromEntries(
    job.secrets.map((name) => [name, options.secrets[name] ?? '']),
  );
  return {
    CI: 'true',
    SLIPWAY: 'true',
    SLIPWAY_RUN: options.runId,
    SLIPWAY_JOB: job.id,
    SLIPWAY_ATTEMPT: String(options.attempt),
    SLIPWAY_STEP: step.name,
    SLIPWAY_WORKSPACE: WORKSPACE_PATH,
    SLIPWAY_EVENT: c.event,
    SLIPWAY_BRANCH: c.branch ?? '',
    SLIPWAY_TAG: c.tag ?? '',
    SLIPWAY_SHA: c.sha,
    SLIPWAY_BUILD_NUMBER: String(c.number),
    ...options.env,
    ...job.env,
    ...secrets,
    ...step.env,
  };
}

async function checkout(
  step: PlanStep,
  pod: Pod,
  options: JobRunOptions,
  job: PlanJob,
): Promise<Ending> {
  const say = (text: string): void =>
    emit(options.reporter, {
      type: 'output',
      job: job.id,
      attempt: options.attempt,
      step: step.index,
      stream: 'stdout',
      data: Buffer.from(`${text}\n`),
    });
  if (!options.source) {
    return {
      outcome: 'failure',
      reason: 'checkout has nothing to check out: this run has no source (give a directory)',
      exitCode: null,
    };
  }
  const destination = resolvePosix(WORKSPACE_PATH, step.checkout?.path ?? '');
  try {
    const files = await options.source.files();
    const archive = options.source.tar();
    await pod.copyIn('primary', destination, archive.stream);
    say(
      `checkout: copied ${files.length} files (${archive.bytes()} bytes) from ${options.source.description} to ${destination}`,
    );
    return { outcome: 'success', reason: 'exit code 0', exitCode: 0 };
  } catch (error) {
    return {
      outcome: 'infra_error',
      reason: `checkout failed: ${(error as Error).message}`,
      exitCode: null,
    };
  }
}
