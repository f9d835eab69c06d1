/**
 * A job's pipeline at a commit: fetch the mirror, resolve the ref, read the pipeline
 * file, compile it. The one path for triggers, trigger forms (manual inputs) and
 * schedules, so they read the same file the same way.
 */
import { compile, type CompileResult } from '../pipeline/compile.ts';
import type { BuildContext } from '../pipeline/plan.ts';
import type { Job } from '../store/ports.ts';
import {
  commitInfo,
  fetchMirror,
  fetchRef,
  hasCommit,
  readFileAt,
  resolveCommit,
  type CommitInfo,
} from '../vcs/git.ts';

/** Where to read the pipeline. */
export interface PipelineRef {
  /** What to resolve: a commit, a forge ref, a tag or a branch. */
  ref: string;
  /**
   * A forge ref (`refs/pull/7/head`) to fetch first, because a fork's commits live only
   * there; skipped when `sha` is given and the mirror has it already.
   */
  fetchRef?: string;
  sha?: string;
}

export type PipelineAt =
  /** The repository could not be fetched (`fetch`) or has no such ref (`resolve`). */
  | { kind: 'unreachable'; stage: 'fetch' | 'resolve'; message: string }
  /** The commit has no pipeline file. */
  | { kind: 'missing'; sha: string; commit?: CommitInfo }
  /** Compiled: `result.plan` is null when it has errors (see `result.diagnostics`). */
  | { kind: 'compiled'; sha: string; text: string; result: CompileResult; commit?: CommitInfo };

export interface PipelineAtOptions {
  /** The compiler context for the resolved commit (default: the compiler's neutral one). */
  context?: (sha: string) => Partial<BuildContext>;
  /** Also read the commit's message and author (in parallel with the file). */
  withCommit?: boolean;
}

/** Fetch → resolve → read → compile; compiles once. Never throws for a git failure. */
export async function pipelineAt(
  gitCacheDir: string,
  job: Pick<Job, 'repo' | 'pipelinePath'>,
  at: PipelineRef,
  options: PipelineAtOptions = {},
): Promise<PipelineAt> {
  let mirror: string;
  try {
    mirror = await fetchMirror(gitCacheDir, job.repo);
    if (at.fetchRef && !(at.sha && (await hasCommit(mirror, at.sha))))
      await fetchRef(mirror, at.fetchRef);
  } catch (error) {
    return { kind: 'unreachable', stage: 'fetch', message: (error as Error).message };
  }
  let sha: string;
  try {
    sha = await resolveCommit(mirror, at.ref);
  } catch (error) {
    return { kind: 'unreachable', stage: 'resolve', message: (error as Error).message };
  }
  // Two git reads at once: the commit's message and author do not lengthen the trigger.
  const [commit, text] = await Promise.all([
    options.withCommit ? commitInfo(mirror, sha) : undefined,
    readFileAt(mirror, sha, job.pipelinePath),
  ]);
  const about = commit ? { commit } : {};
  if (text === undefined) return { kind: 'missing', sha, ...about };
  const result = compile(text, {
    file: job.pipelinePath,
    ...(options.context ? { context: options.context(sha) } : {}),
  });
  return { kind: 'compiled', sha, text, result, ...about };
}
