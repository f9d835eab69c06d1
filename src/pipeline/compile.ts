import { findCycles, stages } from './dag.ts';
import { hasErrors, sortDiagnostics, type Diagnostic } from './diagnostics.ts';
import { closest, parseTemplate, renderTemplate, type ExpressionScope } from './expressions.ts';
import { checkJob, checkMemory, type CheckedJob, type PipelineScope } from './job.ts';
import { buildValues, renderJob } from './job-render.ts';
import type { Path } from './path.ts';
import {
  DEFAULT_PIPELINE_FILE,
  PLAN_VERSION,
  type BuildContext,
  type Plan,
  type PlanJob,
} from './plan.ts';
import { JobSchema, PipelineShellSchema, type RawPipeline } from './schema.ts';
import { locate, schemaDiagnostics } from './schema-issues.ts';
import { SourceFile } from './source.ts';
import { TemplateChecker } from './templates.ts';
import { layerTrust } from './untrusted.ts';
import {
  isTriggered,
  normalizeTriggers,
  resolveInputs,
  type InputProblem,
  type TriggerProblem,
} from './triggers.ts';
import { DEFAULT_YAML_LIMITS, loadYaml, type YamlLimits } from './yaml-loader.ts';

/** Inputs to a compile. Everything the compiler knows about the world comes from here. */
export interface CompileOptions {
  /** The file name to show in diagnostics (default `.slipway.yml`). */
  file?: string;
  /** The build being planned; missing fields get neutral defaults (a push to main). */
  context?: Partial<BuildContext>;
  limits?: Partial<YamlLimits>;
  /** Most variants one matrix may expand to (default 256). */
  maxVariants?: number;
  /**
   * Check the structure without zod's generated fast paths. For a process that compiles
   * one pipeline and exits (the CLI): generating and compiling them costs more than they
   * save on a single parse. Same results either way.
   */
  jitless?: boolean;
}

export interface CompileResult {
  /** Every problem found, sorted by position. */
  diagnostics: Diagnostic[];
  /** The plan, when there are no errors (warnings allowed). */
  plan: Plan | null;
}

export { DEFAULT_PIPELINE_FILE };
const ZERO_SHA = '0000000000000000000000000000000000000000';

/** The context used when planning outside a real build: a push to `main`. */
export function defaultContext(partial: Partial<BuildContext> = {}): BuildContext {
  return {
    event: partial.event ?? 'push',
    branch:
      partial.branch === undefined ? (partial.event === 'tag' ? null : 'main') : partial.branch,
    tag: partial.tag ?? null,
    sha: partial.sha ?? ZERO_SHA,
    pr: partial.pr ?? null,
    number: partial.number ?? 0,
    repo: partial.repo ?? '',
    inputs: partial.inputs ?? {},
    // Pull request facts only when given, so plans of other events stay as they were.
    ...(partial.prTargetBranch != null ? { prTargetBranch: partial.prTargetBranch } : {}),
    ...(partial.prHeadBranch != null ? { prHeadBranch: partial.prHeadBranch } : {}),
    ...(partial.prHeadRepo != null ? { prHeadRepo: partial.prHeadRepo } : {}),
    ...(partial.ref != null ? { ref: partial.ref } : {}),
  };
}

/**
 * Compiles `.slipway.yml` text into diagnostics and, when it is valid, a plan.
 * Pure: no I/O, no clock, no environment. Never throws on any input.
 */
export function compile(text: string, options: CompileOptions = {}): CompileResult {
  const source = new SourceFile(options.file ?? DEFAULT_PIPELINE_FILE, text);
  const diagnostics: Diagnostic[] = [];
  const plan = compileInto(source, diagnostics, options);
  sortDiagnostics(diagnostics);
  return { diagnostics, plan: hasErrors(diagnostics) ? null : plan };
}

function compileInto(
  source: SourceFile,
  diagnostics: Diagnostic[],
  options: CompileOptions,
): Plan | null {
  const doc = loadYaml(source, diagnostics, { ...DEFAULT_YAML_LIMITS, ...options.limits });
  if (!doc) return null;
  // Top-level `x-*` keys are extension fields (a place to keep anchors), ignored like in Compose.
  const top = Object.fromEntries(
    Object.entries(doc.value as Record<string, unknown>).filter(([key]) => !key.startsWith('x-')),
  );

  const parse = { jitless: options.jitless === true };
  const shell = PipelineShellSchema.safeParse(top, parse);
  if (!shell.success)
    diagnostics.push(
      ...schemaDiagnostics(shell.error.issues, PipelineShellSchema, top, [], doc, source),
    );
  // Take every top-level piece that is valid on its own, so one mistake hides nothing else.
  const part = <K extends keyof RawPipeline>(key: K): RawPipeline[K] | undefined => {
    if (shell.success) return shell.data[key];
    const schema = PipelineShellSchema.shape[key];
    const parsed = schema.safeParse(top[key], parse);
    if (parsed.success) return parsed.data as RawPipeline[K];
    const pruned = schema.safeParse(prune(top[key], parsed.error.issues), parse);
    return pruned.success ? (pruned.data as RawPipeline[K]) : undefined;
  };
  const on = part('on');
  const defaults = part('defaults');
  const rawEnv = part('env');
  const rawJobs =
    top.jobs !== null && typeof top.jobs === 'object' && !Array.isArray(top.jobs)
      ? (top.jobs as Record<string, unknown>)
      : undefined;
  if (rawJobs && Object.keys(rawJobs).length === 0) {
    diagnostics.push(
      source.diagnostic(
        'invalid-value',
        'jobs is empty; define at least one job',
        locate(doc, ['jobs'], true),
        ['jobs'],
      ),
    );
  }

  const triggerProblems: TriggerProblem[] = [];
  const triggers = normalizeTriggers(on, triggerProblems);
  for (const problem of triggerProblems) {
    const path: Path = ['on', ...problem.path];
    diagnostics.push(
      source.diagnostic(problem.code, `${problem.message}`, locate(doc, path), path),
    );
  }

  const partial = options.context ?? {};
  const inputProblems: InputProblem[] = [];
  const declaredInputs = triggers.manual?.inputs ?? {};
  const inputs = resolveInputs(declaredInputs, partial.inputs ?? {}, inputProblems);
  const isManual = partial.event === 'manual' || partial.event === 'api';
  for (const problem of inputProblems) {
    // Only a manual build has to give values for required inputs.
    if (!isManual && problem.kind === 'missing') continue;
    const path: Path = ['on', 'manual', 'inputs'];
    diagnostics.push(
      source.diagnostic('invalid-input', problem.message, locate(doc, path, true), path),
    );
  }
  const context = defaultContext({ ...partial, inputs });

  const templates = new TemplateChecker(source, doc, diagnostics);
  const inputNames = new Set(Object.keys(declaredInputs));
  const env = renderPipelineEnv(rawEnv, templates, inputNames, context);
  if (defaults?.image !== undefined)
    templates.check(defaults.image, ['defaults', 'image'], {
      env: new Set(Object.keys(env)),
      inputs: inputNames,
    });
  const scope: PipelineScope = {
    source,
    doc,
    diagnostics,
    templates,
    defaults,
    env,
    inputNames,
    // String inputs are typed by whoever starts the build; the other types are checked.
    trust: layerTrust(
      {
        env: new Set(),
        inputs: new Set(
          Object.entries(declaredInputs)
            .filter(([, input]) => input.type === 'string')
            .map(([name]) => name),
        ),
      },
      rawEnv,
    ),
    context,
    maxVariants: options.maxVariants ?? 256,
  };
  checkMemory(defaults?.resources?.memory, ['defaults', 'resources', 'memory'], scope);

  const checked: CheckedJob[] = [];
  for (const [name, rawJob] of Object.entries(rawJobs ?? {})) {
    const parsed = JobSchema.safeParse(rawJob, parse);
    if (parsed.success) {
      checked.push(checkJob(name, parsed.data, scope));
      continue;
    }
    diagnostics.push(
      ...schemaDiagnostics(parsed.error.issues, JobSchema, rawJob, ['jobs', name], doc, source),
    );
    // Check what is left without the broken keys, so their neighbours' problems show too.
    const broken = new Set(parsed.error.issues.map((i) => String(i.path[0] ?? '')));
    const pruned = JobSchema.safeParse(
      prune(rawJob, parsed.error.issues, Object.keys(JobSchema.shape)),
      parse,
    );
    if (pruned.success) checked.push({ ...checkJob(name, pruned.data, scope, broken), ok: false });
  }

  const jobs = checked.filter((c) => c.ok).flatMap((c) => renderJob(c, scope));
  const names = Object.keys(rawJobs ?? {});
  checkDuplicates(jobs, scope);
  resolveNeeds(checked, jobs, names, scope);
  if (hasErrors(diagnostics)) return null;

  const edges = new Map(jobs.map((j) => [j.id, j.needs]));
  const stageOf = stages(
    jobs.map((j) => j.id),
    edges,
  );
  const order = new Map(jobs.map((j, i) => [j.id, i]));
  for (const job of jobs) job.stage = stageOf.get(job.id) ?? 0;
  jobs.sort((a, b) => a.stage - b.stage || order.get(a.id)! - order.get(b.id)!);

  return {
    version: PLAN_VERSION,
    file: source.name,
    name: part('name') ?? '',
    context,
    triggered: isTriggered(triggers, context),
    triggers,
    jobs,
  };
}

/**
 * A copy of a job without the parts that failed the schema: broken steps become no-op
 * placeholders (so step numbers stay right), other broken keys are dropped.
 */
function prune(
  rawJob: unknown,
  issues: readonly { path: PropertyKey[]; code: string; keys?: string[] }[],
  knownKeys: readonly string[] = [],
): unknown {
  if (rawJob === null || typeof rawJob !== 'object' || Array.isArray(rawJob)) return rawJob;
  const job: Record<string, unknown> = { ...(rawJob as Record<string, unknown>) };
  if (Array.isArray(job.steps)) job.steps = [...(job.steps as unknown[])];
  for (const issue of issues) {
    const [key, index] = issue.path;
    if (key === undefined) {
      for (const unknown of issue.keys ?? []) {
        // Read a typo as the key it is closest to (`imgae` as `image`), as a compiler
        // recovers, so the rest of the job is checked as the user meant it.
        const meant = closest(unknown, knownKeys);
        if (meant !== undefined && !(meant in job)) job[meant] = job[unknown];
        delete job[unknown];
      }
    } else if (key === 'steps' && typeof index === 'number' && Array.isArray(job.steps)) {
      (job.steps as unknown[])[index] = ':';
    } else if (key === 'steps') {
      job.steps = [':'];
    } else {
      delete job[String(key)];
    }
  }
  return job;
}

function renderPipelineEnv(
  rawEnv: RawPipeline['env'],
  templates: TemplateChecker,
  inputNames: ReadonlySet<string>,
  context: BuildContext,
): Record<string, string> {
  const scope: ExpressionScope = { env: new Set(), inputs: inputNames, envAllowed: false };
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(rawEnv ?? {})) {
    if (typeof value !== 'string') {
      env[key] = String(value);
      continue;
    }
    const ok = templates.check(value, ['env', key], scope);
    env[key] = ok
      ? renderTemplate(parseTemplate(value), {
          matrix: {},
          env: {},
          inputs: context.inputs,
          build: buildValues(context),
        })
      : value;
  }
  return env;
}

function checkDuplicates(jobs: PlanJob[], scope: PipelineScope): void {
  const seen = new Map<string, PlanJob>();
  for (const job of jobs) {
    const first = seen.get(job.id);
    if (!first) {
      seen.set(job.id, job);
      continue;
    }
    const path: Path = ['jobs', job.job, ...(job.job === first.job ? ['matrix'] : [])];
    const why =
      job.job === first.job
        ? `the matrix of job "${job.job}" produces "${job.id}" twice; remove the repeated value or include entry`
        : `job "${job.job}" produces the name "${job.id}", which job "${first.job}" already has; rename one of them`;
    scope.diagnostics.push(
      scope.source.diagnostic('duplicate-job', why, locate(scope.doc, path, true), path),
    );
  }
}

/** Resolves `needs` to variant ids, and reports unknown targets and cycles. */
function resolveNeeds(
  checked: CheckedJob[],
  jobs: PlanJob[],
  names: string[],
  scope: PipelineScope,
): void {
  const variantsOf = new Map<string, string[]>();
  for (const job of jobs) variantsOf.set(job.job, [...(variantsOf.get(job.job) ?? []), job.id]);
  const ids = new Set(jobs.map((j) => j.id));
  const baseOf = new Map(jobs.map((j) => [j.id, j.job]));
  const baseEdges = new Map<string, string[]>();
  const resolved = new Map<string, string[]>();

  for (const job of checked) {
    const targets: string[] = [];
    const bases: string[] = [];
    job.needs.forEach((need, i) => {
      const path: Path = [
        'jobs',
        job.name,
        'needs',
        ...(typeof job.raw.needs === 'string' ? [] : [i]),
      ];
      const at = locate(scope.doc, path);
      if (need === job.name || variantsOf.get(job.name)?.includes(need)) {
        scope.diagnostics.push(
          scope.source.diagnostic(
            'self-need',
            `job "${job.name}" lists itself in needs; remove "${need}"`,
            at,
            path,
          ),
        );
        return;
      }
      if (names.includes(need)) {
        targets.push(...(variantsOf.get(need) ?? []));
        bases.push(need);
      } else if (ids.has(need)) {
        targets.push(need);
        bases.push(baseOf.get(need)!);
      } else if (!need.includes('${{')) {
        const guess = closest(need, [...names, ...ids]);
        scope.diagnostics.push(
          scope.source.diagnostic(
            'unknown-need',
            `job "${job.name}" needs "${need}", which is not a job` +
              (guess ? `; did you mean "${guess}"?` : `; jobs are ${names.join(', ')}`),
            at,
            path,
          ),
        );
      }
    });
    baseEdges.set(job.name, [...new Set(bases)]);
    resolved.set(job.name, [...new Set(targets)]);
  }
  for (const job of jobs) job.needs = resolved.get(job.job) ?? [];

  for (const cycle of findCycles(
    checked.map((c) => c.name),
    baseEdges,
  )) {
    const first = cycle[0]!;
    const path: Path = ['jobs', first, 'needs'];
    scope.diagnostics.push(
      scope.source.diagnostic(
        'needs-cycle',
        `jobs need each other in a cycle: ${[...cycle, first].join(' → ')}; none of them could start. Remove one of these needs`,
        locate(scope.doc, path, true),
        path,
      ),
    );
  }
}
