/** Real git repositories on disk for controller tests, removed after the test file. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { project } from './project.ts';

export interface Repo {
  dir: string;
  /** Commits these files (added or changed) on the current branch; returns the sha. */
  commit(files: Record<string, string>, message?: string): string;
  /** Switches to a branch, creating it from the current commit when it does not exist. */
  branch(name: string): void;
}

function git(dir: string, args: string[]): string {
  return execFileSync('git', args, {
    cwd: dir,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 'Test',
      GIT_AUTHOR_EMAIL: 'test@example.invalid',
      GIT_COMMITTER_NAME: 'Test',
      GIT_COMMITTER_EMAIL: 'test@example.invalid',
    },
  }).trim();
}

export function gitRepo(files: Record<string, string>): Repo {
  const dir = project({});
  git(dir, ['init', '-q', '-b', 'main']);
  const repo: Repo = {
    dir,
    commit(changes, message = 'change') {
      for (const [name, text] of Object.entries(changes)) {
        mkdirSync(join(dir, name, '..'), { recursive: true });
        writeFileSync(join(dir, name), text);
      }
      git(dir, ['add', '-A']);
      git(dir, ['commit', '-q', '--allow-empty', '-m', message]);
      return git(dir, ['rev-parse', 'HEAD']);
    },
    branch(name) {
      const exists = git(dir, ['branch', '--list', name]) !== '';
      git(dir, exists ? ['checkout', '-q', name] : ['checkout', '-q', '-b', name]);
    },
  };
  repo.commit(files, 'initial');
  return repo;
}
