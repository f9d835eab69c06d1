import { readFile, stat } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { SlipwayError } from '../errors/index.ts';
import { DEFAULT_PIPELINE_FILE } from '../pipeline/plan.ts';

/** A pipeline file read from disk. */
export interface PipelineFile {
  /** Absolute path. */
  path: string;
  /** The name shown in diagnostics: relative to the working directory when inside it. */
  displayName: string;
  /** The directory the pipeline belongs to (the repository root for `slipway run`). */
  dir: string;
  text: string;
}

/**
 * Reads a pipeline from FILE, or from DIR/.slipway.yml, or from ./.slipway.yml.
 * Throws SW_FILE_NOT_FOUND with the path it looked at.
 */
export async function readPipelineFile(
  target: string | undefined,
  cwd = process.cwd(),
): Promise<PipelineFile> {
  let path = resolve(cwd, target ?? DEFAULT_PIPELINE_FILE);
  const info = await stat(path).catch(() => undefined);
  if (info?.isDirectory()) path = join(path, DEFAULT_PIPELINE_FILE);
  const fileInfo = info?.isDirectory() ? await stat(path).catch(() => undefined) : info;
  if (!fileInfo) {
    throw new SlipwayError(
      'SW_FILE_NOT_FOUND',
      `no pipeline at ${path}; create ${DEFAULT_PIPELINE_FILE} there or name the file: slipway validate path/to/pipeline.yml`,
    );
  }
  if (!fileInfo.isFile())
    throw new SlipwayError('SW_FILE_UNREADABLE', `${path} is not a regular file`);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new SlipwayError(
      'SW_FILE_UNREADABLE',
      `cannot read ${path}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const rel = relative(cwd, path);
  return {
    path,
    displayName: rel.startsWith('..') || rel === '' ? path : rel,
    dir: resolve(path, '..'),
    text,
  };
}
