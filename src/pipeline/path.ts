/** A location inside a document: keys and list indexes from the root. */
export type Path = readonly (string | number)[];

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/**
 * Formats a path the way users read it: `jobs.test.steps[2].image`.
 * Keys that are not plain identifiers are quoted: `jobs["test (node: 20)"]`.
 */
export function formatPath(path: Path): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (PLAIN_KEY.test(part)) out += out === '' ? part : `.${part}`;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out;
}

/** A stable map key for a path. */
export function pathKey(path: Path): string {
  return JSON.stringify(path);
}
