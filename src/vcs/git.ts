/**
 * Git for the controller and agents: a bare mirror per repository (fetched, never
 * cloned again), the pipeline file at a commit, and a commit exported into a directory.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export class GitError extends Error {}

async function git(args: string[], cwd?: string, maxBuffer = 16 * 1024 * 1024): Promise<string> {
  try {
    const { stdout } = await exec('git', args, {
      cwd,
      maxBuffer,
      env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: 'true' },
    });
    return stdout;
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new GitError((e.stderr ?? e.message).trim().split('\n').slice(-2).join(' '));
  }
}

export function mirrorPath(cacheDir: string, url: string): string {
  const slug = url.replace(/[^A-Za-z0-9]+/g, '-').slice(-40);
  return join(
    cacheDir,
    `${slug}-${createHash('sha256').update(url).digest('hex').slice(0, 12)}.git`,
  );
}

/**
 * Fetches coalesced: a caller waits for a fetch that started after it asked. While one
 * fetch runs, every new caller shares the single next one, so 200 triggers at once cost
 * two fetches, not 200.
 */
const fetches = new Map<string, { running: Promise<string>; next: Promise<string> | null }>();

/** Makes or updates the bare mirror of `url`; returns its path. */
export function fetchMirror(cacheDir: string, url: string): Promise<string> {
  const path = mirrorPath(cacheDir, url);
  const state = fetches.get(path);
  if (!state) {
    const running = fetchNow(cacheDir, url).finally(() => {
      const current = fetches.get(path);
      if (current?.running !== running) return;
      if (current.next) fetches.set(path, { running: current.next, next: null });
      else fetches.delete(path);
    });
    fetches.set(path, { running, next: null });
    return running;
  }
  if (!state.next) {
    const next: Promise<string> = state.running
      .catch(() => undefined)
      .then(() => fetchNow(cacheDir, url))
      .finally(() => {
        const current = fetches.get(path);
        if (current?.running === next) fetches.delete(path);
      });
    state.next = next;
  }
  return state.next;
}

/**
 * Makes sure the mirror holds `sha`, fetching only when it does not. `ref` (a forge's pull
 * request ref such as `refs/pull/7/head`) is fetched by name when a whole fetch did not
 * bring the commit: forks' commits live only under such refs, and not every forge
 * advertises them.
 */
export async function ensureCommit(
  cacheDir: string,
  url: string,
  sha: string,
  ref?: string,
): Promise<string> {
  const path = mirrorPath(cacheDir, url);
  if (await hasCommit(path, sha)) return path;
  await fetchMirror(cacheDir, url);
  if (ref && !(await hasCommit(path, sha))) await fetchRef(path, ref);
  return path;
}

/** Whether the mirror holds the commit `sha`. */
export async function hasCommit(mirror: string, sha: string): Promise<boolean> {
  return git(['cat-file', '-e', `${sha}^{commit}`], mirror).then(
    () => true,
    () => false,
  );
}

/** Fetches one ref (e.g. `refs/pull/7/head`) from the mirror's origin under its own name. */
export async function fetchRef(mirror: string, ref: string): Promise<void> {
  if (!/^refs\/[A-Za-z0-9._/-]+$/.test(ref) || ref.includes('..'))
    throw new GitError(`"${ref}" is not a ref name Slipway fetches`);
  await git(['fetch', '--quiet', 'origin', `+${ref}:${ref}`], mirror);
}

/** One clone or fetch; fetchMirror makes sure they never overlap for one mirror. */
async function fetchNow(cacheDir: string, url: string): Promise<string> {
  const path = mirrorPath(cacheDir, url);
  const exists = await stat(path).then(
    () => true,
    () => false,
  );
  if (!exists) {
    await mkdir(cacheDir, { recursive: true });
    await git(['clone', '--mirror', '--quiet', '--', url, path]).catch(async (error: unknown) => {
      await rm(path, { recursive: true, force: true });
      throw error;
    });
  } else {
    await git(['fetch', '--prune', '--quiet', 'origin', '+refs/*:refs/*'], path);
  }
  return path;
}

/** Resolves a branch, tag or sha to a full commit sha in the mirror. */
export async function resolveCommit(mirror: string, ref: string): Promise<string> {
  // A branch head is read from the ref files without starting git (the common case).
  const head = await readBranchRef(mirror, ref);
  if (head) return head;
  const candidates = /^[0-9a-f]{7,40}$/.test(ref)
    ? [ref]
    : [`refs/heads/${ref}`, `refs/tags/${ref}`, ref];
  for (const candidate of candidates) {
    try {
      return (
        await git(['rev-parse', '--verify', '--quiet', `${candidate}^{commit}`], mirror)
      ).trim();
    } catch {
      // try the next form
    }
  }
  throw new GitError(`no branch, tag or commit named "${ref}" in the repository`);
}

/**
 * The commit a branch points at, read from the mirror's loose or packed refs; undefined
 * when it cannot be read that way (then git decides).
 */
async function readBranchRef(mirror: string, branch: string): Promise<string | undefined> {
  if (!/^[A-Za-z0-9._/-]+$/.test(branch) || branch.includes('..')) return undefined;
  const name = `refs/heads/${branch}`;
  const loose = await readFile(join(mirror, name), 'utf8').catch(() => undefined);
  if (loose !== undefined) return /^[0-9a-f]{40}$/.test(loose.trim()) ? loose.trim() : undefined;
  const packed = await readFile(join(mirror, 'packed-refs'), 'utf8').catch(() => '');
  for (const line of packed.split('\n')) {
    const [sha, refName] = line.split(' ');
    if (refName === name && sha && /^[0-9a-f]{40}$/.test(sha)) return sha;
  }
  return undefined;
}

/** Files at commits already read: a commit never changes, so its files never do. */
const fileCache = new Map<string, string | undefined>();
const FILE_CACHE_ENTRIES = 256;

/** The text of a file at a commit, or undefined when the commit has no such file. */
export async function readFileAt(
  mirror: string,
  sha: string,
  path: string,
): Promise<string | undefined> {
  const key = `${mirror}\0${sha}\0${path}`;
  if (fileCache.has(key)) return fileCache.get(key);
  let text: string | undefined;
  try {
    text = await git(['show', `${sha}:${path}`], mirror);
  } catch (error) {
    if (!/does not exist|exists on disk, but not in/.test((error as Error).message)) throw error;
  }
  if (/^[0-9a-f]{40}$/.test(sha)) {
    if (fileCache.size >= FILE_CACHE_ENTRIES) fileCache.delete(fileCache.keys().next().value!);
    fileCache.set(key, text);
  }
  return text;
}

/** The message and author of a commit, as a build shows them. */
export interface CommitInfo {
  /** Subject and body, without trailing blank lines; cut at 16 KiB. */
  message: string;
  /** `Name <email>`. */
  author: string;
}

const MAX_COMMIT_MESSAGE = 16 * 1024;
/** Commits already read: they never change. */
const commitCache = new Map<string, CommitInfo>();

/** The message and author of `sha`, or undefined when git cannot read them. */
export async function commitInfo(mirror: string, sha: string): Promise<CommitInfo | undefined> {
  const key = `${mirror}\0${sha}`;
  const cached = commitCache.get(key);
  if (cached) return cached;
  let out: string;
  try {
    out = await git(['log', '-1', '--no-color', '--format=%an <%ae>%x00%B', sha, '--'], mirror);
  } catch {
    return undefined;
  }
  const at = out.indexOf('\0');
  if (at < 0) return undefined;
  const info = {
    author: out.slice(0, at),
    message: out
      .slice(at + 1)
      .replace(/\s+$/, '')
      .slice(0, MAX_COMMIT_MESSAGE),
  };
  if (/^[0-9a-f]{40}$/.test(sha)) {
    if (commitCache.size >= FILE_CACHE_ENTRIES)
      commitCache.delete(commitCache.keys().next().value!);
    commitCache.set(key, info);
  }
  return info;
}

/** Branch names of the mirror, sorted. */
export async function listBranches(mirror: string): Promise<string[]> {
  const out = await git(['for-each-ref', '--format=%(refname:short)', 'refs/heads'], mirror);
  return out.split('\n').filter(Boolean).sort();
}

/** The default branch the mirror's HEAD points at. */
export async function defaultBranch(mirror: string): Promise<string> {
  const ref = (await git(['symbolic-ref', 'HEAD'], mirror)).trim();
  return ref.replace(/^refs\/heads\//, '');
}

/** Writes the files of `sha` into `dir` (no .git). */
export async function exportCommit(mirror: string, sha: string, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await new Promise<void>((resolve, reject) => {
    const archive = execFile('git', ['archive', '--format=tar', sha], {
      cwd: mirror,
      encoding: 'buffer',
      maxBuffer: 1024 * 1024 * 1024,
    });
    const untar = execFile('tar', ['-x', '-C', dir]);
    archive.stdout!.pipe(untar.stdin!);
    let failed: Error | undefined;
    archive.on('close', (code) => {
      if (code !== 0) failed = new GitError(`git archive ${sha} exited ${code}`);
    });
    untar.on('close', (code) => {
      if (failed) reject(failed);
      else if (code !== 0) reject(new GitError(`tar exited ${code} while exporting ${sha}`));
      else resolve();
    });
  });
}
