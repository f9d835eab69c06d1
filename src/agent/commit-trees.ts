/**
 * Exported commits, shared: the files of one commit are written once and read by every
 * attempt of it (a matrix, a re-run, many builds of one push), instead of `git archive`
 * for each. Read-only once complete; the least recently used trees beyond `keep` that no
 * attempt uses are removed.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { exportCommit } from '../vcs/git.ts';

export interface Tree {
  dir: string;
  release(): void;
}

export class CommitTrees {
  private readonly inUse = new Map<string, number>();
  private readonly making = new Map<string, Promise<void>>();

  constructor(
    private readonly root: string,
    private readonly keep = 16,
  ) {}

  /** The files of `sha`, exported from the mirror `mirror()` gives when not there yet. */
  async acquire(sha: string, mirror: () => Promise<string>): Promise<Tree> {
    if (!/^[0-9a-f]{40}$/.test(sha)) throw new Error(`"${sha}" is not a full commit sha`);
    const dir = join(this.root, sha);
    this.inUse.set(sha, (this.inUse.get(sha) ?? 0) + 1);
    try {
      if (!(await exists(dir))) {
        let making = this.making.get(sha);
        if (!making) {
          making = this.make(sha, dir, mirror).finally(() => this.making.delete(sha));
          this.making.set(sha, making);
        }
        await making;
      }
      const now = new Date();
      await utimes(dir, now, now).catch(() => undefined);
    } catch (error) {
      this.release(sha);
      throw error;
    }
    let released = false;
    return {
      dir,
      release: () => {
        if (released) return;
        released = true;
        this.release(sha);
        void this.prune().catch(() => undefined);
      },
    };
  }

  private async make(sha: string, dir: string, mirror: () => Promise<string>): Promise<void> {
    await mkdir(this.root, { recursive: true });
    const temporary = `${dir}.part-${randomBytes(4).toString('hex')}`;
    try {
      await exportCommit(await mirror(), sha, temporary);
      await rename(temporary, dir);
    } finally {
      await rm(temporary, { recursive: true, force: true });
    }
  }

  private release(sha: string): void {
    const count = (this.inUse.get(sha) ?? 1) - 1;
    if (count <= 0) this.inUse.delete(sha);
    else this.inUse.set(sha, count);
  }

  /** Removes the oldest unused trees beyond `keep`. */
  async prune(): Promise<void> {
    const names = (await readdir(this.root).catch(() => [] as string[])).filter((n) =>
      /^[0-9a-f]{40}$/.test(n),
    );
    if (names.length <= this.keep) return;
    const dated = await Promise.all(
      names.map(async (name) => ({ name, time: (await stat(join(this.root, name))).mtimeMs })),
    );
    dated.sort((a, b) => b.time - a.time);
    for (const { name } of dated.slice(this.keep))
      if (!this.inUse.has(name) && !this.making.has(name))
        await rm(join(this.root, name), { recursive: true, force: true });
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
