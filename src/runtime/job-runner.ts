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
import { createStreamMasker, type MaskedPiece } from '../logs/stream-masker.ts';
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
  /** Further forms of the secrets to mask, never injected (a credential's parts). */
  masks?: readonly string[];
  /**
   * Why this run is untrusted (a pull request from a fork), or undefined. An untrusted run
   * says so in its log, and secrets its job names but `secrets` lacks are left unset
   * (with a line saying which) instead of failing the job.
   */
  untrusted?: string;
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
  /**
   * Absolute deadline (epoch ms) of the attempt, when it started earlier (an adopted
   * attempt keeps its original one). The job still reports its own timeout.
   */
  deadline?: number;
  /**
   * When given, the pod's teardown is started and handed here instead of awaited: the
   * attempt's result comes back while its pod is still being removed, so nobody waits
   * for the removal to hear how a build ended. The caller owns `done` and must wait for
   * it before it exits (zero orphans). Without it, the result comes after the teardown.
   */
  onTeardown?: (done: Promise<void>) => void;
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
  /** How many steps before `step` succeeded (the job's summary counts every step). */
  succeededBefore: number;
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
  const timer = setTimeout(
    () => abort.abort('timeout' satisfies StopCause),
    Math.max(0, Math.min(job.timeoutMs, (options.deadline ?? Infinity) - started)),
  );
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
  if (options.untrusted !== undefined) {
    progress(
      `untrusted build: ${options.untrusted}; it runs without secrets, and its caches are kept apart from trusted builds`,
    );
    if (missing.length > 0)
      progress(
        `secret${missing.length > 1 ? 's' : ''} ${missing.join(', ')} withheld: the variable${missing.length > 1 ? 's are' : ' is'} unset in every step`,
      );
  } else if (missing.length > 0) {
    await options.resume?.pod.destroy();
    return finish({
      outcome: 'failure',
      reason: `the job needs secret${missing.length > 1 ? 's' : ''} ${missing.join(', ')}, which ${missing.length > 1 ? 'are' : 'is'} not set; give ${missing.map((m) => `--secret ${m}=...`).join(' ')} (or --env-file) to slipway run, or set ${missing.map((m) => `secrets.${m}`).join(', ')} in the controller's configuration`,
    });
  }

  // An adopted pod is ours from the start: every way out below removes it.
  let pod: Pod | undefined = options.resume?.pod;
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
          reason: `${(options.resume?.succeededBefore ?? 0) + steps.filter((s) => s.outcome === 'success').length} steps succeeded`,
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
    if (job.artifacts && options.artifactsDir) {
      if (!artifactsWanted(job.artifacts.when, ending.outcome))
        progress(
          `artifacts: none kept (when: ${job.artifacts.when}, and the job ended ${ending.outcome})`,
        );
      else
        try {
          const collected = await collectArtifacts(
            pod,
            job.artifacts.paths,
            artifactsDirFor(options.artifactsDir, job.id),
            {
              run: options.runId,
              job: job.id,
              attempt,
              sha: options.context.sha,
              collectedAt: new Date().toISOString(),
            },
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
    if (pod) {
      const done = pod.destroy();
      if (options.onTeardown) options.onTeardown(done);
      else await done;
    }
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
    // A checkout leaves nothing to follow (it is not spooled): it is run again instead.
    const following =
      resume?.mode === 'follow' && step.index === resume.step && step.kind !== 'checkout';
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
    if (!(resume?.mode === 'follow' && step.index === resume.step))
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
  // One masker over both streams, in arrival order: output keeps the order it was written
  // in, and a secret split across stdout and stderr is caught like one split across writes.
  const masker = createStreamMasker(
    [...Object.values(options.secrets), ...(options.masks ?? [])],
    resumeAt ? { start: resumeAt } : {},
  );
  let releaseTimer: NodeJS.Timeout | undefined;
  const put = (pieces: readonly MaskedPiece[]): void => {
    for (const { stream, data, raw } of pieces)
      if (data.length > 0)
        emit(options.reporter, {
          type: 'output',
          job: job.id,
          attempt: options.attempt,
          step: step.index,
          stream,
          data,
          ...(options.durable ? { raw } : {}),
        });
  };
  const send = (pieces: readonly MaskedPiece[]): void => {
    put(pieces);
    // Bytes waiting for the other stream go out when their short window has passed.
    const due = masker.due();
    if (due !== undefined && !releaseTimer)
      releaseTimer = setTimeout(
        () => {
          releaseTimer = undefined;
          send(masker.release());
        },
        Math.max(0, due - Date.now()),
      );
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
      stdout: (b: Buffer) => send(masker.write('stdout', b)),
      stderr: (b: Buffer) => send(masker.write('stderr', b)),
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
    clearTimeout(releaseTimer);
    releaseTimer = undefined;
    put(masker.end());
    clearTimeout(timer);
    jobSignal.removeEventListener('abort', stop);
  }
}

/**
 * The environment of a step: Slipway's variables, the job's, its secrets, the step's.
 * The built-in variables are documented in docs/pipeline.md (a test keeps them in step).
 */
export function stepEnv(
  step: PlanStep,
  job: PlanJob,
  options: JobRunOptions,
): Record<string, string> {
  const c = options.context;
  // A secret that was withheld stays unset: never an empty value a step could mistake for one.
  const secrets = Object.fromEntries(
    job.secrets.flatMap((name) => {
      const value = options.secrets[name];
      return value === undefined ? [] : [[name, value]];
    }),
  );
  return {
    CI: 'true',
    SLIPWAY: 'true',
    SLIPWAY_RUN: options.runId,
    SLIPWAY_JOB: job.id,
    SLIPWAY_ATTEMPT: String(options.attempt),
    // The same id as the step's command: the Docker backend marks the step's processes with it.
    SLIPWAY_STEP: `${options.runId}-${options.attempt}-${step.index}`,
    SLIPWAY_STEP_NAME: step.name,
    SLIPWAY_WORKSPACE: WORKSPACE_PATH,
    SLIPWAY_EVENT: c.event,
    SLIPWAY_BRANCH: c.branch ?? '',
    SLIPWAY_TAG: c.tag ?? '',
    SLIPWAY_SHA: c.sha,
    SLIPWAY_BUILD_NUMBER: String(c.number),
    SLIPWAY_PR: c.pr === null ? '' : String(c.pr),
    SLIPWAY_PR_TARGET_BRANCH: c.prTargetBranch ?? '',
    SLIPWAY_PR_HEAD_BRANCH: c.prHeadBranch ?? '',
    SLIPWAY_PR_HEAD_REPO: c.prHeadRepo ?? '',
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
