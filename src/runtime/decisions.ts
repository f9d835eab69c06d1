/**
 * The rules that decide, from how a job's needs ended, whether it runs, waits or is
 * skipped, and what a whole build's outcome is. Pure; shared by `slipway run` (runPlan)
 * and the controller, so both decide alike.
 */
import type { PlanJob } from '../pipeline/plan.ts';
import { isInfrastructure, isSuccess, type Outcome } from './outcome.ts';

/** How a job ended, as far as the jobs after it care. */
export interface NeedResult {
  outcome: Outcome;
  allowedFailure: boolean;
}

export type Decision = 'run' | 'wait' | { skip: string; outcome?: Outcome };

export function decideJob(
  job: Pick<PlanJob, 'skip' | 'needs' | 'when'>,
  results: ReadonlyMap<string, NeedResult>,
  canceled: boolean,
): Decision {
  if (job.skip !== null) return { skip: job.skip };
  if (canceled) return { skip: 'canceled before it started', outcome: 'canceled' };
  const needs = job.needs.map((id) => ({ id, result: results.get(id) }));
  if (needs.some((n) => n.result === undefined)) return 'wait';
  const failed = needs.filter((n) => !satisfied(n.result!));
  const skipped = needs.filter((n) => n.result!.outcome === 'skipped');
  switch (job.when) {
    case 'always':
      return 'run';
    case 'failure':
      return failed.length > 0
        ? 'run'
        : { skip: 'when.status is failure, and every job it needs succeeded' };
    case 'success':
      if (failed.length > 0)
        return { skip: `${failed.map((n) => n.id).join(', ')} did not succeed` };
      if (skipped.length > 0) return { skip: `${skipped.map((n) => n.id).join(', ')} was skipped` };
      return 'run';
  }
}

/** A need counts as satisfied when it succeeded, was skipped, or failed with allow_failure. */
export function satisfied(result: NeedResult): boolean {
  return isSuccess(result.outcome) || result.allowedFailure;
}

/**
 * The run's outcome: canceled if canceled; an infrastructure error if any job ended in
 * one (the result cannot be trusted); else the first user failure; else success.
 */
export function overallOutcome(jobs: readonly NeedResult[], canceled: boolean): Outcome {
  if (canceled) return 'canceled';
  const failing = jobs.filter((j) => !satisfied(j));
  const infra = failing.find((j) => isInfrastructure(j.outcome));
  if (infra) return infra.outcome;
  return failing[0]?.outcome ?? 'success';
}
