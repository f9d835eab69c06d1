/**
 * The controller's configuration as code (`slipway.server.yml`): validated once with
 * file:line:col diagnostics (the compiler's machinery), then frozen. Secret values are
 * references (`env:NAME`, `file:PATH`), resolved at start; a missing one fails start-up
 * with the key's path, never an empty string.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import * as z from 'zod';
import { pipelinePathProblem } from './pipeline-path.ts';
import { checkCron, checkTimeZone } from '../pipeline/triggers.ts';
import type { Diagnostic } from '../pipeline/diagnostics.ts';
import { sortDiagnostics } from '../pipeline/diagnostics.ts';
import { parseDuration, parseSize } from '../pipeline/units.ts';
import { locate, schemaDiagnostics } from '../pipeline/schema-issues.ts';
import { SourceFile } from '../pipeline/source.ts';
import { loadYaml } from '../pipeline/yaml-loader.ts';
import type { Path } from '../pipeline/path.ts';

const SecretRef = z
  .string()
  .regex(
    /^(env|file):.+$/,
    'a secret is a reference like env:NAME or file:/path, never the value itself',
  )
  .describe('A reference to a secret value: `env:NAME` or `file:/path`.');

const BuildSecretRef = z
  .string()
  .regex(
    /^((env|file):.+|credential:[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63})$/,
    'a secret is a reference like env:NAME, file:/path or credential:ID, never the value itself',
  )
  .describe(
    'A reference to a secret value: `env:NAME`, `file:/path`, or `credential:ID` (a stored credential, within its scope).',
  );

const Duration = z.string().describe('A duration like 90s, 10m, 1h.');
const Size = z.string().describe('A size like 100MiB.');

const ScheduleSchema = z
  .object({
    cron: z.string().describe('Five-field cron expression.'),
    timezone: z.string().optional().describe('IANA time zone (default UTC).'),
    branch: z.string().optional().describe("Branch to build (default: the job's branch)."),
  })
  .strict();

export const ConfigJobSchema = z
  .object({
    repo: z.string().min(1).describe('Git repository URL or path.'),
    branch: z.string().optional().describe('Default branch to build (default main).'),
    branches: z
      .array(z.string())
      .optional()
      .describe('Branch globs that webhooks may build; default: every branch.'),
    pipeline: z
      .string()
      .optional()
      .describe('Pipeline path in the repository (default .slipway.yml).'),
    concurrency: z.number().int().positive().optional().describe('Most builds running at once.'),
    cancel_older: z
      .boolean()
      .optional()
      .describe('A new build on a branch cancels the older running one on that branch.'),
    schedules: z.array(ScheduleSchema).optional().describe('Cron schedules for this job.'),
    webhook_secret: SecretRef.optional().describe(
      'Secret that webhook deliveries are signed with.',
    ),
  })
  .strict();

export const ServerConfigSchema = z
  .object({
    listen: z.string().optional().describe('host:port to listen on (default 127.0.0.1:8080).'),
    public_url: z.string().optional().describe('URL users reach the controller at.'),
    data_dir: z
      .string()
      .optional()
      .describe('Where the store and caches live (default ./.slipway-data).'),
    store: z
      .object({
        url: z
          .string()
          .optional()
          .describe('postgres://… (reserved for a later release); default: the embedded file.'),
      })
      .strict()
      .optional(),
    admin_token: SecretRef.optional().describe(
      'Admin token reference; else SLIPWAY_ADMIN_TOKEN or a generated one.',
    ),
    agent: z
      .object({
        enabled: z.boolean().optional().describe('Run the embedded agent (default true).'),
        executors: z
          .number()
          .int()
          .positive()
          .max(64)
          .optional()
          .describe('Attempts at once (default 2).'),
        labels: z.array(z.string()).optional().describe('Labels the embedded agent offers.'),
        backend: z
          .enum(['auto', 'docker', 'process'])
          .optional()
          .describe(
            'docker (default; auto is the same): builds run in containers and start-up fails when no engine answers. process: builds run as host processes WITHOUT isolation.',
          ),
        pull: z
          .boolean()
          .optional()
          .describe('Pull missing images (default true); false: a missing image fails the job.'),
      })
      .strict()
      .optional(),
    limits: z
      .object({
        log_cap: Size.optional().describe('Per-step log cap (default 100MiB).'),
        max_build_duration: Duration.optional().describe('Upper bound on any job timeout.'),
        grace: Duration.optional().describe('SIGTERM to SIGKILL grace period (default 10s).'),
        webhook_body: Size.optional().describe('Largest webhook body (default 1MiB).'),
        request_timeout: Duration.optional().describe(
          'Longest time a client may take to send a whole request, headers and body (default 30s).',
        ),
        auth_failures: z
          .number()
          .int()
          .positive()
          .optional()
          .describe(
            'Wrong admin tokens one client address may send per auth_window before it gets 429 (default 10).',
          ),
        auth_window: Duration.optional().describe(
          'The window of auth_failures, and how long an address is then refused (default 1m).',
        ),
        min_free_disk: z
          .union([z.string(), z.number()])
          .optional()
          .describe(
            'Free space under data_dir below which no new attempts start: a size (2GiB) or a share of the file system (10%); 0 turns it off. Default: the smaller of 512MiB and 5%.',
          ),
      })
      .strict()
      .optional(),
    metrics: z
      .object({
        public: z
          .boolean()
          .optional()
          .describe('Serve /metrics without the admin token (default false: the token is needed).'),
      })
      .strict()
      .optional(),
    credentials: z
      .object({
        key: SecretRef.optional().describe(
          'The key credentials are encrypted with (env:NAME or file:/path, one base64 line of 32 bytes per key, the current one first); default: data_dir/credentials.key, created at first start.',
        ),
      })
      .strict()
      .optional(),
    secrets: z
      .record(z.string(), BuildSecretRef)
      .optional()
      .describe('Secrets given to the jobs that list them.'),
    jobs: z.record(z.string(), ConfigJobSchema).optional(),
  })
  .strict();

export type RawServerConfig = z.infer<typeof ServerConfigSchema>;

export interface ConfigJob {
  name: string;
  repo: string;
  branch: string;
  branches: string[];
  pipeline: string;
  concurrency: number | null;
  cancelOlder: boolean;
  schedules: { cron: string; timezone: string; branch: string | null }[];
  webhookSecret: string | null;
}

export interface ServerConfig {
  file: string | null;
  listen: { host: string; port: number };
  publicUrl: string;
  dataDir: string;
  adminTokenRef: string | null;
  agent: {
    enabled: boolean;
    executors: number;
    labels: string[];
    backend: 'auto' | 'docker' | 'process';
    pull: boolean;
  };
  limits: {
    logCapBytes: number;
    maxBuildMs: number;
    graceMs: number;
    webhookBodyBytes: number;
    requestTimeoutMs: number;
    authFailures: number;
    authWindowMs: number;
    /** Free space under the data directory below which dispatch pauses. */
    minFreeDisk: { bytes: number | null; percent: number | null };
  };
  /** Whether /metrics is served without the admin token. */
  metrics: { public: boolean };
  /** The credentials key by reference, or null for data_dir/credentials.key. */
  credentialsKeyRef: string | null;
  /** Secret references by name (resolved by resolveSecrets; `credential:` ones per build). */
  secrets: Record<string, string>;
  jobs: ConfigJob[];
}

export class ConfigError extends Error {
  constructor(
    message: string,
    readonly diagnostics: Diagnostic[] = [],
    readonly text = '',
  ) {
    super(message);
  }
}

export interface ConfigOverrides {
  listen?: string;
  dataDir?: string;
}

export function parseListen(value: string): { host: string; port: number } | undefined {
  const match = /^(\[[^\]]+\]|[^:]*):(\d{1,5})$/.exec(value);
  if (!match) return undefined;
  const port = Number(match[2]);
  if (port > 65535) return undefined;
  return { host: match[1]!.replace(/^\[|\]$/g, '') || '127.0.0.1', port };
}

/** The configuration with no file: every default. */
export function defaultConfig(overrides: ConfigOverrides = {}, cwd = process.cwd()): ServerConfig {
  return buildConfig({}, null, overrides, cwd);
}

/** Reads, validates and freezes a configuration file. Throws ConfigError with diagnostics. */
export function loadConfig(
  file: string,
  overrides: ConfigOverrides = {},
  cwd = process.cwd(),
): ServerConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read the configuration ${file}: ${(error as Error).message}`);
  }
  return parseConfig(text, file, overrides, cwd);
}

export function parseConfig(
  text: string,
  file: string,
  overrides: ConfigOverrides = {},
  cwd = process.cwd(),
): ServerConfig {
  const source = new SourceFile(file, text);
  const diagnostics: Diagnostic[] = [];
  const doc = loadYaml(source, diagnostics);
  if (!doc) throw new ConfigError(`${file} is not a valid configuration`, diagnostics, text);
  const parsed = ServerConfigSchema.safeParse(doc.value);
  if (!parsed.success) {
    diagnostics.push(
      ...schemaDiagnostics(parsed.error.issues, ServerConfigSchema, doc.value, [], doc, source),
    );
    throw new ConfigError(
      `${file} is not a valid configuration`,
      sortDiagnostics(diagnostics),
      text,
    );
  }
  const raw = parsed.data;
  const problem = (code: Diagnostic['code'], message: string, path: Path): void => {
    diagnostics.push(source.diagnostic(code, message, locate(doc, path), path));
  };
  for (const [key, value] of [
    ['log_cap', raw.limits?.log_cap],
    ['webhook_body', raw.limits?.webhook_body],
  ] as const)
    if (value !== undefined) {
      const size = parseSize(value);
      if (!size.ok) problem('invalid-size', size.reason, ['limits', key]);
    }
  for (const [key, value] of [
    ['max_build_duration', raw.limits?.max_build_duration],
    ['grace', raw.limits?.grace],
    ['request_timeout', raw.limits?.request_timeout],
    ['auth_window', raw.limits?.auth_window],
  ] as const)
    if (value !== undefined) {
      const duration = parseDuration(value);
      if (!duration.ok) problem('invalid-duration', duration.reason, ['limits', key]);
      else if ((key === 'request_timeout' || key === 'auth_window') && duration.value < 1000)
        problem('invalid-duration', `limits.${key} must be at least 1s`, ['limits', key]);
    }
  const minFree = raw.limits?.min_free_disk;
  if (minFree !== undefined) {
    const parsed = parseMinFreeDisk(minFree);
    if ('error' in parsed) problem(parsed.code, parsed.error, ['limits', 'min_free_disk']);
  }
  if (raw.listen !== undefined && !parseListen(raw.listen))
    problem('invalid-value', `"${raw.listen}" is not host:port (like 127.0.0.1:8080)`, ['listen']);
  if (raw.store?.url !== undefined)
    problem(
      'invalid-value',
      'store.url (PostgreSQL) is reserved for a later release; remove it to use the embedded store',
      ['store', 'url'],
    );
  for (const [name, job] of Object.entries(raw.jobs ?? {})) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(name))
      problem('invalid-name', `job name "${name}" may use letters, digits, ".", "_" and "-"`, [
        'jobs',
        name,
      ]);
    const pipeline = job.pipeline === undefined ? undefined : pipelinePathProblem(job.pipeline);
    if (pipeline) problem('invalid-value', pipeline, ['jobs', name, 'pipeline']);
    (job.schedules ?? []).forEach((schedule, i) => {
      const cron = checkCron(schedule.cron);
      if (cron) problem('invalid-cron', cron, ['jobs', name, 'schedules', i, 'cron']);
      const zone = schedule.timezone ? checkTimeZone(schedule.timezone) : undefined;
      if (zone) problem('invalid-value', zone, ['jobs', name, 'schedules', i, 'timezone']);
    });
  }
  if (diagnostics.length > 0)
    throw new ConfigError(
      `${file} is not a valid configuration`,
      sortDiagnostics(diagnostics),
      text,
    );
  return buildConfig(raw, file, overrides, cwd);
}

function buildConfig(
  raw: RawServerConfig,
  file: string | null,
  overrides: ConfigOverrides,
  cwd: string,
): ServerConfig {
  const listenText = overrides.listen ?? raw.listen ?? '127.0.0.1:8080';
  const listen = parseListen(listenText);
  if (!listen)
    throw new ConfigError(`--listen ${listenText} is not host:port (like 127.0.0.1:8080)`);
  const dataDir = resolve(cwd, overrides.dataDir ?? raw.data_dir ?? '.slipway-data');
  const unit = (r: { ok: boolean; value?: number }, fallback: number): number =>
    r.ok && r.value !== undefined ? r.value : fallback;
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  return {
    file,
    listen,
    publicUrl: raw.public_url ?? `http://${host}:${listen.port}`,
    dataDir,
    adminTokenRef: raw.admin_token ?? null,
    agent: {
      enabled: raw.agent?.enabled ?? true,
      executors: raw.agent?.executors ?? 2,
      labels: raw.agent?.labels ?? [],
      backend: raw.agent?.backend ?? 'docker',
      pull: raw.agent?.pull ?? true,
    },
    limits: {
      logCapBytes: unit(parseSize(raw.limits?.log_cap ?? '100MiB'), 100 * 1048576),
      maxBuildMs: unit(parseDuration(raw.limits?.max_build_duration ?? '6h'), 6 * 3600_000),
      graceMs: unit(parseDuration(raw.limits?.grace ?? '10s'), 10_000),
      webhookBodyBytes: unit(parseSize(raw.limits?.webhook_body ?? '1MiB'), 1048576),
      requestTimeoutMs: unit(parseDuration(raw.limits?.request_timeout ?? '30s'), 30_000),
      authFailures: raw.limits?.auth_failures ?? 10,
      authWindowMs: unit(parseDuration(raw.limits?.auth_window ?? '1m'), 60_000),
      minFreeDisk: (() => {
        const value = raw.limits?.min_free_disk;
        const parsed = value === undefined ? DEFAULT_MIN_FREE_DISK : parseMinFreeDisk(value);
        return 'error' in parsed ? DEFAULT_MIN_FREE_DISK : parsed;
      })(),
    },
    metrics: { public: raw.metrics?.public ?? false },
    credentialsKeyRef: raw.credentials?.key ?? null,
    secrets: raw.secrets ?? {},
    jobs: Object.entries(raw.jobs ?? {}).map(([name, job]) => ({
      name,
      repo:
        isRemote(job.repo) || isAbsolute(job.repo)
          ? job.repo
          : resolve(file ? resolve(file, '..') : cwd, job.repo),
      branch: job.branch ?? 'main',
      branches: job.branches ?? [],
      pipeline: job.pipeline ?? '.slipway.yml',
      concurrency: job.concurrency ?? null,
      cancelOlder: job.cancel_older ?? false,
      schedules: (job.schedules ?? []).map((s) => ({
        cron: s.cron,
        timezone: s.timezone ?? 'UTC',
        branch: s.branch ?? null,
      })),
      webhookSecret: job.webhook_secret ?? null,
    })),
  };
}

/** The smaller of 512MiB and 5% of the file system. */
const DEFAULT_MIN_FREE_DISK = { bytes: 512 * 1048576, percent: 5 };

/** `limits.min_free_disk`: a size (`512MiB`), a share (`5%`), or `0` (off). */
export function parseMinFreeDisk(
  value: string | number,
):
  | { bytes: number | null; percent: number | null }
  | { error: string; code: 'invalid-size' | 'invalid-value' } {
  if (value === 0) return { bytes: 0, percent: null };
  if (typeof value === 'number')
    return {
      error: `${value} has no unit; write it like ${value}MiB or ${value}GiB, or a share like 5%`,
      code: 'invalid-size',
    };
  const text = value.trim();
  if (text === '0') return { bytes: 0, percent: null };
  const percent = /^(\d+(?:\.\d+)?)\s*%$/.exec(text);
  if (percent) {
    const share = Number(percent[1]);
    return share < 100
      ? { bytes: null, percent: share }
      : {
          error: `${text} of the disk can never be free while the store is on it; use less than 100%, like 5%`,
          code: 'invalid-value',
        };
  }
  const size = parseSize(text);
  if (!size.ok)
    return {
      error: `${size.reason}; or give a share of the file system, like 5%`,
      code: 'invalid-size',
    };
  return { bytes: size.value, percent: null };
}

function isRemote(repo: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(repo) || /^[^/]+@[^:]+:/.test(repo);
}

/**
 * Resolves `env:NAME` / `file:PATH` references. Throws a ConfigError naming the key
 * (`secrets.NPM_TOKEN`) of the first one that cannot be resolved: fail closed.
 */
export function resolveRef(ref: string, key: string, env: NodeJS.ProcessEnv = process.env): string {
  const [kind, ...rest] = ref.split(':');
  const target = rest.join(':');
  if (kind === 'env') {
    const value = env[target];
    if (value === undefined || value === '')
      throw new ConfigError(
        `${key}: the environment variable ${target} is not set (it is referenced as ${ref}); set it or change the reference`,
      );
    return value;
  }
  try {
    const value = readFileSync(target, 'utf8').replace(/\r?\n$/, '');
    if (value === '') throw new Error('the file is empty');
    return value;
  } catch (error) {
    throw new ConfigError(
      `${key}: cannot read ${target} (referenced as ${ref}): ${(error as Error).message}`,
    );
  }
}

/** The `credential:ID` references of `secrets:`: credential id by secret name. */
export function credentialSecrets(config: ServerConfig): Record<string, string> {
  return Object.fromEntries(
    Object.entries(config.secrets)
      .filter(([, ref]) => ref.startsWith('credential:'))
      .map(([name, ref]) => [name, ref.slice('credential:'.length)]),
  );
}

/**
 * Resolves the `env:`/`file:` references of `secrets:` (`credential:` ones are resolved
 * per build, within the credential's scope: credentialSecrets).
 */
export function resolveSecrets(
  config: ServerConfig,
  env: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  return Object.fromEntries(
    Object.entries(config.secrets)
      .filter(([, ref]) => !ref.startsWith('credential:'))
      .map(([name, ref]) => [name, resolveRef(ref, `secrets.${name}`, env)]),
  );
}

/** The JSON Schema of the configuration file, for editors. */
export function configJsonSchema(): unknown {
  return z.toJSONSchema(ServerConfigSchema, { target: 'draft-7', io: 'input' });
}
