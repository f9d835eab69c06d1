import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ARTIFACTS_STAMP, prepareArtifacts } from './artifacts.ts';

const root = mkdtempSync(join(tmpdir(), 'slipway-artifacts-prep-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const keeps = { paths: ['dist/**'], when: 'on_success' as const };
let serial = 0;
const fresh = (): string => join(root, String(++serial));

describe('prepareArtifacts', () => {
  it('makes a new directory Slipway’s own: ignored by git', async () => {
    const base = fresh();
    expect(
      await prepareArtifacts(base, [{ id: 'build', artifacts: keeps }], { owned: false }),
    ).toEqual([]);
    expect(readFileSync(join(base, '.gitignore'), 'utf8')).toMatch(/^\*$/m);
  });

  it('creates nothing when no job keeps artifacts', async () => {
    const base = fresh();
    await prepareArtifacts(base, [{ id: 'build', artifacts: null }], { owned: true });
    expect(existsSync(base)).toBe(false);
  });

  it('removes the stale sets of the jobs about to run, in its own directory', async () => {
    const base = fresh();
    mkdirSync(join(base, 'build', 'dist'), { recursive: true });
    mkdirSync(join(base, 'other'), { recursive: true });
    const removed = await prepareArtifacts(
      base,
      [
        { id: 'build', artifacts: keeps },
        { id: 'test', artifacts: null },
      ],
      { owned: true },
    );
    expect(removed).toEqual(['build']);
    expect(existsSync(join(base, 'build'))).toBe(false);
    expect(existsSync(join(base, 'other'))).toBe(true);
  });

  it('in a directory the user named, touches only sets that carry its stamp', async () => {
    // slipway run --artifacts . in a project with a src directory and a job named src.
    const base = fresh();
    mkdirSync(join(base, 'src'), { recursive: true });
    writeFileSync(join(base, 'src', 'main.c'), 'int main() {}\n');
    mkdirSync(join(base, 'build'), { recursive: true });
    writeFileSync(join(base, 'build', ARTIFACTS_STAMP), '{}\n');
    const removed = await prepareArtifacts(
      base,
      [
        { id: 'src', artifacts: keeps },
        { id: 'build', artifacts: keeps },
      ],
      { owned: false },
    );
    expect(removed).toEqual(['build']);
    expect(readFileSync(join(base, 'src', 'main.c'), 'utf8')).toContain('main');
    // Nor is the user's directory hidden from git.
    expect(existsSync(join(base, '.gitignore'))).toBe(false);
  });
});
