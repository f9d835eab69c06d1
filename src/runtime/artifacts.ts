/**
 * Artifacts: files a job keeps, copied out of the workspace after its steps. Each glob is
 * fetched from its literal directory prefix (so `dist/**` copies `dist`, not the whole
 * workspace), and only entries that match are written, under `<dir>/<job>/`.
 */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { extract } from 'tar-stream';
import type { Pod } from '../backends/backend.ts';
import { globToRegExp } from '../pipeline/glob.ts';
import { WORKSPACE_PATH } from '../pipeline/plan.ts';

export interface CollectedArtifacts {
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

/** Copies the files matching `globs` from the pod's workspace into `dir`. */
export async function collectArtifacts(
  pod: Pod,
  globs: readonly string[],
  dir: string,
): Promise<CollectedArtifacts> {
  const root = resolve(dir);
  const matchers = globs.map((g) => globToRegExp(g.replace(/^\.\//, '')));
  const written = new Set<string>();
  let bytes = 0;
  const prefixes = [...new Set(globs.map(literalPrefix))];
  for (const prefix of prefixes) {
    const archive = await pod.copyOut(
      'primary',
      prefix === '' ? WORKSPACE_PATH : `${WORKSPACE_PATH}/${prefix}`,
    );
    if (!archive) continue;
    // The archive's entries are named from the fetched path's last component.
    const base = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    const parser = extract();
    parser.on('entry', (header, stream, next) => {
      const name = (
        prefix === ''
          ? header.name.replace(/^[^/]+\/?/, '')
          : base
            ? `${base}/${header.name}`
            : header.name
      ).replace(/\/$/, '');
      const target = resolve(root, name);
      const inside = target.startsWith(root + sep);
      if (
        header.type !== 'file' ||
        !inside ||
        !matchers.some((m) => m.test(name)) ||
        written.has(name)
      ) {
        stream.resume();
        stream.once('end', next);
        return;
      }
      written.add(name);
      bytes += header.size ?? 0;
      mkdir(dirname(target), { recursive: true })
        .then(() => pipeline(stream, createWriteStream(target)))
        .then(() => next(), next);
    });
    await pipeline(archive, parser);
  }
  return { files: written.size, bytes, dir: root };
}

/** Where one job's artifacts go: `<base>/<job id as a path-safe name>`. */
export function artifactsDirFor(base: string, jobId: string): string {
  return join(base, jobId.replace(/[^A-Za-z0-9_.-]+/g, '_').replace(/^_+|_+$/g, '') || 'job');
}
