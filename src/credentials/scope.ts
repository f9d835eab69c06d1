/**
 * Where a credential may be used: by which jobs (the controller's jobs, by name) and on
 * which branches (globs, like `main` or `release/*`). Empty lists mean any; a build of no
 * branch (a tag, a pull request) is outside every branch pattern, so a credential kept
 * for `main` never reaches a pull request.
 */
import { checkPattern, matchPatterns } from '../pipeline/glob.ts';

export interface CredentialScope {
  /** Job names that may use it; empty: every job. */
  jobs: string[];
  /** Branch globs it may be used on; empty: every build, branch or not. */
  branches: string[];
}

export const GLOBAL_SCOPE: CredentialScope = { jobs: [], branches: [] };

const JOB_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** Checks a scope from the API: the problems, or the scope. */
export function parseScope(raw: unknown): { scope: CredentialScope } | { errors: string[] } {
  if (raw === undefined || raw === null) return { scope: GLOBAL_SCOPE };
  if (typeof raw !== 'object' || Array.isArray(raw))
    return { errors: ['scope must be an object like {"jobs": ["app"], "branches": ["main"]}'] };
  const errors: string[] = [];
  const record = raw as Record<string, unknown>;
  for (const key of Object.keys(record))
    if (key !== 'jobs' && key !== 'branches')
      errors.push(`scope.${key}: unknown key; a scope has "jobs" and "branches"`);
  const list = (key: 'jobs' | 'branches'): string[] => {
    const value = record[key] ?? [];
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
      errors.push(`scope.${key} must be a list of strings`);
      return [];
    }
    return value as string[];
  };
  const jobs = list('jobs');
  const branches = list('branches');
  for (const job of jobs)
    if (!JOB_NAME.test(job)) errors.push(`scope.jobs: "${job}" is not a job name`);
  for (const pattern of branches) {
    const problem = checkPattern(pattern);
    if (problem) errors.push(`scope.branches: "${pattern}": ${problem}`);
  }
  return errors.length > 0 ? { errors } : { scope: { jobs, branches } };
}

/** Why a build of `job` on `branch` may not use the credential, or null when it may. */
export function outOfScope(
  scope: CredentialScope,
  job: string,
  branch: string | null,
): string | null {
  if (scope.jobs.length > 0 && !scope.jobs.includes(job))
    return `it is scoped to job${scope.jobs.length > 1 ? 's' : ''} ${scope.jobs.join(', ')}, not ${job}`;
  if (scope.branches.length > 0 && (branch === null || !matchPatterns(scope.branches, branch)))
    return `it is scoped to branch${scope.branches.length > 1 ? 'es' : ''} ${scope.branches.join(', ')}, and this build is ${branch === null ? 'of no branch (a tag or a pull request)' : `of branch ${branch}`}`;
  return null;
}
