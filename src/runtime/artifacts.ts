/**
 * Artifacts: files a job keeps, copied out of the workspace after its steps. Each glob is
 * fetched from its literal directory prefix (so `dist/**` copies `dist`, not the whole
 * workspace) and unpacked with the safe extractor, keeping file modes and symlinks; only
 * entries that match (or lie under a directory that matches) are written.
 *
 * A job's artifacts land in `<dir>/<job>/` in one move, after they were all copied, so a
 * directory there is always one whole set. `prepareArtifacts` clears the sets of the jobs
 * about to run first, so a job that fails or is skipped leaves no stale set behind.
 */
import { lstat, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Pod } from '../backends/backend.ts';
import { extractTar, type TarEntry } from '../archive/tar-extract.ts';
import { globToRegExp } from '../pipeline/glob.ts';
import { WORKSPACE_PATH, type PlanJob } from '../pipeline/plan.ts';

export interface CollectedArtifacts {
  /** Files, symlinks and hard links written. */
  files: number;
  bytes: number;
  dir: string;
}

/** The directory part of a glob before its first wildcard: `dist/**` → `dist`. */
export function literalPrefix(glob: string): string {
  const parts = glob.split('/');
  const literal: string[] = [];
  for (const part of parts) {
    if (/[*?[]/.test(part)) break;
    literal.push(part);
  }
  return literal.join('/');
}

/** The prefixes to fetch: nested ones are covered by their ancestor's archive. */
function fetchPrefixes(globs: readonly string[]): string[] {
  const all = [...new Set(globs.map((g) => literalPrefix(g.replace(/^\.\//, ''))))].sort();
  return all.filter((p) => !all.some((q) => q !== p && (q === '' || p.startsWith(`${q}/`))));
}

/** Copies the files matching `globs` from the pod's workspace into `dir`, replacing it. */
export async function collectArtifacts(
  pod: Pod,
  globs: readonly string[],
  dir: string,
  stamp: ArtifactsStamp,
): Promise<CollectedArtifacts> {
  const root = resolve(dir);
  const matchers = globs.map((g) => globToRegExp(g.replace(/^\.\//, '').replace(/\/$/, '')));
  // An entry is kept when a glob names it or one of its directories (`dist` keeps dist/**).
  const wanted = (name: string): boolean => {
    const parts = name.split('/');
    for (let i = parts.length; i > 0; i--) {
      const path = parts.slice(0, i).join('/');
      if (matchers.some((m) => m.test(path))) return true;
    }
    return false;
  };
  await mkdir(dirname(root), { recursive: true });
  const staging = await mkdtemp(join(dirname(root), `.${basename(root)}.partial-`));
  let files = 0;
  let bytes = 0;
  try {
    for (const prefix of fetchPrefixes(globs)) {
      const archive = await pod.copyOut(
        'primary',
        prefix === '' ? WORKSPACE_PATH : `${WORKSPACE_PATH}/${prefix}`,
      );
      if (!archive) continue;
      // Entries are named from the fetched path's last component: `dist/...` for
      // `/workspace/a/dist`, `workspace/...` for the workspace itself.
      const parent = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
      const map = (entry: TarEntry): string | null => {
        const name =
          prefix === ''
            ? entry.path.replace(/^[^/]*\/?/, '')
            : parent
              ? `${parent}/${entry.path}`
              : entry.path;
        return name !== '' && entry.type !== 'directory' && wanted(name) ? name : null;
      };
      const result = await extractTar(archive, staging, { map });
      files += result.files + result.symlinks + result.links;
      bytes += result.bytes;
    }
    await writeFile(join(staging, ARTIFACTS_STAMP), `${JSON.stringify(stamp, null, 2)}\n`);
    await rm(root, { recursive: true, force: true });
    await rename(staging, root);
    return { files, bytes, dir: root };
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
}

/** Where one job's artifacts go: `<base>/<job id as a path-safe name>`. */
export function artifactsDirFor(base: string, jobId: string): string {
  return join(base, jobId.replace(/[^A-Za-z0-9_.-]+/g, '_').replace(/^_+|_+$/g, '') || 'job');
}

/** The file in each job's set that says which run made it (and that Slipway did). */
export const ARTIFACTS_STAMP = '.slipway-artifacts.json';

/** What the stamp of a set records. */
export interface ArtifactsStamp {
  run: string;
  job: string;
  attempt: number;
  sha: string;
  collectedAt: string;
}

/**
 * Readies the artifacts directory for a run of these jobs and removes the sets an earlier
 * run left for them, so what is there afterwards is this run's or nothing. Only what
 * Slipway made is touched: a set is removed when it carries the stamp, or when the
 * directory is Slipway's own (`owned`: the default location, or one made now). An owned
 * directory gets a `.gitignore` holding `*`. Returns the jobs whose old set it removed.
 */
export async function prepareArtifacts(
  base: string,
  jobs: readonly Pick<PlanJob, 'id' | 'artifacts'>[],
  options: { owned: boolean },
): Promise<string[]> {
  const root = resolve(base);
  const existed = await exists(root);
  if (!jobs.some((j) => j.artifacts) && !existed) return [];
  await mkdir(root, { recursive: true });
  const owned = options.owned || !existed;
  if (owned)
    await writeFile(
      join(root, '.gitignore'),
      '# Made by slipway run: artifacts are not sources.\n*\n',
      { flag: 'wx' },
    ).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
  const removed: string[] = [];
  for (const { id } of jobs) {
    const dir = artifactsDirFor(root, id);
    if (!(await exists(dir))) continue;
    if (!owned && !(await exists(join(dir, ARTIFACTS_STAMP)))) continue;
    await rm(dir, { recursive: true, force: true });
    removed.push(id);
  }
  return removed;
}

function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}
