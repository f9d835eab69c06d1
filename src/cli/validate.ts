import type { Command } from 'commander';
import { hasErrors } from '../pipeline/diagnostics.ts';
import { formatDiagnostics } from '../pipeline/format.ts';
import type { Plan } from '../pipeline/plan.ts';
import { gitContext } from './git-context.ts';
import { collect, contextFromOptions, type ContextOptions } from './options.ts';
import { table, type Output } from './output.ts';
import { readPipelineFile } from './pipeline-file.ts';

interface ValidateOptions extends ContextOptions {
  plan?: boolean;
  format: 'text' | 'json';
}

/** `slipway validate [FILE]`: exit 0 with a summary when valid, 1 with diagnostics when not. */
export function registerValidate(
  program: Command,
  output: Output,
  setExit: (code: number) => void,
): void {
  program
    .command('validate')
    .description('Check a pipeline file and show every problem, or a summary of its plan')
    .argument('[file]', 'pipeline file, or a directory holding .slipway.yml', '.slipway.yml')
    .option('--plan', 'print the plan (the job DAG with every default filled in) as JSON')
    .option('--format <format>', 'text or json (for tools)', 'text')
    .option(
      '--event <event>',
      'plan for this event: push, tag, pull_request, schedule, manual, api',
    )
    .option(
      '--branch <branch>',
      'plan for this branch (default: the current git branch, else main)',
    )
    .option('--tag <tag>', 'plan for this tag (sets the event to tag)')
    .option('--sha <sha>', 'plan for this commit')
    .option('--input <name=value>', 'a manual input (repeatable)', collect)
    .addHelpText(
      'after',
      '\nExit status: 0 valid, 1 invalid, 2 could not run (for example, no such file).',
    )
    .action(async (target: string, options: ValidateOptions) => {
      if (options.format !== 'text' && options.format !== 'json') {
        output.err(`--format ${String(options.format)} is not supported; use text or json`);
        setExit(2);
        return;
      }
      const file = await readPipelineFile(target);
      // git answers in processes of its own while the compiler loads here.
      const facts = gitContext(file.dir);
      const { compile } = await import('../pipeline/compile.ts');
      const context = contextFromOptions(options, await facts);
      const result = compile(file.text, { file: file.displayName, context, jitless: true });
      const failed = hasErrors(result.diagnostics);
      if (options.format === 'json') {
        output.out(
          JSON.stringify(
            {
              file: file.displayName,
              valid: !failed,
              diagnostics: result.diagnostics,
              ...(result.plan ? { summary: summarize(result.plan) } : {}),
              ...(options.plan && result.plan ? { plan: result.plan } : {}),
            },
            null,
            2,
          ),
        );
      } else {
        if (result.diagnostics.length > 0)
          output.err(formatDiagnostics(result.diagnostics, file.text, { color: output.color }));
        if (result.plan && options.plan) output.out(JSON.stringify(result.plan, null, 2));
        else if (result.plan) output.out(describePlan(result.plan));
      }
      setExit(failed ? 1 : 0);
    });
}

interface PlanSummary {
  jobs: number;
  variants: number;
  stages: number;
  skipped: number;
  triggered: boolean;
}

function summarize(plan: Plan): PlanSummary {
  return {
    jobs: new Set(plan.jobs.map((j) => j.job)).size,
    variants: plan.jobs.length,
    stages: plan.jobs.reduce((max, j) => Math.max(max, j.stage + 1), 0),
    skipped: plan.jobs.filter((j) => j.skip !== null).length,
    triggered: plan.triggered,
  };
}

function describeEvent(plan: Plan): string {
  const c = plan.context;
  if (c.event === 'tag') return `tag ${c.tag ?? '?'}`;
  if (c.event === 'pull_request') return `pull request into ${c.branch ?? '?'}`;
  return `${c.event} on ${c.branch ?? '(no branch)'}`;
}

/** `test (2 variants)` when a job needs every variant of a matrix job. */
function describeNeeds(plan: Plan, needs: readonly string[]): string {
  const parts: string[] = [];
  const done = new Set<string>();
  for (const id of needs) {
    const job = plan.jobs.find((j) => j.id === id)?.job ?? id;
    const variants = plan.jobs.filter((j) => j.job === job).map((j) => j.id);
    if (variants.length > 1 && variants.every((v) => needs.includes(v))) {
      if (!done.has(job)) parts.push(`${job} (${variants.length} variants)`);
      done.add(job);
    } else parts.push(id);
  }
  return parts.join(', ');
}

/** The short human summary printed by a successful `slipway validate`. */
export function describePlan(plan: Plan): string {
  const s = summarize(plan);
  const head =
    `${plan.file} is valid: ${s.jobs} job${s.jobs === 1 ? '' : 's'}, ${s.variants} to run after matrix expansion, ` +
    `in ${s.stages} stage${s.stages === 1 ? '' : 's'} (planned for ${describeEvent(plan)}).`;
  const rows = plan.jobs.map((job) => [
    job.skip === null ? `stage ${job.stage}` : 'skipped',
    job.id,
    job.image,
    job.skip ?? (job.needs.length > 0 ? `needs ${describeNeeds(plan, job.needs)}` : ''),
  ]);
  const lines = [head, '', table(rows)];
  if (!plan.triggered)
    lines.push(
      '',
      `Note: on: does not include ${describeEvent(plan)}, so such a build would not start.`,
    );
  return lines.join('\n');
}
