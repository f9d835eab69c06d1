/**
 * Where a job's checkout comes from. For `slipway run` it is the local working tree:
 * the files git would see (tracked, plus untracked ones that are not ignored), or every
 * file when the directory is not a git repository. The controller will hand in a clean
 * checkout of the build's commit through the same interface.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { pack, type Pack } from 'tar-stream';
import { globToRegExp } from '../pipeline/glob.ts';

const run = promisify(execFile);

export interface WorkspaceSource {
  /** A description for logs: `the working tree at /src/app`. */
  readonly description: string;
  /** Relative paths of the files to copy, sorted. */
  files(): Promise<string[]>;
  /** A tar stream of the files, made readable and writable for every user of the pod. */
  tar(): { stream: NodeJS.ReadableStream; bytes: () => number };
  /** A hash of the files matching the globs, for cache keys (`hashFiles(...)`). */
  hashFiles(patterns: readonly string[]): Promise<string>;
}

/** Directories never copied: version control internals and Slipway's own output. */
const SKIP = new Set(['.git', '.slipway', '.slipway-data']);

export interface LocalSourceOptions {
  /**
   * `git` (default): the files git would see, for a working tree. `all`: every file, for
   * a directory that is an exported commit (which may sit inside some other repository).
   */
  listing?: 'git' | 'all';
  description?: string;
}

/**
 * `where` may be a function giving the directory later (a commit still being exported
 * while the pod starts): it is called once, when the files are first needed.
 */
export function localSource(
  where: string | (() => Promise<string>),
  options: LocalSourceOptions = {},
): WorkspaceSource {
  let directory: Promise<string> | undefined;
  const dir = (): Promise<string> =>
    (directory ??= typeof where === 'string' ? Promise.resolve(where) : where());
  let listing: Promise<string[]> | undefined;
  const files = (): Promise<string[]> =>
    (listing ??= dir().then((d) =>
      options.listing === 'all' ? walk(d, d).then((paths) => paths.sort()) : listFiles(d),
    ));
  return {
    description:
      options.description ??
      `the working tree at ${typeof where === 'string' ? where : 'a directory being made'}`,
    files,
    tar() {
      const archive = pack();
      let bytes = 0;
      void (async () => {
        try {
          const paths = await files();
          const root = await dir();
          // Explicit directory entries, open to every user of the pod; extraction would
          // otherwise create them owned by root with mode 0755.
          const dirs = new Set<string>();
          for (const path of paths) {
            const parts = path.split('/');
            for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
          }
          for (const name of [...dirs].sort())
            archive.entry({ name, type: 'directory', mode: 0o777, uid: 0, gid: 0 });
          for (const path of paths) bytes += await addEntry(archive, root, path);
          archive.finalize();
        } catch (error) {
          archive.destroy(error as Error);
        }
      })();
      return { stream: archive as unknown as NodeJS.ReadableStream, bytes: () => bytes };
    },
    async hashFiles(patterns) {
      const regexes = patterns.map((p) => globToRegExp(p.replace(/^\.\//, '')));
      const matched = (await files()).filter((f) => regexes.some((r) => r.test(f)));
      const root = await dir();
      const hash = createHash('sha256');
      for (const path of matched) {
        hash.update(path).update('\0');
        hash.update(
          createHash('sha256')
            .update(await readFile(join(root, path)))
            .digest(),
        );
      }
      return matched.length === 0 ? '' : hash.digest('hex').slice(0, 16);
    },
  };
}

async function listFiles(dir: string): Promise<string[]> {
  try {
    const { stdout } = await run(
      'git',
      ['-C', dir, 'ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', '.'],
      {
        maxBuffer: 256 * 1024 * 1024,
      },
    );
    const prefix = (await run('git', ['-C', dir, 'rev-parse', '--show-prefix'])).stdout.trim();
    const paths = stdout
      .split('\0')
      .filter(Boolean)
      .map((p) => (prefix && p.startsWith(prefix) ? p.slice(prefix.length) : p));
    // ls-files lists deleted-but-tracked files too; keep what exists.
    const existing = await Promise.all(
      paths.map(async (p) => ((await lstat(join(dir, p)).catch(() => undefined)) ? p : undefined)),
    );
    return existing
      .filter((p): p is string => p !== undefined && !p.split('/').some((part) => SKIP.has(part)))
      .sort();
  } catch {
    return (await walk(dir, dir)).sort();
  }
}

async function walk(root: string, dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (SKIP.has(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await walk(root, path)));
    else if (entry.isFile() || entry.isSymbolicLink())
      out.push(relative(root, path).split(sep).join('/'));
  }
  return out;
}

/** Adds one file to the archive; returns its size. Modes open the file to every user. */
async function addEntry(archive: Pack, dir: string, path: string): Promise<number> {
  const full = join(dir, path);
  const info = await lstat(full);
  if (info.isSymbolicLink()) {
    archive.entry({ name: path, type: 'symlink', linkname: await readlink(full), mode: 0o777 });
    return 0;
  }
  if (!info.isFile()) return 0;
  const executable = (info.mode & 0o111) !== 0;
  const entry = archive.entry({
    name: path,
    size: info.size,
    mode: executable ? 0o777 : 0o666,
    mtime: info.mtime,
    uid: 0,
    gid: 0,
  });
  await pipeline(createReadStream(full), entry);
  return info.size;
}
