/**
 * Matrix expansion: named axes become one job variant per combination.
 *
 * - Combinations follow the declaration order of axes (the first axis varies slowest).
 * - `exclude` entries remove every combination that matches all of their keys.
 * - `include` entries that match existing combinations on all of their axis keys add
 *   their other keys to those combinations; any other entry is added as a new variant.
 */

export type MatrixValue = string | number | boolean;
export type MatrixCombination = Record<string, MatrixValue>;

export interface RawMatrix {
  include?: MatrixCombination[] | undefined;
  exclude?: MatrixCombination[] | undefined;
  [axis: string]: MatrixValue[] | MatrixCombination[] | undefined;
}

export interface MatrixProblem {
  /** Path below `matrix`, e.g. ['exclude', 0, 'os']. */
  path: (string | number)[];
  message: string;
}

export interface MatrixExpansion {
  /** Every name a `matrix.*` expression may use: axes, then keys only `include` adds. */
  names: string[];
  combinations: MatrixCombination[];
  problems: MatrixProblem[];
}

export function expandMatrix(matrix: RawMatrix): MatrixExpansion {
  const problems: MatrixProblem[] = [];
  const axes = Object.keys(matrix).filter((k) => k !== 'include' && k !== 'exclude');
  const axisValues = axes.map((axis) => (matrix[axis] ?? []) as MatrixValue[]);

  let combinations: MatrixCombination[] = axes.length > 0 ? [{}] : [];
  axes.forEach((axis, i) => {
    const next: MatrixCombination[] = [];
    for (const combination of combinations) {
      for (const value of axisValues[i] ?? []) next.push({ ...combination, [axis]: value });
    }
    combinations = next;
  });

  (matrix.exclude ?? []).forEach((entry, i) => {
    for (const key of Object.keys(entry)) {
      if (!axes.includes(key)) {
        problems.push({
          path: ['exclude', i, key],
          message: `exclude names "${key}", which is not an axis of this matrix (axes: ${axes.join(', ') || 'none'})`,
        });
      }
    }
    combinations = combinations.filter((c) => !matches(c, entry));
  });

  const names = [...axes];
  for (const entry of matrix.include ?? []) {
    for (const key of Object.keys(entry)) if (!names.includes(key)) names.push(key);
    const axisKeys = Object.keys(entry).filter((k) => axes.includes(k));
    const extraKeys = Object.keys(entry).filter((k) => !axes.includes(k));
    const targets =
      axisKeys.length > 0
        ? combinations.filter((c) => axisKeys.every((k) => same(c[k], entry[k])))
        : [];
    const covers = axisKeys.length === axes.length;
    if (targets.length > 0 && (extraKeys.length > 0 || covers)) {
      for (const target of targets) {
        for (const key of extraKeys) if (!(key in target)) target[key] = entry[key]!;
      }
    } else {
      combinations.push({ ...entry });
    }
  }
  return { names, combinations, problems };
}

/** The variant name users see: `test (node: 20, os: linux)`. */
export function variantName(job: string, combination: MatrixCombination, order: string[]): string {
  const keys = order.filter((k) => k in combination);
  if (keys.length === 0) return job;
  return `${job} (${keys.map((k) => `${k}: ${String(combination[k])}`).join(', ')})`;
}

function matches(combination: MatrixCombination, entry: MatrixCombination): boolean {
  return Object.keys(entry).every((k) => same(combination[k], entry[k]));
}

function same(a: MatrixValue | undefined, b: MatrixValue | undefined): boolean {
  return a !== undefined && b !== undefined && String(a) === String(b);
}
