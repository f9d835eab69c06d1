import * as z from 'zod';
import { parseDuration, parseSize } from './units.ts';
import { checkPattern } from './glob.ts';
import { parseLabelExpression } from './labels.ts';

/**
 * The `.slipway.yml` format v1 as a zod schema: the single source for validation and
 * for the JSON Schema published to editors (`slipway schema`). Structure is checked
 * here; meaning (needs, matrix, expressions) is checked by the compiler afterwards.
 *
 * Descriptions for the JSON Schema are attached with `.register(z.globalRegistry, …)`,
 * not `.meta(…)`: `.meta` clones the schema to attach them, and these schemas are built at
 * import by every `slipway validate`, where the clones cost start-up time and validation
 * never reads the metadata. Each one is registered on a schema made for it alone, so the
 * published schema is the same (`npm run schema` writes it byte for byte as before).
 */

/** Attaches a stable diagnostic code (and optionally a column inside the value) to a custom issue. */
function issue(ctx: z.RefinementCtx, code: string, message: string, offset?: number): void {
  ctx.addIssue({
    code: 'custom',
    message,
    params: { diag: code, ...(offset === undefined ? {} : { offset }) },
  });
}

const Scalar = z.union([z.string(), z.number(), z.boolean()]);

const Duration = z
  .union([z.string(), z.number()])
  .superRefine((value, ctx) => {
    const parsed = parseDuration(value);
    if (!parsed.ok) issue(ctx, 'invalid-duration', parsed.reason);
  })
  .register(z.globalRegistry, {
    description: 'A duration with a unit: 90s, 10m, 1h30m (units ms, s, m, h, d).',
    examples: ['10m'],
  });

const Size = z
  .union([z.string(), z.number()])
  .superRefine((value, ctx) => {
    const parsed = parseSize(value);
    if (!parsed.ok) issue(ctx, 'invalid-size', parsed.reason);
  })
  .register(z.globalRegistry, {
    description: 'A size with a unit: 512MiB, 2GiB (KiB/MiB/GiB binary; KB/MB/GB decimal).',
    examples: ['512MiB'],
  });

const Pattern = z.string().superRefine((value, ctx) => {
  const problem = checkPattern(value);
  if (problem) issue(ctx, 'invalid-pattern', problem);
});
const Patterns = z.union([Pattern, z.array(Pattern)]).register(z.globalRegistry, {
  description: 'A glob or list of globs (`*` within a segment, `**` across `/`, `!` to exclude).',
});

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const EnvMap = z
  .record(
    z.string().regex(ENV_NAME, {
      error: 'environment variable names use letters, digits and _ and do not start with a digit',
    }),
    Scalar,
  )
  .register(z.globalRegistry, {
    description: 'Environment variables. Values may use ${{ }} expressions.',
  });

export const JOB_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
const JobName = z.string().regex(JOB_NAME, {
  error: 'job names use letters, digits, "_", "-" and "." (at most 64 characters)',
});
const POD_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const PodMemberName = z.string().regex(POD_NAME, {
  error: 'service and container names use lower-case letters, digits and "-" (at most 63)',
});
const IDENT = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;
const InputName = z.string().regex(IDENT, {
  error: 'input names use letters, digits, "_" and "-", and start with a letter or "_"',
});

const EventName = z.enum(['push', 'tag', 'pull_request', 'schedule', 'manual', 'api']);
const StatusName = z.enum(['success', 'failure', 'always']);

const When = z
  .strictObject({
    branch: Patterns.optional(),
    tag: Patterns.optional(),
    event: z.union([EventName, z.array(EventName)]).optional(),
    status: StatusName.optional().register(z.globalRegistry, {
      description:
        'success (default): run when everything before succeeded; failure: only when something failed; always.',
    }),
  })
  .register(z.globalRegistry, { description: 'Run only when all given conditions hold.' });

const Shell = z.union([z.enum(['sh', 'bash']), z.string().min(1)]).register(z.globalRegistry, {
  description:
    'sh (default: sh -e), bash (bash -e -o pipefail), or a command line the script is appended to, like "python3 -c".',
});

const Checkout = z.strictObject({
  depth: z
    .number()
    .int()
    .min(0)
    .optional()
    .register(z.globalRegistry, { description: 'History depth; 0 = full (default 1).' }),
  submodules: z.boolean().optional(),
  path: z.string().optional().register(z.globalRegistry, {
    description: 'Directory under the workspace to check out into.',
  }),
});

export const StepSchema = z
  .strictObject({
    name: z.string().min(1).optional(),
    run: z.string().optional().register(z.globalRegistry, {
      description: 'The script; multi-line with `|`. Runs with `shell`.',
    }),
    checkout: z.union([z.boolean(), Checkout]).optional().register(z.globalRegistry, {
      description: 'The built-in checkout step: the build commit into the workspace.',
    }),
    env: EnvMap.optional(),
    timeout: Duration.optional(),
    if: z.union([z.string(), z.boolean()]).optional().register(z.globalRegistry, {
      description: 'A condition: `${{ build.branch == "main" }}`, failure(), always().',
    }),
    when: When.optional(),
    allow_failure: z.boolean().optional(),
    image: z.string().min(1).optional().register(z.globalRegistry, {
      description:
        'Run this step in another image that shares the workspace (like docker.image(x).inside).',
    }),
    container: z
      .string()
      .min(1)
      .optional()
      .register(z.globalRegistry, { description: "Run in one of the job's `containers:`." }),
    working_dir: z.string().min(1).optional(),
    shell: Shell.optional(),
  })
  .register(z.globalRegistry, {
    description: 'A step: `run:` a script or `checkout:` the commit.',
  });

const Step = z.union([z.string().min(1), StepSchema]).register(z.globalRegistry, {
  description: 'A shell command (shorthand), the word `checkout`, or a step mapping.',
});

const Resources = z.strictObject({
  cpus: z
    .number()
    .positive()
    .max(1024)
    .optional()
    .register(z.globalRegistry, { description: 'CPU cores, fractions allowed (0.5).' }),
  memory: Size.optional(),
  pids: z
    .number()
    .int()
    .min(16)
    .max(1_000_000)
    .optional()
    .register(z.globalRegistry, { description: 'Process limit (default 1024).' }),
});

const FailureClassName = z.enum(['failure', 'infra', 'timeout', 'oom_killed']);
const Retry = z
  .union([
    z.number().int().min(0).max(10),
    z.strictObject({
      max: z.number().int().min(0).max(10),
      on: z.union([FailureClassName, z.array(FailureClassName)]).optional(),
    }),
  ])
  .register(z.globalRegistry, {
    description: 'Retries: a count, or { max, on: [failure, infra, timeout, oom_killed] }.',
  });

const Labels = z
  .union([z.string(), z.array(z.string().min(1))])
  .superRefine((value, ctx) => {
    if (typeof value !== 'string') return;
    const parsed = parseLabelExpression(value);
    if (!parsed.ok)
      issue(ctx, 'invalid-label-expression', parsed.error.message, parsed.error.column);
  })
  .register(z.globalRegistry, {
    description:
      'Which agents may run the job: an expression like `linux && !arm64`, or a list (all required).',
  });

const Command = z.union([z.string().min(1), z.array(z.string())]);

const Ready = z
  .strictObject({
    tcp: z.number().int().min(1).max(65535).optional().register(z.globalRegistry, {
      description: 'Ready when this port accepts connections on localhost.',
    }),
    command: z.string().min(1).optional().register(z.globalRegistry, {
      description: 'Ready when this command exits 0 inside the service.',
    }),
    timeout: Duration.optional(),
    interval: Duration.optional(),
  })
  .register(z.globalRegistry, {
    description: 'How to tell the service is ready: `tcp: PORT` or `command:`.',
  });

const Service = z.strictObject({
  image: z.string().min(1),
  env: EnvMap.optional(),
  command: Command.optional(),
  entrypoint: Command.optional(),
  ready: Ready.optional(),
});

const Container = z.strictObject({
  image: z.string().min(1),
  env: EnvMap.optional(),
  user: z.string().min(1).optional(),
});

const ArtifactWhen = z.enum(['on_success', 'on_failure', 'always']);
const Artifacts = z
  .union([
    z.array(z.string().min(1)).min(1),
    z.strictObject({ paths: z.array(z.string().min(1)).min(1), when: ArtifactWhen.optional() }),
  ])
  .register(z.globalRegistry, {
    description: 'Files to keep after the job: globs relative to the workspace.',
  });

const CacheEntry = z.strictObject({
  key: z.string().min(1).register(z.globalRegistry, {
    description: 'Cache key template, e.g. npm-${{ hashFiles("package-lock.json") }}.',
  }),
  paths: z.array(z.string().min(1)).min(1),
  policy: z.enum(['pull-push', 'pull', 'push']).optional(),
});

const MATRIX_RESERVED = ['include', 'exclude'];
const Matrix = z
  .object({
    include: z.array(z.record(z.string(), Scalar)).optional(),
    exclude: z.array(z.record(z.string(), Scalar)).optional(),
  })
  .catchall(z.array(Scalar).min(1))
  .register(z.globalRegistry, {
    description: 'Named axes (lists of values); the job runs once per combination.',
  });

const Network = z.enum(['isolated', 'offline', 'host', 'none']).register(z.globalRegistry, {
  description:
    'isolated (default): private namespace with outside access; offline: private, no outside access; host; none.',
});

export const JobSchema = z.strictObject({
  image: z
    .string()
    .min(1)
    .optional()
    .register(z.globalRegistry, { description: 'The primary container image.' }),
  steps: z.array(Step).min(1),
  checkout: z.boolean().optional().register(z.globalRegistry, {
    description:
      'Check the commit out into the workspace before the first step (default true). A `checkout` step places it yourself; false: no checkout.',
  }),
  env: EnvMap.optional(),
  secrets: z
    .array(z.string().regex(ENV_NAME))
    .optional()
    .register(z.globalRegistry, { description: 'Secrets injected as env at run time.' }),
  needs: z.union([z.string().min(1), z.array(z.string().min(1))]).optional(),
  matrix: Matrix.optional(),
  when: When.optional(),
  timeout: Duration.optional(),
  retry: Retry.optional(),
  resources: Resources.optional(),
  labels: Labels.optional(),
  allow_failure: z.boolean().optional(),
  services: z.record(PodMemberName, Service).optional(),
  containers: z.record(PodMemberName, Container).optional(),
  artifacts: Artifacts.optional(),
  cache: z.union([CacheEntry, z.array(CacheEntry)]).optional(),
  working_dir: z.string().min(1).optional(),
  shell: Shell.optional(),
  user: z
    .string()
    .min(1)
    .optional()
    .register(z.globalRegistry, { description: 'User (name or uid[:gid]) the containers run as.' }),
  network: Network.optional(),
});

const InputType = z.enum(['string', 'number', 'boolean', 'choice']);
const Input = z.strictObject({
  type: InputType.optional(),
  description: z.string().optional(),
  required: z.boolean().optional(),
  default: Scalar.optional(),
  options: z.array(Scalar).min(1).optional(),
});

const Schedule = z.strictObject({
  cron: z
    .string()
    .min(1)
    .register(z.globalRegistry, { description: 'Five-field cron: minute hour day month weekday.' }),
  timezone: z
    .string()
    .min(1)
    .optional()
    .register(z.globalRegistry, { description: 'IANA time zone, default UTC.' }),
  branch: z.string().min(1).optional(),
});

const On = z.strictObject({
  push: z
    .union([
      z.boolean(),
      z.strictObject({ branches: Patterns.optional(), tags: Patterns.optional() }),
    ])
    .optional(),
  pull_request: z
    .union([z.boolean(), z.strictObject({ branches: Patterns.optional() })])
    .optional(),
  schedule: z.array(Schedule).optional(),
  manual: z
    .union([z.boolean(), z.strictObject({ inputs: z.record(InputName, Input).optional() })])
    .optional(),
});

const Defaults = z.strictObject({
  image: z.string().min(1).optional(),
  resources: Resources.optional(),
  timeout: Duration.optional(),
  shell: Shell.optional(),
  working_dir: z.string().min(1).optional(),
  retry: Retry.optional(),
  labels: Labels.optional(),
  network: Network.optional(),
});

/** The top level, with jobs left unchecked: each job is checked on its own so one bad job
 * does not hide the problems of the others. */
export const PipelineShellSchema = z.strictObject({
  version: z.literal(1).optional(),
  name: z.string().min(1).optional(),
  on: On.optional(),
  env: EnvMap.optional(),
  defaults: Defaults.optional(),
  jobs: z.record(JobName, z.unknown()),
});

/** The whole format, for the published JSON Schema. */
export const PipelineSchema = PipelineShellSchema.extend({
  jobs: z
    .record(JobName, JobSchema)
    .register(z.globalRegistry, { description: 'The jobs, by name.' }),
}).register(z.globalRegistry, {
  title: 'Slipway pipeline (.slipway.yml)',
  description: 'A Slipway CI pipeline. Reference: docs/pipeline.md',
});

export type RawPipeline = z.infer<typeof PipelineShellSchema>;
export type RawJob = z.infer<typeof JobSchema>;
export type RawStep = z.infer<typeof StepSchema>;
export type RawWhen = z.infer<typeof When>;
export type RawRetry = z.infer<typeof Retry>;
export type RawResources = z.infer<typeof Resources>;
export type RawInput = z.infer<typeof Input>;
export type RawDefaults = z.infer<typeof Defaults>;
export type RawOn = z.infer<typeof On>;

export { MATRIX_RESERVED };

/** The JSON Schema for editors (draft-07, as the YAML language server expects). */
export function pipelineJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(PipelineSchema, {
    target: 'draft-7',
    io: 'input',
    unrepresentable: 'any',
  });
}
