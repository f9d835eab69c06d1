import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { BuildContext } from '../pipeline/plan.ts';

const run = promisify(execFile);

async function git(dir: string, ...args: string[]): Promise<string | undefined> {
  try {
    const { stdout } = await run('git', ['-C', dir, ...args], { timeout: 5000 });
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * What git says about a working copy: branch, commit, and an exact tag if HEAD has one.
 * Missing facts stay undefined (not a repository, detached HEAD, git not installed).
 */
export async function gitContext(dir: string): Promise<Partial<BuildContext>> {
  const [branch, sha, tag] = await Promise.all([
    git(dir, 'symbolic-ref', '--short', '-q', 'HEAD'),
    git(dir, 'rev-parse', '-q', '--verify', 'HEAD'),
    git(dir, 'describe', '--tags', '--exact-match', 'HEAD'),
  ]);
  const context: Partial<BuildContext> = {};
  if (branch) context.branch = branch;
  if (sha) context.sha = sha;
  if (tag) context.tag = tag;
  return context;
}
