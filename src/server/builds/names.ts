/**
 * How a build's stored rows become what agents and pods are named by: the plan job of a
 * job run, the compiler context of a build, the run id (pod names) and the cache scope.
 */
import { createHash } from 'node:crypto';
import type { BuildContext, BuildEvent, PlanJob } from '../../pipeline/plan.ts';
import type { BuildRow, Job, JobRunRow } from '../../store/ports.ts';

export function planOf(run: JobRunRow): PlanJob {
  return JSON.parse(run.plan_job) as PlanJob;
}

export function contextOf(build: BuildRow, job: Pick<Job, 'repo'>): BuildContext {
  return {
    event: build.event as BuildEvent,
    branch: build.branch,
    tag: build.tag,
    sha: build.sha,
    pr: build.pr,
    number: build.number,
    repo: job.repo,
    inputs: JSON.parse(build.inputs) as BuildContext['inputs'],
    ...(build.event === 'pull_request'
      ? {
          prTargetBranch: build.pr_target_branch,
          prHeadBranch: build.pr_head_branch,
          prHeadRepo: build.pr_head_repo,
        }
      : {}),
    ...(build.ref ? { ref: build.ref } : {}),
  };
}

/**
 * The run id of a build: names its pods, so an adopting agent finds them again. It
 * carries the controller's id (two controllers on one engine never share a name) and
 * the job's name as a readable slug plus a hash of the exact name (`a.x` and `a_x` have
 * the same slug): `<controller>-<slug>-<hash>-<number>`.
 */
export function runIdOf(build: Pick<BuildRow, 'job' | 'number'>, controllerId?: string): string {
  const job = `${slug(build.job)}-${shortHash(build.job)}`;
  return `${controllerId ? `${controllerId}-` : ''}${job}-${build.number}`;
}

/** Whose caches a job's builds use: this controller's, of exactly this job. */
export function cacheScopeOf(job: string, controllerId?: string): string {
  return controllerId ? `controller:${controllerId}/job:${job}` : `job:${job}`;
}

function slug(text: string): string {
  return (
    text
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '')
      .slice(0, 20) || 'job'
  );
}

function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 6);
}
