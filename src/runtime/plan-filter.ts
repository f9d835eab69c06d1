/** Narrowing a plan for a local run: `--job NAME` and `--matrix axis=value`. */
import type { Plan, PlanJob } from '../pipeline/plan.ts';

/** Why a filter cannot be applied; the message says what exists. */
export class PlanFilterError extends Error {}

/**
 * Keeps the named jobs (a job name selects all its variants; a variant id one variant)
 * and everything they need, transitively, so the selection runs as it would in a build.
 */
export function selectJobs(plan: Plan, names: readonly string[]): Plan {
  if (names.length === 0) return plan;
  const byId = new Map(plan.jobs.map((j) => [j.id, j]));
  const wanted = new Set<string>();
  for (const name of names) {
    const matches = plan.jobs.filter((j) => j.job === name || j.id === name);
    if (matches.length === 0) {
      const known = [...new Set(plan.jobs.map((j) => j.job))].join(', ');
      throw new PlanFilterError(`there is no job "${name}" in ${plan.file} (jobs: ${known})`);
    }
    for (const job of matches) wanted.add(job.id);
  }
  const stack = [...wanted];
  while (stack.length > 0) {
    for (const need of byId.get(stack.pop()!)?.needs ?? []) {
      if (!wanted.has(need)) {
        wanted.add(need);
        stack.push(need);
      }
    }
  }
  return { ...plan, jobs: plan.jobs.filter((j) => wanted.has(j.id)) };
}

/**
 * Keeps, of each matrix job that has the axis, only the variants with the given value.
 * Jobs without that axis are untouched; needs on removed variants are dropped.
 */
export function selectMatrix(plan: Plan, pairs: Readonly<Record<string, string>>): Plan {
  const entries = Object.entries(pairs);
  if (entries.length === 0) return plan;
  for (const [axis] of entries) {
    if (!plan.jobs.some((j) => axis in j.matrix)) {
      throw new PlanFilterError(`no job of ${plan.file} has a matrix axis "${axis}"`);
    }
  }
  const keep = (job: PlanJob): boolean =>
    entries.every(([axis, value]) => !(axis in job.matrix) || String(job.matrix[axis]) === value);
  const jobs = plan.jobs.filter(keep);
  const remaining = new Set(jobs.map((j) => j.id));
  const removed = plan.jobs.filter((j) => !keep(j)).map((j) => j.job);
  for (const job of new Set(removed)) {
    if (!jobs.some((j) => j.job === job)) {
      throw new PlanFilterError(
        `--matrix ${entries.map(([k, v]) => `${k}=${v}`).join(' ')} leaves no variant of job "${job}"`,
      );
    }
  }
  return {
    ...plan,
    jobs: jobs.map((j) => ({ ...j, needs: j.needs.filter((n) => remaining.has(n)) })),
  };
}
