import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gitRepo } from '../../test/support/git.ts';
import { CommitTrees } from './commit-trees.ts';

describe('CommitTrees', () => {
  it('exports a commit once for every attempt of it, and prunes unused old trees', async () => {
    const repo = gitRepo({ 'a.txt': 'one\n' });
    const shas = [
      execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repo.dir, encoding: 'utf8' }).trim(),
    ];
    for (let i = 0; i < 3; i++) shas.push(repo.commit({ 'a.txt': `v${i}\n` }));
    const root = mkdtempSync(join(tmpdir(), 'slipway-trees-'));
    const trees = new CommitTrees(root, 2);
    let mirrors = 0;
    const mirror = (): Promise<string> => {
      mirrors++;
      return Promise.resolve(join(repo.dir, '.git'));
    };
    const same = await Promise.all([0, 1, 2].map(() => trees.acquire(shas[0]!, mirror)));
    expect(mirrors).toBe(1);
    expect(readFileSync(join(same[0]!.dir, 'a.txt'), 'utf8')).toBe('one\n');
    const held = same[0]!;
    same[1]!.release();
    same[2]!.release();
    for (const sha of shas.slice(1)) (await trees.acquire(sha, mirror)).release();
    await trees.prune();
    // The oldest is still held by an attempt, so it stays; only an unused one goes.
    expect(existsSync(held.dir)).toBe(true);
    expect(readdirSync(root).filter((n) => !n.includes('.part-'))).toHaveLength(3);
    held.release();
    await trees.prune();
    expect(readdirSync(root).sort()).toEqual([shas[2], shas[3]].sort());
    await expect(trees.acquire('main', mirror)).rejects.toThrow(/not a full commit sha/);
  });
});
