/**
 * The one check of a job's `pipeline:` path, shared by the configuration file (a
 * diagnostic with file:line:col) and the API (400 `invalid_pipeline_path`). The path is
 * read with `git show <sha>:<path>`, so anything that could leave the repository's tree
 * or confuse git is refused before it gets there.
 */

/** Longest pipeline path accepted, in characters. */
export const PIPELINE_PATH_MAX = 1024;

/**
 * Why `path` cannot be a pipeline path, or undefined when it is fine: a relative path
 * inside the repository with forward slashes, like `.slipway.yml` or `ci/build.yml`.
 */
export function pipelinePathProblem(path: string): string | undefined {
  const fix = 'use a path inside the repository like .slipway.yml or ci/build.yml';
  if (path === '') return `the pipeline path is empty; ${fix}`;
  if (path.length > PIPELINE_PATH_MAX)
    return `the pipeline path is longer than ${PIPELINE_PATH_MAX} characters; ${fix}`;
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(path))
    return `the pipeline path contains a control character (NUL, newline...); ${fix}`;
  if (path.includes('\\'))
    return `the pipeline path "${path}" contains a backslash; separate directories with "/"`;
  if (path.startsWith('/') || /^[A-Za-z]:/.test(path))
    return `the pipeline path "${path}" is absolute; it is read from the repository, so ${fix}`;
  const segments = path.split('/');
  if (segments.includes('..'))
    return `the pipeline path "${path}" has a ".." segment and could leave the repository; ${fix}`;
  if (segments.some((s) => s === '' || s === '.'))
    return `the pipeline path "${path}" has an empty or "." segment; ${fix}`;
  return undefined;
}
