import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gitRepo } from '../../test/support/git.ts';
import { localSource } from './workspace-source.ts';

describe('localSource', () => {
  it('lists what git sees in a working tree, and every file of an exported commit inside another repository', async () => {
    const repo = gitRepo({ 'tracked.txt': 'a\n', '.gitignore': 'export/\nignored.log\n' });
    writeFileSync(join(repo.dir, 'ignored.log'), 'x');
    writeFileSync(join(repo.dir, 'untracked.txt'), 'y');
    const exported = join(repo.dir, 'export');
    mkdirSync(join(exported, 'src'), { recursive: true });
    writeFileSync(join(exported, 'src', 'main.c'), 'int main;');
    writeFileSync(join(exported, 'Makefile'), 'all:');

    expect(await localSource(repo.dir).files()).toEqual([
      '.gitignore',
      'tracked.txt',
      'untracked.txt',
    ]);
    // Inside the repository the export directory is ignored; as a commit export it is whole.
    expect(await localSource(exported).files()).toEqual([]);
    expect(await localSource(exported, { listing: 'all' }).files()).toEqual([
      'Makefile',
      'src/main.c',
    ]);
  });
});
