import type { Diagnostic, DiagnosticCode, Severity } from './diagnostics.ts';
import {
  checkExpression,
  parseExpression,
  parseTemplate,
  type Expr,
  type ExpressionScope,
} from './expressions.ts';
import { expandMatrix, type MatrixExpansion } from './matrix.ts';
import { formatPath, type Path } from './path.ts';
import type { BuildContext } from './plan.ts';
import type { RawDefaults, RawJob, RawStep } from './schema.ts';
import { locate } from './schema-issues.ts';
import type { SourceFile } from './source.ts';
import type { TemplateChecker } from './templates.ts';
import { parseSize, formatSize } from './units.ts';
import { layerTrust, type Trust } from './untrusted.ts';
import { shellCommand } from './shell-words.ts';
import type { LoadedDocument } from './yaml-loader.ts';

/** The smallest memory limit the Docker engine accepts. */
const MIN_MEMORY_BYTES = 6 * 1024 * 1024;

/** What every job of a pipeline shares. */
export interface PipelineScope {
  source: SourceFile;
  doc: LoadedDocument;
  diagnostics: Diagnostic[];
  templates: TemplateChecker;
  defaults: RawDefaults | undefined;
  /** Pipeline-level env, rendered. */
  env: Record<string, string>;
  inputNames: ReadonlySet<string>;
  /** Which pipeline env names and inputs hold untrusted values (untrusted.ts). */
  trust: Trust;
  context: BuildContext;
  maxVariants: number;
}

/** A job after its own checks: ready to be rendered once per matrix combination. */
export interface CheckedJob {
  name: string;
  raw: RawJob;
  matrix: MatrixExpansion | undefined;
  /** `needs` as written. */
  needs: string[];
  /** Each step's parsed `if:` (true when absent). */
  conditions: (Expr | boolean)[];
  ok: boolean;
}

/** Checks one schema-valid job: image, steps, containers, matrix and expressions. */
export function checkJob(
  name: string,
  raw: RawJob,
  scope: PipelineScope,
  brokenKeys: ReadonlySet<string> = new Set(),
): CheckedJob {
  const base: Path = ['jobs', name];
  const before = scope.diagnostics.length;
  const report = (
    code: DiagnosticCode,
    message: string,
    path: Path,
    useKey = false,
    severity: Severity = 'error',
  ): void => {
    scope.diagnostics.push(
      scope.source.diagnostic(code, message, locate(scope.doc, path, useKey), path, severity),
    );
  };

  if (!raw.image && !scope.defaults?.image && !brokenKeys.has('image')) {
    report(
      'missing-image',
      `job "${name}" has no image; add \`image:\` to the job (e.g. image: debian:12) or set defaults.image`,
      base,
      true,
    );
  }

  let matrix: MatrixExpansion | undefined;
  if (raw.matrix) {
    matrix = expandMatrix(raw.matrix);
    for (const problem of matrix.problems)
      report(
        'invalid-value',
        `jobs.${name}.matrix: ${problem.message}`,
        [...base, 'matrix', ...problem.path],
        true,
      );
    for (const axis of Object.keys(raw.matrix)) {
      if (axis === 'include' || axis === 'exclude') continue;
      if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(axis))
        report(
          'invalid-name',
          `matrix axis "${axis}" must use letters, digits, "_" and "-"`,
          [...base, 'matrix', axis],
          true,
        );
    }
    if (matrix.combinations.length === 0)
      report(
        'empty-matrix',
        `the matrix of job "${name}" expands to no variants; check its exclude entries`,
        [...base, 'matrix'],
        true,
      );
    if (matrix.combinations.length > scope.maxVariants)
      report(
        'matrix-too-large',
        `the matrix of job "${name}" expands to ${matrix.combinations.length} variants, over the limit of ${scope.maxVariants}; remove axis values or split the job`,
        [...base, 'matrix'],
        true,
      );
    warnNumberPrecision(raw.matrix, [...base, 'matrix'], scope);
  }
  if (raw.env) warnNumberPrecision(raw.env, [...base, 'env'], scope);
  checkMemory(raw.resources?.memory, [...base, 'resources', 'memory'], scope);

  const envNames = new Set([...Object.keys(scope.env), ...Object.keys(raw.env ?? {})]);
  const outerScope: ExpressionScope = {
    env: new Set(Object.keys(scope.env)),
    inputs: scope.inputNames,
    ...(matrix ? { matrix: new Set(matrix.names) } : {}),
  };
  const jobScope: ExpressionScope = { ...outerScope, env: envNames };
  const t = scope.templates;
  const check = (text: string | undefined, path: Path, s: ExpressionScope = jobScope): boolean =>
    text === undefined || t.check(text, [...base, ...path], s);

  check(raw.image, ['image']);
  for (const [key, value] of Object.entries(raw.env ?? {}))
    if (typeof value === 'string') check(value, ['env', key], outerScope);
  check(raw.working_dir, ['working_dir']);
  check(raw.user, ['user']);
  const needs =
    raw.needs === undefined ? [] : typeof raw.needs === 'string' ? [raw.needs] : raw.needs;
  needs.forEach((need, i) =>
    t.forbid(need, [...base, 'needs', ...(typeof raw.needs === 'string' ? [] : [i])], '`needs`'),
  );
  if (typeof raw.labels === 'string') t.forbid(raw.labels, [...base, 'labels'], '`labels`');
  if (Array.isArray(raw.labels)) {
    raw.labels.forEach((label, i) => {
      if (!/^[A-Za-z0-9_.:/=-]+$/.test(label))
        report(
          'invalid-label-expression',
          `labels[${i}] "${label}" is not a single label; in a list each entry is one label (use a string for expressions like "a && !b")`,
          [...base, 'labels', i],
        );
    });
  }
  for (const [serviceName, service] of Object.entries(raw.services ?? {})) {
    const at: Path = ['services', serviceName];
    check(service.image, [...at, 'image']);
    for (const [key, value] of Object.entries(service.env ?? {}))
      if (typeof value === 'string') check(value, [...at, 'env', key]);
    checkCommand(service.command, [...at, 'command'], check);
    checkCommand(service.entrypoint, [...at, 'entrypoint'], check);
    check(service.ready?.command, [...at, 'ready', 'command']);
    if (service.ready?.tcp !== undefined && service.ready.command !== undefined)
      report(
        'invalid-value',
        `service "${serviceName}": ready takes either tcp or command, not both`,
        [...base, ...at, 'ready'],
        true,
      );
  }
  for (const [containerName, container] of Object.entries(raw.containers ?? {})) {
    const at: Path = ['containers', containerName];
    check(container.image, [...at, 'image']);
    check(container.user, [...at, 'user']);
    for (const [key, value] of Object.entries(container.env ?? {}))
      if (typeof value === 'string') check(value, [...at, 'env', key]);
  }
  const artifactPaths = Array.isArray(raw.artifacts) ? raw.artifacts : (raw.artifacts?.paths ?? []);
  artifactPaths.forEach((path, i) => {
    const at: Path = Array.isArray(raw.artifacts) ? ['artifacts', i] : ['artifacts', 'paths', i];
    check(path, at);
    if (path.startsWith('/') || path.split('/').includes('..'))
      report(
        'invalid-value',
        `artifact path "${path}" must be relative to the workspace and stay inside it`,
        [...base, ...at],
      );
  });
  const caches = raw.cache === undefined ? [] : Array.isArray(raw.cache) ? raw.cache : [raw.cache];
  caches.forEach((cache, i) => {
    const at: Path = Array.isArray(raw.cache) ? ['cache', i] : ['cache'];
    check(cache.key, [...at, 'key'], { ...jobScope, runtimeFunctions: true });
    cache.paths.forEach((path, j) => check(path, [...at, 'paths', j]));
  });

  const usedContainers = new Set<string>();
  const jobTrust = layerTrust(scope.trust, raw.env);
  const jobShell = raw.shell ?? scope.defaults?.shell;
  const conditions = raw.steps.map((step, i): Expr | boolean => {
    if (typeof step === 'string') {
      if (check(step, ['steps', i]))
        t.checkScript(step, [...base, 'steps', i], jobTrust, shellCommand(jobShell));
      return true;
    }
    if (
      step.run !== undefined &&
      t.check(step.run, [...base, 'steps', i, 'run'], {
        ...jobScope,
        env: new Set([...jobScope.env, ...Object.keys(step.env ?? {})]),
      })
    )
      t.checkScript(
        step.run,
        [...base, 'steps', i, 'run'],
        layerTrust(jobTrust, step.env),
        shellCommand(step.shell ?? jobShell),
      );
    return checkStep(name, step, i, raw, jobScope, scope, report, usedContainers) ?? true;
  });
  for (const containerName of Object.keys(raw.containers ?? {})) {
    if (!usedContainers.has(containerName))
      report(
        'unused-container',
        `container "${containerName}" is started but no step runs in it; add \`container: ${containerName}\` to a step or remove it`,
        [...base, 'containers', containerName],
        true,
        'warning',
      );
  }

  const ok = !scope.diagnostics.slice(before).some((d) => d.severity === 'error');
  return { name, raw, matrix, needs, conditions, ok };
}

function checkCommand(
  command: string | string[] | undefined,
  path: Path,
  check: (text: string | undefined, path: Path) => void,
): void {
  if (typeof command === 'string') check(command, path);
  else command?.forEach((word, i) => check(word, [...path, i]));
}

function checkStep(
  jobName: string,
  step: RawStep,
  index: number,
  raw: RawJob,
  jobScope: ExpressionScope,
  scope: PipelineScope,
  report: (code: DiagnosticCode, message: string, path: Path, useKey?: boolean) => void,
  usedContainers: Set<string>,
): Expr | boolean | undefined {
  const at: Path = ['jobs', jobName, 'steps', index];
  const t = scope.templates;
  const stepScope: ExpressionScope = {
    ...jobScope,
    env: new Set([...jobScope.env, ...Object.keys(step.env ?? {})]),
  };
  const hasCheckout = step.checkout !== undefined && step.checkout !== false;
  if (step.run !== undefined && hasCheckout)
    report(
      'step-conflict',
      `step ${index + 1} of job "${jobName}" has both run and checkout; split it into two steps`,
      at,
    );
  if (step.run === undefined && !hasCheckout)
    report(
      'step-conflict',
      `step ${index + 1} of job "${jobName}" has nothing to do; add \`run:\` with a script or \`checkout: true\``,
      at,
    );
  if (step.image !== undefined && step.container !== undefined)
    report(
      'step-conflict',
      `step ${index + 1} of job "${jobName}" sets both image and container; pick one`,
      [...at, 'container'],
      true,
    );
  if (step.container !== undefined) {
    usedContainers.add(step.container);
    t.forbid(step.container, [...at, 'container'], '`container`');
    if (!step.container.includes('${{') && !(step.container in (raw.containers ?? {}))) {
      const names = Object.keys(raw.containers ?? {});
      report(
        'unknown-container',
        `step ${index + 1} of job "${jobName}" runs in container "${step.container}", which the job does not define` +
          (names.length > 0
            ? ` (containers: ${names.join(', ')})`
            : '; add it under `containers:`'),
        [...at, 'container'],
      );
    }
  }
  // `run` is checked by the caller, with the trust of its values.
  for (const key of ['name', 'image', 'working_dir'] as const) {
    const value = step[key];
    if (value !== undefined) t.check(value, [...at, key], stepScope);
  }
  for (const [key, value] of Object.entries(step.env ?? {}))
    if (typeof value === 'string') t.check(value, [...at, 'env', key], jobScope);
  if (step.env) warnNumberPrecision(step.env, [...at, 'env'], scope);
  if (typeof step.if === 'string')
    return parseCondition(step.if, [...at, 'if'], { ...stepScope, statusFunctions: true }, scope);
  return step.if;
}

/** Parses an `if:` condition, bare or wrapped in `${{ }}`; reports problems and returns it when valid. */
function parseCondition(
  text: string,
  path: Path,
  exprScope: ExpressionScope,
  scope: PipelineScope,
): Expr | undefined {
  const trimmed = text.trim();
  if (trimmed.includes('${{')) {
    const parts = parseTemplate(trimmed);
    const only = parts.length === 1 ? parts[0] : undefined;
    if (only?.kind !== 'expr') {
      scope.diagnostics.push(
        scope.source.diagnostic(
          'expression-syntax',
          `${formatPath(path)}: an \`if:\` condition must be one expression; write \`if: \${{ ... }}\` or the bare expression, without text around it`,
          locate(scope.doc, path),
          path,
        ),
      );
      return undefined;
    }
    return scope.templates.check(trimmed, path, exprScope) ? only.expr : undefined;
  }
  const parsed = parseExpression(trimmed);
  if (!parsed.ok) {
    scope.templates.reportBare(parsed.problem, trimmed, path);
    return undefined;
  }
  const problems = checkExpression(parsed.expr, exprScope);
  for (const problem of problems) scope.templates.reportBare(problem, trimmed, path);
  return problems.length === 0 ? parsed.expr : undefined;
}

/** Reports a memory limit below what the engine accepts. */
export function checkMemory(
  memory: string | number | undefined,
  path: Path,
  scope: PipelineScope,
): void {
  if (memory === undefined) return;
  const parsed = parseSize(memory);
  if (parsed.ok && parsed.value < MIN_MEMORY_BYTES) {
    scope.diagnostics.push(
      scope.source.diagnostic(
        'invalid-size',
        `${formatPath(path)}: ${formatSize(parsed.value)} is below the smallest memory limit the engine accepts (6MiB); raise it`,
        locate(scope.doc, path),
        path,
      ),
    );
  }
}

function warnNumberPrecision(map: object, path: Path, scope: PipelineScope): void {
  const visit = (value: unknown, at: Path): void => {
    if (Array.isArray(value)) value.forEach((v, i) => visit(v, [...at, i]));
    else if (value !== null && typeof value === 'object')
      for (const [k, v] of Object.entries(value)) visit(v, [...at, k]);
    else if (typeof value === 'number') {
      const written = scope.doc.locate(at)?.numberSource;
      if (written !== undefined && written !== String(value)) {
        scope.diagnostics.push(
          scope.source.diagnostic(
            'number-precision',
            `${written} is read as the number ${String(value)}; quote it ("${written}") to keep it as written`,
            scope.doc.locate(at)?.value,
            at,
            'warning',
          ),
        );
      }
    }
  };
  visit(map, path);
}
