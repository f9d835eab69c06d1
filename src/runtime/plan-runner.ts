/**
 * Runs a whole plan: jobs in dependency order, independent jobs in parallel (up to a
 * limit), each job's `when.status` decided from how its needs ended, retries by
 * `retry.on`, and cancellation of everything at once. `slipway run` uses this; the
 * controller schedules jobs itself but runs each attempt with the same job runner.
 */
import { randomBytes } from 'node:crypto';
import type { Plan, PlanJob } from '../pipeline/plan.ts';
import { emit } from './events.ts';
import { runJobAttempt, type JobResult, type JobRunOptions } from './job-runner.ts';
import { decideJob, overallOutcome, type Decision } from './decisions.ts';
import { failureClass, isSuccess, type Outcome } from './outcome.ts';

export interface PlanRunOptions extends Omit<JobRunOptions, 'attempt' | 'runId'> {
  runId?: string;
  /** Most jobs running at once (default 2). */
  parallelism?: number;
}

export interface JobSummary {
  job: string;
  outcome: Outcome;
  reason: string;
  attempts: JobResult[];
  durationMs: number;
  allowedFailure: boolean;
}

export interface RunResult {
  runId: string;
  outcome: Outcome;
  durationMs: number;
  jobs: JobSummary[];
}

/** A new run id: short, lower-case, unique enough to keep parallel runs apart. */
export function newRunId(): string {
  return randomBytes(4).toString('hex');
}

export async function runPlan(plan: Plan, options: PlanRunOptions): Promise<RunResult> {
  const runId = options.runId ?? newRunId();
  const started = Date.now();
  const parallelism = Math.max(1, options.parallelism ?? 2);
  emit(options.reporter, {
    type: 'run.started',
    runId,
    jobs: plan.jobs.map((j) => j.id),
    backend: options.backend.name,
  });

  const summaries = new Map<string, JobSummary>();
  const running = new Map<string, Promise<void>>();
  const pending = [...plan.jobs];

  const decide = (job: PlanJob): Decision => decideJob(job, summaries, options.signal.aborted);

  const execute = async (job: PlanJob): Promise<void> => {
    const attempts: JobResult[] = [];
    for (let attempt = 1; ; attempt++) {
      const result = await runJobAttempt(job, { ...options, runId, attempt });
      attempts.push(result);
      const cls = failureClass(result.outcome);
      const retry =
        cls !== null &&
        job.retry.on.includes(cls) &&
        attempt <= job.retry.max &&
        !options.signal.aborted;
      const allowedFailure = job.allowFailure && !isSuccess(result.outcome);
      emit(options.reporter, {
        type: 'job.finished',
        job: job.id,
        attempt,
        outcome: result.outcome,
        reason: result.reason,
        durationMs: result.durationMs,
        willRetry: retry,
        allowedFailure,
      });
      if (!retry) {
        summaries.set(job.id, {
          job: job.id,
          outcome: result.outcome,
          reason: result.reason,
          attempts,
          durationMs: attempts.reduce((sum, a) => sum + a.durationMs, 0),
          allowedFailure,
        });
        return;
      }
    }
  };

  let wake: () => void = () => undefined;
  for (;;) {
    for (let i = 0; i < pending.length && running.size < parallelism;) {
      const job = pending[i]!;
      const decision = decide(job);
      if (decision === 'wait') {
        i++;
        continue;
      }
      pending.splice(i, 1);
      if (decision === 'run') {
        const task = execute(job).finally(() => {
          running.delete(job.id);
          wake();
        });
        running.set(job.id, task);
      } else {
        const outcome = decision.outcome ?? 'skipped';
        summaries.set(job.id, {
          job: job.id,
          outcome,
          reason: decision.skip,
          attempts: [],
          durationMs: 0,
          allowedFailure: false,
        });
        emit(options.reporter, {
          type: 'job.finished',
          job: job.id,
          attempt: 0,
          outcome,
          reason: decision.skip,
          durationMs: 0,
          willRetry: false,
          allowedFailure: false,
        });
        i = 0; // a skip can unblock jobs earlier in the list
      }
    }
    if (running.size === 0) break;
    await new Promise<void>((resolve) => (wake = resolve));
  }

  const jobs = plan.jobs.map((j) => summaries.get(j.id)!);
  const outcome = overall(jobs, options.signal.aborted);
  emit(options.reporter, { type: 'run.finished', outcome, durationMs: Date.now() - started });
  return { runId, outcome, durationMs: Date.now() - started, jobs };
}

function overall(jobs: JobSummary[], canceled: boolean): Outcome {
  return overallOutcome(jobs, canceled);
}
