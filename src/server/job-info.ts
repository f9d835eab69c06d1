/** What trigger forms ask about a job: its repository's branches, its manual inputs. */
import type { PlanInput } from '../pipeline/plan.ts';
import type { Store } from '../store/ports.ts';
import { fetchMirror, listBranches } from '../vcs/git.ts';
import { ControllerError } from './api-error.ts';
import { pipelineAt } from './pipeline-at.ts';

/** The manual inputs at the head of a branch, or why they cannot be read. */
export interface ManualInputs {
  branch: string;
  sha: string;
  inputs: Record<string, PlanInput> | null;
  error: string | null;
}

async function jobNamed(store: Store, jobName: string) {
  const job = await store.jobs.get(jobName);
  if (!job) throw new ControllerError(404, 'job_not_found', `there is no job "${jobName}"`);
  return job;
}

function fetchFailed(repo: string, message: string): ControllerError {
  return new ControllerError(502, 'fetch_failed', `could not fetch ${repo}: ${message}`);
}

/** The branches of a job's repository (for the trigger form's branch chooser). */
export async function branches(
  store: Store,
  gitCacheDir: string,
  jobName: string,
): Promise<{ default: string; branches: string[] }> {
  const job = await jobNamed(store, jobName);
  const mirror = await fetchMirror(gitCacheDir, job.repo).catch((error: unknown) => {
    throw fetchFailed(job.repo, (error as Error).message);
  });
  return { default: job.defaultBranch, branches: await listBranches(mirror) };
}

/** The manual inputs a job's pipeline declares at the head of a branch (for trigger forms). */
export async function manualInputs(
  store: Store,
  gitCacheDir: string,
  jobName: string,
  branch?: string,
): Promise<ManualInputs> {
  const job = await jobNamed(store, jobName);
  const ref = branch ?? job.defaultBranch;
  const at = await pipelineAt(
    gitCacheDir,
    job,
    { ref },
    { context: (sha) => ({ event: 'push', branch: ref, sha }) },
  );
  if (at.kind === 'unreachable') {
    if (at.stage === 'fetch') throw fetchFailed(job.repo, at.message);
    throw new ControllerError(404, 'branch_not_found', `the repository has no branch "${ref}"`);
  }
  const { sha } = at;
  if (at.kind === 'missing')
    return {
      branch: ref,
      sha,
      inputs: null,
      error: `no ${job.pipelinePath} at ${sha.slice(0, 12)}`,
    };
  const errors = at.result.diagnostics.filter(
    (d) => d.severity === 'error' && d.code !== 'invalid-input',
  );
  if (errors.length > 0)
    return {
      branch: ref,
      sha,
      inputs: null,
      error: `${job.pipelinePath} has errors: ${errors[0]!.message}`,
    };
  return { branch: ref, sha, inputs: at.result.plan?.triggers.manual?.inputs ?? {}, error: null };
}
