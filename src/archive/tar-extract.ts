/**
 * The one way Slipway unpacks a tar stream: artifacts copied out of a pod, the process
 * backend's `copyIn`, the fake backend's in-memory files. Archives come from containers
 * that run users' code, so every entry is treated as hostile:
 *
 * - names are relative: no absolute path, no `..`, no NUL; `./` and `//` are normalised;
 * - nothing is written through a symlink that leads out of the destination, whether the
 *   archive made it or it was there before, and an existing symlink at an entry's own
 *   path is replaced, never followed;
 * - entry count and content bytes are capped, counted as the bytes arrive;
 * - modes (without setuid, setgid and sticky bits) and symlinks are kept; hard links are
 *   made only to files this extraction wrote; devices and FIFOs are skipped.
 *
 * Directory modes are applied at the end, deepest first, so a read-only directory in the
 * archive does not stop its own files from being written.
 */
import { constants } from 'node:fs';
import {
  chmod,
  link,
  lstat,
  mkdir,
  realpath,
  stat,
  symlink,
  open,
  unlink,
  utimes,
} from 'node:fs/promises';
import { join, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { extract } from 'tar-stream';

/** How much one archive may hold. */
export interface TarLimits {
  /** Most entries of any kind. */
  maxEntries: number;
  /** Most bytes of file content, in total. */
  maxBytes: number;
}

export const DEFAULT_TAR_LIMITS: TarLimits = {
  maxEntries: 1_000_000,
  maxBytes: 64 * 1024 ** 3,
};

/** An archive that breaks a rule; nothing after the offending entry was written. */
export class UnsafeArchiveError extends Error {
  constructor(
    /** The entry's name as written in the archive. */
    readonly entry: string,
    message: string,
  ) {
    super(message);
    this.name = 'UnsafeArchiveError';
  }
}

/** The entry kinds Slipway handles. */
export type TarEntryType = 'file' | 'directory' | 'symlink' | 'link';

/** An entry's content: read it (or leave it; what is left is skipped). */
export type EntryBody = AsyncIterable<unknown> & { resume(): unknown };

/** One entry, with a checked, normalised relative path. */
export interface TarEntry {
  /** Relative path without `.`/`..` components or trailing slash; '' is the root itself. */
  path: string;
  /** The name as written in the archive, for messages. */
  name: string;
  type: TarEntryType;
  /** Permission bits only (0o777). */
  mode: number;
  size: number;
  /** Symlinks: the target as written. Hard links: the checked path of the linked entry. */
  linkname: string;
  mtime: Date | undefined;
}

/**
 * Normalises an entry name to a relative path, or says why it is refused.
 * `./a//b/` → `a/b`; `/etc/x`, `a/../../x` and names with NUL are refused.
 */
export function checkEntryName(
  name: string,
): { ok: true; path: string } | { ok: false; why: string } {
  if (name.includes('\0')) return { ok: false, why: 'its name holds a NUL byte' };
  if (name.startsWith('/')) return { ok: false, why: 'its name is an absolute path' };
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') return { ok: false, why: 'its name climbs out with ".."' };
    parts.push(part);
  }
  return { ok: true, path: parts.join('/') };
}

/**
 * Reads a tar stream entry by entry, checking names and limits; `visit` must consume or
 * leave each entry's body. Device files and FIFOs are skipped without a visit. Throws an
 * UnsafeArchiveError for a bad name or a limit, and any error `visit` throws.
 */
export async function readTar(
  source: NodeJS.ReadableStream,
  visit: (entry: TarEntry, body: EntryBody) => Promise<void>,
  limits: TarLimits = DEFAULT_TAR_LIMITS,
): Promise<{ skipped: number }> {
  const parser = extract();
  const feeding = pipeline(source, parser);
  // The loop below reports the first error; the feed's own echo of it is not news.
  feeding.catch(() => undefined);
  let entries = 0;
  let bytes = 0;
  let skipped = 0;
  for await (const body of parser) {
    const header = body.header;
    const name = header.name;
    if (++entries > limits.maxEntries)
      throw new UnsafeArchiveError(
        name,
        `the archive holds more than ${limits.maxEntries} entries`,
      );
    const type =
      header.type === 'contiguous-file' || header.type === undefined || header.type === null
        ? 'file'
        : header.type;
    if (type !== 'file' && type !== 'directory' && type !== 'symlink' && type !== 'link') {
      skipped++;
      body.resume();
      continue;
    }
    const checked = checkEntryName(name);
    if (!checked.ok)
      throw new UnsafeArchiveError(name, `refusing tar entry "${name}": ${checked.why}`);
    let linkname = header.linkname ?? '';
    if (type === 'link') {
      const target = checkEntryName(linkname);
      if (!target.ok)
        throw new UnsafeArchiveError(
          name,
          `refusing hard link "${name}": its target ${target.why}`,
        );
      linkname = target.path;
    }
    if (type === 'symlink' && (linkname === '' || linkname.includes('\0')))
      throw new UnsafeArchiveError(
        name,
        `refusing symlink "${name}": its target is empty or holds NUL`,
      );
    // The parser reads exactly `size` bytes of body, so the header's size is what arrives.
    const size = type === 'file' ? (header.size ?? 0) : 0;
    bytes += size;
    if (bytes > limits.maxBytes)
      throw new UnsafeArchiveError(
        name,
        `the archive holds more than ${limits.maxBytes} bytes of files`,
      );
    await visit(
      {
        path: checked.path,
        name,
        type,
        mode: (header.mode ?? (type === 'directory' ? 0o755 : 0o644)) & 0o777,
        size,
        linkname,
        mtime: header.mtime,
      },
      body,
    );
    // Whatever the visitor left unread is skipped, so the next entry can come.
    body.resume();
  }
  await feeding;
  return { skipped };
}

/** What one extraction wrote. */
export interface ExtractResult {
  files: number;
  directories: number;
  symlinks: number;
  links: number;
  /** Entries not written: devices, FIFOs, filtered out, hard links to files not written. */
  skipped: number;
  /** Bytes of file content written. */
  bytes: number;
}

export interface ExtractOptions {
  limits?: TarLimits;
  /**
   * Renames or drops entries: returns the path to write (relative to the destination),
   * or null to skip the entry. Applied to hard-link targets too.
   */
  map?: (entry: TarEntry) => string | null;
}

/** Unpacks a tar stream into `dest` (created if missing) under the rules above. */
export async function extractTar(
  source: NodeJS.ReadableStream,
  dest: string,
  options: ExtractOptions = {},
): Promise<ExtractResult> {
  await mkdir(dest, { recursive: true });
  const root = await realpath(dest);
  const result: ExtractResult = {
    files: 0,
    directories: 0,
    symlinks: 0,
    links: 0,
    skipped: 0,
    bytes: 0,
  };
  /** Directories known to be real directories inside the root (relative paths). */
  const safeDirs = new Set<string>(['']);
  /** Files this extraction wrote, the only valid hard-link targets. */
  const written = new Set<string>();
  const dirModes = new Map<string, number>();

  /** Resolves a relative directory to a real directory inside the root, creating it. */
  const directory = async (relative: string, entry: string): Promise<string> => {
    if (safeDirs.has(relative)) return join(root, relative);
    let current = root;
    let soFar = '';
    // Past a symlink the path is checked anew each time: the link itself may be replaced.
    let viaSymlink = false;
    for (const part of relative.split('/')) {
      soFar = soFar ? `${soFar}/${part}` : part;
      const next = join(current, part);
      if (!viaSymlink && safeDirs.has(soFar)) {
        current = next;
        continue;
      }
      let info = await lstat(next).catch(() => undefined);
      if (!info) {
        await mkdir(next).catch((error: NodeJS.ErrnoException) => {
          if (error.code !== 'EEXIST') throw error;
        });
        info = await lstat(next);
      }
      if (info.isSymbolicLink()) {
        const real = await realpath(next).catch(() => undefined);
        if (!real || !inside(root, real) || !(await stat(real)).isDirectory())
          throw new UnsafeArchiveError(
            entry,
            `refusing tar entry "${entry}": "${soFar}" is a symlink that leads out of the destination`,
          );
        viaSymlink = true;
        current = real;
        continue;
      }
      if (!info.isDirectory())
        throw new UnsafeArchiveError(
          entry,
          `refusing tar entry "${entry}": "${soFar}" is not a directory`,
        );
      if (!viaSymlink) safeDirs.add(soFar);
      current = next;
    }
    return current;
  };

  /** Makes room for a new file or symlink at `path`: an old file or symlink goes, never followed. */
  const clear = async (path: string, relative: string, entry: string): Promise<void> => {
    const info = await lstat(path).catch(() => undefined);
    if (!info) return;
    written.delete(relative);
    if (info.isDirectory())
      throw new UnsafeArchiveError(
        entry,
        `refusing tar entry "${entry}": a directory is in its place`,
      );
    await unlink(path);
  };

  const split = (path: string): [string, string] => {
    const at = path.lastIndexOf('/');
    return at < 0 ? ['', path] : [path.slice(0, at), path.slice(at + 1)];
  };

  const stats = await readTar(
    source,
    async (entry, body) => {
      const mapped = options.map ? options.map(entry) : entry.path;
      const path = mapped === null ? null : checkEntryName(mapped);
      if (path === null || !path.ok) {
        if (path && !path.ok)
          throw new UnsafeArchiveError(
            entry.name,
            `refusing tar entry "${entry.name}": ${path.why}`,
          );
        result.skipped++;
        body.resume();
        return;
      }
      const relative = path.path;
      if (entry.type === 'directory') {
        body.resume();
        await directory(relative, entry.name);
        if (relative !== '') dirModes.set(relative, entry.mode);
        result.directories++;
        return;
      }
      if (relative === '')
        throw new UnsafeArchiveError(
          entry.name,
          `refusing tar entry "${entry.name}": it names the destination itself`,
        );
      const [parent, base] = split(relative);
      const target = join(await directory(parent, entry.name), base);
      await clear(target, relative, entry.name);
      switch (entry.type) {
        case 'file': {
          const flags =
            constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
          const handle = await open(target, flags, 0o600);
          await pipeline(body, handle.createWriteStream());
          // Exact bits, whatever the umask of this process.
          await chmod(target, entry.mode);
          if (entry.mtime) await utimes(target, entry.mtime, entry.mtime).catch(() => undefined);
          written.add(relative);
          result.files++;
          result.bytes += entry.size;
          return;
        }
        case 'symlink':
          body.resume();
          await symlink(entry.linkname, target);
          result.symlinks++;
          return;
        case 'link': {
          body.resume();
          const to = options.map
            ? options.map({ ...entry, path: entry.linkname, type: 'file' })
            : entry.linkname;
          const checked = to === null ? null : checkEntryName(to);
          if (!checked?.ok || !written.has(checked.path)) {
            result.skipped++;
            return;
          }
          const [fromDir, fromBase] = split(checked.path);
          const from = join(await directory(fromDir, entry.name), fromBase);
          if (!(await lstat(from)).isFile()) {
            result.skipped++;
            return;
          }
          await link(from, target);
          result.links++;
          return;
        }
      }
    },
    options.limits,
  );
  result.skipped += stats.skipped;
  // Deepest first, so a directory made read-only does not block setting its children.
  for (const relative of [...dirModes.keys()].sort((a, b) => b.length - a.length))
    await chmod(await directory(relative, relative), dirModes.get(relative)!);
  return result;
}

function inside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}
