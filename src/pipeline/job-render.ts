import {
  parseTemplate,
  renderTemplate,
  evaluate,
  truthy,
  usesStatus,
  type Expr,
  type ExpressionValues,
  type Value,
} from './expressions.ts';
import { matchPatterns } from './glob.ts';
import type { CheckedJob, PipelineScope } from './job.ts';
import { formatLabelExpression, parseLabelExpression } from './labels.ts';
import { variantName, type MatrixCombination } from './matrix.ts';
import {
  DEFAULT_JOB_TIMEOUT_MS,
  DEFAULT_PIDS,
  FAILURE_CLASSES,
  WORKSPACE_PATH,
  type BuildContext,
  type FailureClass,
  type PlanCache,
  type PlanJob,
  type PlanReadiness,
  type PlanResources,
  type PlanRetry,
  type PlanStep,
  type StatusCondition,
} from './plan.ts';
import type { RawJob, RawRetry, RawStep, RawWhen } from './schema.ts';
import { formatPath, type Path } from './path.ts';
import { locate } from './schema-issues.ts';
import { resolvePosix, shellCommand, splitWords } from './shell-words.ts';
import {
  layerTrust,
  renderScript,
  type RenderedScript,
  type Trust,
  type UntrustedUse,
} from './untrusted.ts';
import { parseDuration, parseSize } from './units.ts';

const DEFAULT_READY_TIMEOUT_MS = 60_000;
const DEFAULT_READY_INTERVAL_MS = 1000;
const DEFAULT_CHECKOUT_DEPTH = 1;

/** The `build.*` values that expressions read. */
export function buildValues(context: BuildContext): Record<string, Value> {
  return {
    branch: context.branch,
    tag: context.tag,
    sha: context.sha,
    short_sha: context.sha.slice(0, 8),
    event: context.event,
    number: context.number,
    pr: context.pr,
    pr_target_branch: context.prTargetBranch ?? null,
    pr_head_branch: context.prHeadBranch ?? null,
    pr_head_repo: context.prHeadRepo ?? null,
    ref:
      context.ref ??
      (context.tag
        ? `refs/tags/${context.tag}`
        : context.branch
          ? `refs/heads/${context.branch}`
          : null),
    repo: context.repo,
  };
}

/** Why a static `when:` excludes this build, or null when it does not. */
export function whenSkipReason(when: RawWhen | undefined, context: BuildContext): string | null {
  if (!when) return null;
  const list = (v: string | string[]): string[] => (typeof v === 'string' ? [v] : v);
  if (when.event !== undefined && !list(when.event).includes(context.event))
    return `when.event is ${list(when.event).join(', ')}, and this build's event is ${context.event}`;
  if (
    when.branch !== undefined &&
    (context.branch === null || !matchPatterns(list(when.branch), context.branch))
  )
    return `when.branch ${list(when.branch).join(', ')} does not match ${context.branch === null ? '(no branch)' : `branch ${context.branch}`}`;
  if (
    when.tag !== undefined &&
    (context.tag === null || !matchPatterns(list(when.tag), context.tag))
  )
    return `when.tag ${list(when.tag).join(', ')} does not match ${context.tag === null ? '(no tag)' : `tag ${context.tag}`}`;
  return null;
}

/** Renders one checked job into its plan variants (needs are resolved by the caller). */
export function renderJob(checked: CheckedJob, scope: PipelineScope): PlanJob[] {
  const combinations: MatrixCombination[] = checked.matrix ? checked.matrix.combinations : [{}];
  const order = checked.matrix?.names ?? [];
  return combinations.map((combination) => renderVariant(checked, combination, order, scope));
}

function renderVariant(
  checked: CheckedJob,
  combination: MatrixCombination,
  order: string[],
  scope: PipelineScope,
): PlanJob {
  const { raw, name } = checked;
  const defaults = scope.defaults;
  const values = (env: Record<string, string>): ExpressionValues => ({
    matrix: combination,
    env,
    inputs: scope.context.inputs,
    build: buildValues(scope.context),
  });
  const render = (text: string, v: ExpressionValues): string =>
    renderTemplate(parseTemplate(text), v);
  const renderEnv = (
    env: Record<string, string | number | boolean> | undefined,
    v: ExpressionValues,
  ): Record<string, string> =>
    Object.fromEntries(
      Object.entries(env ?? {}).map(([k, value]) => [
        k,
        typeof value === 'string' ? render(value, v) : String(value),
      ]),
    );

  const ownEnv = renderEnv(raw.env, values(scope.env));
  const jobEnv = { ...scope.env, ...ownEnv };
  const v = values(jobEnv);
  const workingDir = resolvePosix(
    WORKSPACE_PATH,
    render(raw.working_dir ?? defaults?.working_dir ?? '.', v),
  );
  const shell = raw.shell ?? defaults?.shell;
  const labels = raw.labels ?? defaults?.labels;

  // Every job checks the commit out first, unless it places a checkout step itself or
  // says `checkout: false`: a job that forgets it would pass on an empty workspace.
  const jobTrust = layerTrust(scope.trust, raw.env);
  const implicit = raw.checkout !== false && !raw.steps.some(isCheckoutStep);
  const offset = implicit ? 1 : 0;
  const steps = [
    ...(implicit ? [implicitCheckout(workingDir, shell)] : []),
    ...raw.steps.map((step, i) =>
      renderStep(step, i + offset, checked.conditions[i] ?? true, {
        jobEnv,
        workingDir,
        shell,
        values,
        render,
        renderEnv,
        context: scope.context,
        trust: jobTrust,
        script: (text, v, trust, stepShell, at) => {
          const rendered = renderScript(text, v, trust, stepShell);
          for (const use of rendered.unsafe)
            reportUnsafe(scope, use, ['jobs', name, 'steps', i, ...at]);
          return rendered;
        },
      }),
    ),
  ];

  return {
    id: variantName(name, combination, order),
    job: name,
    matrix: { ...combination },
    stage: 0,
    needs: [],
    when: raw.when?.status ?? 'success',
    skip: whenSkipReason(raw.when, scope.context),
    image: render(raw.image ?? defaults?.image ?? '', v),
    env: jobEnv,
    secrets: raw.secrets ?? [],
    workingDir,
    shell: shellCommand(shell),
    user: raw.user === undefined ? null : render(raw.user, v),
    network: raw.network ?? defaults?.network ?? 'isolated',
    timeoutMs: durationOr(raw.timeout ?? defaults?.timeout, DEFAULT_JOB_TIMEOUT_MS),
    retry: normalizeRetry(raw.retry ?? defaults?.retry),
    resources: normalizeResources(raw, defaults?.resources),
    labels: normalizeLabels(labels),
    allowFailure: raw.allow_failure ?? false,
    services: Object.entries(raw.services ?? {}).map(([serviceName, service]) => ({
      name: serviceName,
      image: render(service.image, v),
      env: renderEnv(service.env, v),
      command: renderCommand(service.command, (t) => render(t, v)),
      entrypoint: renderCommand(service.entrypoint, (t) => render(t, v)),
      ready: normalizeReady(service.ready, (t) => render(t, v)),
    })),
    containers: Object.entries(raw.containers ?? {}).map(([containerName, container]) => ({
      name: containerName,
      image: render(container.image, v),
      env: renderEnv(container.env, v),
      user: container.user === undefined ? null : render(container.user, v),
    })),
    artifacts: raw.artifacts
      ? Array.isArray(raw.artifacts)
        ? { paths: raw.artifacts.map((p) => render(p, v)), when: 'on_success' }
        : {
            paths: raw.artifacts.paths.map((p) => render(p, v)),
            when: raw.artifacts.when ?? 'on_success',
          }
      : null,
    caches: (raw.cache === undefined ? [] : Array.isArray(raw.cache) ? raw.cache : [raw.cache]).map(
      (cache): PlanCache => ({
        key: render(cache.key, v),
        paths: cache.paths.map((p) => render(p, v)),
        policy: cache.policy ?? 'pull-push',
      }),
    ),
    steps,
  };
}

interface StepRenderContext {
  jobEnv: Record<string, string>;
  workingDir: string;
  shell: string | undefined;
  values: (env: Record<string, string>) => ExpressionValues;
  render: (text: string, v: ExpressionValues) => string;
  renderEnv: (
    env: Record<string, string | number | boolean> | undefined,
    v: ExpressionValues,
  ) => Record<string, string>;
  context: BuildContext;
  /** Which env names and inputs of the job hold untrusted values. */
  trust: Trust;
  /** Renders a script, untrusted values passed by reference; `at` is the path in the step. */
  script: (
    text: string,
    v: ExpressionValues,
    trust: Trust,
    shell: readonly string[],
    at: Path,
  ) => RenderedScript;
}

/**
 * Reports an untrusted value the check did not see (a trusted value with quote characters
 * moved it into a context where it cannot be passed); the plan is not made.
 */
function reportUnsafe(scope: PipelineScope, use: UntrustedUse, path: Path): void {
  scope.diagnostics.push(
    scope.source.diagnostic(
      'untrusted-expression-unsafe',
      `${formatPath(path)}: ${use.part.raw} comes from outside the pipeline, and ${use.unsafe ?? ''}; set it under the step's env: and read it from the environment instead`,
      locate(scope.doc, path),
      path,
    ),
  );
}

/** True for `- checkout` and a step mapping with `checkout:` set. */
export function isCheckoutStep(step: string | RawStep): boolean {
  return typeof step === 'string'
    ? step.trim() === 'checkout'
    : step.checkout !== undefined && step.checkout !== false;
}

/** The checkout a job gets when it does not place one itself: `- checkout` as step 1. */
function implicitCheckout(workingDir: string, shell: string | undefined): PlanStep {
  return {
    index: 0,
    env: {},
    workingDir,
    timeoutMs: null,
    allowFailure: false,
    target: { kind: 'primary' },
    when: 'success',
    if: null,
    skip: null,
    shell: shellCommand(shell),
    name: 'checkout',
    kind: 'checkout',
    run: null,
    checkout: { depth: DEFAULT_CHECKOUT_DEPTH, submodules: false, path: '' },
  };
}

function renderStep(
  step: string | RawStep,
  index: number,
  condition: Expr | boolean,
  r: StepRenderContext,
): PlanStep {
  const jobValues = r.values(r.jobEnv);
  const base = {
    index,
    env: {},
    workingDir: r.workingDir,
    timeoutMs: null,
    allowFailure: false,
    target: { kind: 'primary' } as const,
    when: 'success' as StatusCondition,
    if: null,
    skip: null,
    shell: shellCommand(r.shell),
  };
  if (typeof step === 'string') {
    if (step.trim() === 'checkout') {
      return {
        ...base,
        name: 'checkout',
        kind: 'checkout',
        run: null,
        checkout: { depth: DEFAULT_CHECKOUT_DEPTH, submodules: false, path: '' },
      };
    }
    const { script: run, display, env } = r.script(step, jobValues, r.trust, base.shell, []);
    return { ...base, env, name: stepName(display), kind: 'run', run, checkout: null };
  }
  const ownEnv = r.renderEnv(step.env, jobValues);
  const v = r.values({ ...r.jobEnv, ...ownEnv });
  const stepShell = shellCommand(step.shell ?? r.shell);
  const script =
    step.run === undefined
      ? null
      : r.script(step.run, v, layerTrust(r.trust, step.env), stepShell, ['run']);
  const run = script?.script ?? null;
  // The generated variables come last: the script refers to them by these names.
  const env = { ...ownEnv, ...script?.env };
  const checkout =
    step.checkout === undefined || step.checkout === false
      ? null
      : {
          depth:
            step.checkout === true
              ? DEFAULT_CHECKOUT_DEPTH
              : (step.checkout.depth ?? DEFAULT_CHECKOUT_DEPTH),
          submodules: step.checkout === true ? false : (step.checkout.submodules ?? false),
          path: step.checkout === true ? '' : (step.checkout.path ?? ''),
        };
  let when: StatusCondition = step.when?.status ?? 'success';
  let skip = whenSkipReason(step.when, r.context);
  let deferredIf: string | null = null;
  if (condition === false) skip ??= 'if: false';
  else if (condition !== true) {
    if (usesStatus(condition)) {
      // The condition decides on its own, with the statuses known while running.
      deferredIf = unwrapCondition(String(step.if));
      when = 'always';
    } else if (!truthy(evaluate(condition, v))) {
      skip ??= `if: ${unwrapCondition(String(step.if))} is false`;
    }
  }
  return {
    ...base,
    name:
      step.name !== undefined
        ? r.render(step.name, v)
        : checkout
          ? 'checkout'
          : stepName(script?.display ?? ''),
    kind: checkout ? 'checkout' : 'run',
    run,
    checkout,
    env,
    workingDir: resolvePosix(
      r.workingDir,
      step.working_dir === undefined ? '.' : r.render(step.working_dir, v),
    ),
    timeoutMs: step.timeout === undefined ? null : durationOr(step.timeout, 0),
    allowFailure: step.allow_failure ?? false,
    target:
      step.image !== undefined
        ? { kind: 'image', image: r.render(step.image, v) }
        : step.container !== undefined
          ? { kind: 'container', name: step.container }
          : { kind: 'primary' },
    when,
    if: deferredIf,
    skip,
    shell: stepShell,
  };
}

/** The text of an `if:` without its `${{ }}` wrapper. */
function unwrapCondition(text: string): string {
  const trimmed = text.trim();
  const match = /^\$\{\{([\s\S]*)\}\}$/.exec(trimmed);
  return (match?.[1] ?? trimmed).trim();
}

/** A readable default step name: the first line of the script, shortened. */
function stepName(run: string): string {
  const line =
    run
      .split('\n')
      .find((l) => l.trim() !== '')
      ?.trim() ?? 'run';
  return line.length > 60 ? `${line.slice(0, 57)}...` : line;
}

function durationOr(value: string | number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = parseDuration(value);
  return parsed.ok ? parsed.value : fallback;
}

/** `retry: N` or `{ max }` without `on` retries every failure class except cancel. */
export function normalizeRetry(retry: RawRetry | undefined): PlanRetry {
  if (retry === undefined) return { max: 0, on: [...FAILURE_CLASSES] };
  if (typeof retry === 'number') return { max: retry, on: [...FAILURE_CLASSES] };
  const on: FailureClass[] =
    retry.on === undefined
      ? [...FAILURE_CLASSES]
      : typeof retry.on === 'string'
        ? [retry.on]
        : [...new Set(retry.on)];
  return { max: retry.max, on };
}

function normalizeResources(raw: RawJob, defaults: RawJob['resources']): PlanResources {
  const merged = { ...defaults, ...raw.resources };
  const memory = merged.memory === undefined ? undefined : parseSize(merged.memory);
  return {
    cpus: merged.cpus ?? null,
    memoryBytes: memory?.ok ? memory.value : null,
    pids: merged.pids ?? DEFAULT_PIDS,
  };
}

function normalizeLabels(labels: string | string[] | undefined): string {
  if (labels === undefined) return '';
  const text = typeof labels === 'string' ? labels : labels.join(' && ');
  const parsed = parseLabelExpression(text);
  return parsed.ok ? formatLabelExpression(parsed.expr) : text;
}

function renderCommand(
  command: string | string[] | undefined,
  render: (text: string) => string,
): string[] | null {
  if (command === undefined) return null;
  return typeof command === 'string' ? splitWords(render(command)) : command.map(render);
}

function normalizeReady(
  ready:
    | {
        tcp?: number | undefined;
        command?: string | undefined;
        timeout?: string | number | undefined;
        interval?: string | number | undefined;
      }
    | undefined,
  render: (text: string) => string,
): PlanReadiness {
  if (!ready || (ready.tcp === undefined && ready.command === undefined)) return { kind: 'none' };
  const timeoutMs = durationOr(ready.timeout, DEFAULT_READY_TIMEOUT_MS);
  const intervalMs = durationOr(ready.interval, DEFAULT_READY_INTERVAL_MS);
  if (ready.tcp !== undefined) return { kind: 'tcp', port: ready.tcp, timeoutMs, intervalMs };
  return { kind: 'command', command: render(ready.command ?? ''), timeoutMs, intervalMs };
}
