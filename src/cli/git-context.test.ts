import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gitContext } from './git-context.ts';

const root = mkdtempSync(join(tmpdir(), 'slipway git context '));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function git(dir: string, ...args: string[]): string {
  return execFileSync('git', ['-C', dir, '-c', 'user.email=t@t', '-c', 'user.name=t', ...args], {
    encoding: 'utf8',
  }).trim();
}

function repo(name: string, branch = 'main'): string {
  const dir = join(root, name);
  mkdirSync(dir);
  git(dir, 'init', '-q', '-b', branch);
  return dir;
}

describe('gitContext (real git, one process for the three questions)', () => {
  it('reads the branch, the commit and the tag git describe picks (the annotated one)', async () => {
    const dir = repo('with tags $HOME', 'feature/x');
    git(dir, 'commit', '-q', '--allow-empty', '-m', 'one');
    git(dir, 'tag', 'a-light');
    git(dir, 'tag', '-a', '-m', 'release', 'v1.0');
    expect(await gitContext(dir)).toEqual({
      branch: 'feature/x',
      sha: git(dir, 'rev-parse', 'HEAD'),
      tag: 'v1.0',
    });
  });

  it('has no branch on a detached HEAD and no tag on an untagged commit', async () => {
    const dir = repo('detached');
    git(dir, 'commit', '-q', '--allow-empty', '-m', 'one');
    git(dir, 'checkout', '-q', '--detach');
    expect(await gitContext(dir)).toEqual({ sha: git(dir, 'rev-parse', 'HEAD') });
  });

  it('has only the branch before the first commit, and nothing outside a repository', async () => {
    expect(await gitContext(repo('unborn', 'dev'))).toEqual({ branch: 'dev' });
    const plain = join(root, 'plain');
    mkdirSync(plain);
    expect(await gitContext(plain)).toEqual({});
    expect(await gitContext(join(root, 'missing'))).toEqual({});
  });
});
