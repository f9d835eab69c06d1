import type * as z from 'zod';
import type { Diagnostic, DiagnosticCode } from './diagnostics.ts';
import { closest } from './expressions.ts';
import { formatPath, type Path } from './path.ts';
import type { SourceFile } from './source.ts';
import type { LoadedDocument } from './yaml-loader.ts';

/**
 * Turns zod issues into diagnostics that say where (file:line:col and the path) and how
 * to fix the problem, with "did you mean" for unknown keys.
 */
export function schemaDiagnostics(
  issues: readonly z.core.$ZodIssue[],
  schema: z.ZodType,
  value: unknown,
  basePath: Path,
  doc: LoadedDocument,
  source: SourceFile,
): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const issue of issues) convert(issue, [], schema, value, basePath, doc, source, out);
  // `stpes` next to a missing `steps` is one mistake: keep the "did you mean" and drop
  // the "missing key" it explains.
  const explained = new Set(
    out
      .filter((d) => d.code === 'unknown-key')
      .map((d) => {
        const guess = /did you mean "([^"]+)"/.exec(d.message)?.[1];
        return guess ? `${d.path.slice(0, d.path.lastIndexOf('.'))}:${guess}` : '';
      }),
  );
  return out.filter((d) => {
    if (d.code !== 'missing-key') return true;
    const key = /required key "([^"]+)"/.exec(d.message)?.[1];
    return !explained.has(`${d.path}:${key ?? ''}`);
  });
}

type AnyIssue = z.core.$ZodIssue;

function convert(
  issue: AnyIssue,
  prefix: Path,
  schema: z.ZodType,
  root: unknown,
  basePath: Path,
  doc: LoadedDocument,
  source: SourceFile,
  out: Diagnostic[],
): void {
  const rel = [...prefix, ...(issue.path as (string | number)[])];
  const full = [...basePath, ...rel];
  const actual = valueAt(root, rel);
  const where = formatPath(full) || 'the top level';
  const at = (code: DiagnosticCode, message: string, path: Path = full, useKey = false): void => {
    out.push(source.diagnostic(code, message, locate(doc, path, useKey), path));
  };
  const missing = (): void => {
    const key = full[full.length - 1];
    const parent = formatPath(full.slice(0, -1)) || 'the top level';
    at(
      'missing-key',
      `${parent} is missing the required key "${String(key)}"; add it`,
      full.slice(0, -1),
      true,
    );
  };

  switch (issue.code) {
    case 'custom': {
      const params = (issue as { params?: { diag?: string; offset?: number } }).params;
      const code = (params?.diag ?? 'invalid-value') as DiagnosticCode;
      const range =
        params?.offset === undefined ? undefined : offsetInScalar(doc, source, full, params.offset);
      out.push(
        source.diagnostic(code, `${where}: ${issue.message}`, range ?? locate(doc, full), full),
      );
      return;
    }
    case 'unrecognized_keys': {
      const allowed = allowedKeys(schema, rel, root);
      for (const key of issue.keys) {
        if (looksLikeCommandWithColon(rel, key, root)) {
          const range = locate(doc, [...full, key], true);
          const line = range ? source.lineText(source.position(range[0]).line) : '';
          const command = line.replace(/^\s*-\s*/, '').trim();
          const quoted = command.includes("'") ? JSON.stringify(command) : `'${command}'`;
          at(
            'unknown-key',
            `this step reads as a mapping because its command contains ": "; quote the whole command, ` +
              `like - ${quoted}, or write it under run: |`,
            [...full, key],
            true,
          );
          continue;
        }
        const guess = closest(key, allowed);
        const fix = guess
          ? `did you mean "${guess}"?`
          : `allowed keys are ${allowed.map((k) => `"${k}"`).join(', ')}`;
        at('unknown-key', `unknown key "${key}" in ${where}; ${fix}`, [...full, key], true);
      }
      return;
    }
    case 'invalid_union': {
      const branches = (issue as { errors: AnyIssue[][] }).errors;
      // Report the problems of the branch the user evidently meant: the one whose
      // errors are not about the value's own type.
      const meant = branches.filter(
        (errors) => !errors.some((e) => e.path.length === 0 && e.code === 'invalid_type'),
      );
      if (meant.length > 0) {
        // Prefer the branch that got furthest into the value (deepest first problem),
        // then the one with the fewest problems.
        const depth = (errors: AnyIssue[]): number => Math.min(...errors.map((e) => e.path.length));
        const best = meant.reduce((a, b) =>
          depth(b) > depth(a) || (depth(b) === depth(a) && b.length < a.length) ? b : a,
        );
        for (const inner of best) convert(inner, rel, schema, root, basePath, doc, source, out);
        return;
      }
      const expected = unique(
        branches.flatMap((errors) =>
          errors
            .filter((e) => e.code === 'invalid_type' && e.path.length === 0)
            .map((e) => describeExpected((e as { expected: string }).expected)),
        ),
      );
      if (actual === undefined) {
        missing();
        return;
      }
      at('invalid-type', `${where} must be ${joinOr(expected)}, not ${describeValue(actual)}`);
      return;
    }
    case 'invalid_type': {
      if (actual === undefined) {
        missing();
        return;
      }
      at(
        'invalid-type',
        `${where} must be ${describeExpected(issue.expected)}, not ${describeValue(actual)}`,
      );
      return;
    }
    case 'invalid_value': {
      const values = (issue as { values: unknown[] }).values.map((v) => String(v));
      const guess = typeof actual === 'string' ? closest(actual, values) : undefined;
      at(
        'invalid-value',
        `${where} is ${JSON.stringify(actual)}, but must be one of ${values.join(', ')}` +
          (guess ? `; did you mean "${guess}"?` : ''),
      );
      return;
    }
    case 'invalid_key': {
      const inner = (issue as { issues: AnyIssue[] }).issues[0];
      const key = full[full.length - 1];
      at(
        'invalid-name',
        `${JSON.stringify(key)} is not a valid name here: ${inner?.message ?? issue.message}`,
        full,
        true,
      );
      return;
    }
    case 'too_small': {
      const minimum = Number((issue as { minimum: number | bigint }).minimum);
      const { origin, inclusive } = issue as { origin: string; inclusive?: boolean };
      if (origin === 'array')
        at(
          'invalid-value',
          `${where} must have at least ${minimum} entr${minimum === 1 ? 'y' : 'ies'}`,
        );
      else if (origin === 'string') at('invalid-value', `${where} must not be empty`);
      else if (inclusive === false)
        at('invalid-value', `${where} must be more than ${minimum}, not ${String(actual)}`);
      else at('invalid-value', `${where} must be at least ${minimum}, not ${String(actual)}`);
      return;
    }
    case 'too_big': {
      const maximum = Number((issue as { maximum: number | bigint }).maximum);
      at('invalid-value', `${where} must be at most ${maximum}, not ${String(actual)}`);
      return;
    }
    case 'invalid_format':
      at('invalid-value', `${where}: ${issue.message}`);
      return;
    case 'not_multiple_of':
    case 'invalid_element':
      at('invalid-value', `${where}: ${issue.message}`);
      return;
  }
}

/** The location for a path; with useKey, the key of the entry rather than its value. */
export function locate(
  doc: LoadedDocument,
  path: Path,
  useKey = false,
): readonly [number, number] | undefined {
  for (let i = path.length; i >= 0; i--) {
    const location = doc.locate(path.slice(0, i));
    if (location) return (useKey || i < path.length ? location.key : undefined) ?? location.value;
  }
  return undefined;
}

/** A step that is a one-key mapping whose key has spaces: `- echo "a: b"` parsed as a map. */
function looksLikeCommandWithColon(rel: Path, key: string, root: unknown): boolean {
  const step = valueAt(root, rel);
  return (
    rel.length >= 2 &&
    rel[rel.length - 2] === 'steps' &&
    typeof rel[rel.length - 1] === 'number' &&
    /\s/.test(key) &&
    step !== null &&
    typeof step === 'object' &&
    Object.keys(step).length === 1
  );
}

/** A range inside a scalar's text, `offset` characters into its value (skipping a quote). */
function offsetInScalar(
  doc: LoadedDocument,
  source: SourceFile,
  path: Path,
  offset: number,
): readonly [number, number] | undefined {
  const location = doc.locate(path);
  if (!location) return undefined;
  const start = location.value[0];
  const quote = source.text.charAt(start) === '"' || source.text.charAt(start) === "'" ? 1 : 0;
  const at = Math.min(start + quote + offset, location.value[1]);
  return [at, at + 1];
}

function valueAt(root: unknown, path: Path): unknown {
  let current = root;
  for (const part of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string | number, unknown>)[part];
  }
  return current;
}

interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  catchall?: z.ZodType;
  valueType?: z.ZodType;
  element?: z.ZodType;
  options?: z.ZodType[];
  innerType?: z.ZodType;
}

function defOf(schema: z.ZodType): Def {
  return (schema as unknown as { _zod: { def: Def } })._zod.def;
}

/** The keys an object schema at `path` accepts, following unions by the value's shape. */
function allowedKeys(schema: z.ZodType, path: Path, root: unknown): string[] {
  let current: z.ZodType | undefined = schema;
  let value: unknown = root;
  const unwrap = (s: z.ZodType | undefined): z.ZodType | undefined => {
    let node = s;
    for (let guard = 0; node && guard < 16; guard++) {
      const def = defOf(node);
      if (def.innerType) node = def.innerType;
      else if (def.type === 'union' && def.options) {
        node = def.options.find((o) => acceptsObjects(o)) ?? def.options[0];
      } else break;
    }
    return node;
  };
  current = unwrap(current);
  for (const part of path) {
    if (!current) return [];
    const def = defOf(current);
    if (def.type === 'object') current = def.shape?.[String(part)] ?? def.catchall;
    else if (def.type === 'record') current = def.valueType;
    else if (def.type === 'array') current = def.element;
    else return [];
    value =
      value !== null && typeof value === 'object'
        ? (value as Record<string, unknown>)[part]
        : undefined;
    current = unwrap(current);
  }
  if (!current) return [];
  const def = defOf(current);
  return def.type === 'object' ? Object.keys(def.shape ?? {}) : [];
}

function acceptsObjects(schema: z.ZodType): boolean {
  let node: z.ZodType | undefined = schema;
  for (let guard = 0; node && guard < 16; guard++) {
    const def = defOf(node);
    if (def.type === 'object' || def.type === 'record') return true;
    if (def.type === 'union') return (def.options ?? []).some(acceptsObjects);
    node = def.innerType;
  }
  return false;
}

function describeExpected(expected: string): string {
  switch (expected) {
    case 'object':
      return 'a mapping (key: value)';
    case 'array':
      return 'a list';
    case 'string':
      return 'a string';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'true or false';
    case 'record':
      return 'a mapping (key: value)';
    default:
      return expected;
  }
}

/** How a YAML value reads to the user. */
export function describeValue(value: unknown): string {
  if (value === null) return 'empty (null)';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `the string ${JSON.stringify(truncate(value))}`;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return `the number ${value}`;
  return `a ${typeof value}`;
}

function truncate(text: string): string {
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

function joinOr(values: string[]): string {
  if (values.length <= 1) return values[0] ?? 'another type';
  return `${values.slice(0, -1).join(', ')} or ${values[values.length - 1]}`;
}
