/**
 * The controller's command-line client: trigger, builds, logs, cancel, rerun, jobs, queue.
 * Talks to the controller only through its HTTP API (`--server` / SLIPWAY_SERVER, token
 * from `--token` / SLIPWAY_TOKEN / SLIPWAY_ADMIN_TOKEN).
 */
import type { Command } from 'commander';
import type { JobWithLastBuild, LogWindow, QueueEntry } from '../api/schemas.ts';
import { SlipwayError } from '../errors/index.ts';
import type { Diagnostic } from '../pipeline/diagnostics.ts';
import { formatDiagnostics } from '../pipeline/format.ts';
import { parseDuration } from '../pipeline/units.ts';
import {
  attemptLabels,
  client,
  type Build,
  type BuildDetail,
  type Client,
  type ClientOptions,
} from './api-client.ts';
import { followBuild } from './follow.ts';
import { LogPrinter } from './log-printer.ts';
import { table, type Output } from './output.ts';
import { sanitizeForTerminal } from './terminal-filter.ts';

function withClientOptions(command: Command): Command {
  return command
    .option('--server <url>', 'controller URL (default $SLIPWAY_SERVER or http://127.0.0.1:8080)')
    .option('--token <token>', 'API token (default $SLIPWAY_TOKEN)')
    .option('--json', 'print JSON for scripts');
}

function parseInputs(pairs: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs ?? []) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new SlipwayError('SW_INVALID_ARGUMENT', `--input ${pair} is not name=value`);
    out[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return out;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function age(ms: number | null): string {
  if (ms === null) return '-';
  const s = Math.round((Date.now() - ms) / 1000);
  return s < 60
    ? `${s}s ago`
    : s < 3600
      ? `${Math.round(s / 60)}m ago`
      : `${Math.round(s / 3600)}h ago`;
}

function duration(build: Build): string {
  if (build.startedAt === null) return '-';
  const end = build.finishedAt ?? Date.now();
  return `${((end - build.startedAt) / 1000).toFixed(1)}s`;
}

/** Resolves `42`, `job#3` or `job/3` to a build id. */
async function resolveBuild(api: Client, ref: string): Promise<number> {
  if (/^\d+$/.test(ref)) return Number(ref);
  const match = /^(.+?)[#/](\d+)$/.exec(ref);
  if (!match)
    throw new SlipwayError(
      'SW_INVALID_ARGUMENT',
      `"${ref}" is not a build: use its id, or JOB#NUMBER`,
    );
  const build = await api.request<Build>(
    'GET',
    `/api/v1/jobs/${encodeURIComponent(match[1]!)}/builds/${match[2]}`,
  );
  return build.id;
}

interface FollowCliOptions {
  raw?: boolean;
  reconnectFor: string;
}

const RECONNECT_OPTION = [
  '--reconnect-for <duration>',
  'how long to keep reconnecting to a controller that went away before giving up',
  '2m',
] as const;

/** Follows a build to its end, then shows why its pipeline was refused, if it was. */
async function follow(
  api: Client,
  buildId: number,
  output: Output,
  options: FollowCliOptions,
): Promise<Build> {
  const reconnectFor = parseDuration(options.reconnectFor);
  if (!reconnectFor.ok)
    throw new SlipwayError('SW_INVALID_ARGUMENT', `--reconnect-for: ${reconnectFor.reason}`);
  const final = await followBuild(api, buildId, output, {
    raw: Boolean(options.raw),
    reconnectForMs: reconnectFor.value,
  });
  showDiagnostics(final, output);
  return final;
}

/** A build whose pipeline is invalid ends `error`; its diagnostics say where and why. */
function showDiagnostics(detail: BuildDetail, output: Output): void {
  if (detail.diagnostics.length === 0) return;
  output.err(
    sanitizeForTerminal(
      // The wire carries the code as a string; these are the compiler's own diagnostics.
      formatDiagnostics(detail.diagnostics as Diagnostic[], detail.pipelineText ?? undefined, {
        color: output.color,
      }),
      { colors: output.color },
    ),
  );
}

/** Every job's output, job by job and step by step, each line prefixed `[job:step]`. */
async function printLogs(api: Client, buildId: number, output: Output): Promise<void> {
  const detail = await api.request<BuildDetail>('GET', `/api/v1/builds/${buildId}`);
  const labels = attemptLabels(detail);
  const printer = new LogPrinter({
    write: (text) => output.write(text),
    label: (attempt) => labels.get(attempt) ?? String(attempt),
    colors: output.outColor,
  });
  for (const run of detail.jobRuns)
    for (const attempt of run.attempts)
      for (const step of [-1, ...attempt.steps.map((s) => s.index)]) {
        const window = await api.request<LogWindow>(
          'GET',
          `/api/v1/builds/${buildId}/logs?attempt=${attempt.id}&step=${step}&from=0`,
        );
        for (const chunk of window.chunks)
          printer.chunk(attempt.id, step, Buffer.from(chunk.b64, 'base64'));
        printer.endStep(attempt.id, step);
      }
  showDiagnostics(detail, output);
}

function exitFor(build: Build): number {
  return build.status === 'success'
    ? 0
    : build.status === 'error'
      ? 3
      : build.status === 'canceled'
        ? 130
        : 1;
}

export function registerClient(
  program: Command,
  output: Output,
  setExit: (code: number) => void,
): void {
  const print = (options: ClientOptions, data: unknown, human: () => string): void =>
    output.out(options.json ? JSON.stringify(data, null, 2) : human());

  withClientOptions(
    program
      .command('trigger')
      .description('start a build of a job on the controller')
      .argument('<job>', 'job name')
      .option('--input <name=value>', 'a manual input (repeatable)', collect)
      .option('--branch <branch>', "branch to build (default: the job's branch)")
      .option('--tag <tag>', 'tag to build')
      .option('--sha <sha>', 'commit to build')
      .option('-f, --follow', "stream the output and exit with the build's result")
      .option('--raw', 'with --follow: the bytes as they arrive, without prefixes or filtering')
      .option(...RECONNECT_OPTION),
  ).action(
    async (
      job: string,
      options: ClientOptions & {
        input?: string[];
        branch?: string;
        tag?: string;
        sha?: string;
        follow?: boolean;
      } & FollowCliOptions,
    ) => {
      const api = client(options);
      const build = await api.request<Build>(
        'POST',
        `/api/v1/jobs/${encodeURIComponent(job)}/builds`,
        {
          inputs: parseInputs(options.input),
          ...(options.branch ? { branch: options.branch } : {}),
          ...(options.tag ? { tag: options.tag } : {}),
          ...(options.sha ? { sha: options.sha } : {}),
        },
      );
      if (!options.follow) {
        print(
          options,
          build,
          () =>
            `build ${build.job}#${build.number} (id ${build.id}) ${build.status} at ${build.sha.slice(0, 12)}`,
        );
        return;
      }
      output.err(
        `build ${build.job}#${build.number} (id ${build.id}) queued at ${build.sha.slice(0, 12)}`,
      );
      const final = await follow(api, build.id, output, options);
      output.err(
        `build ${final.job}#${final.number}: ${final.status}${final.reason ? ` (${final.reason})` : ''}`,
      );
      setExit(exitFor(final));
    },
  );

  withClientOptions(
    program
      .command('builds')
      .description('list builds, newest first')
      .argument('[job]', 'only this job')
      .option('--limit <n>', 'how many', '20'),
  ).action(async (job: string | undefined, options: ClientOptions & { limit: string }) => {
    const api = client(options);
    const query = new URLSearchParams({ limit: options.limit, ...(job ? { job } : {}) });
    const builds = await api.request<Build[]>('GET', `/api/v1/builds?${query.toString()}`);
    print(options, builds, () =>
      table([
        ['ID', 'BUILD', 'STATUS', 'REF', 'COMMIT', 'CAUSE', 'DURATION', 'CREATED'],
        ...builds.map((b) => [
          String(b.id),
          `${b.job}#${b.number}`,
          b.status,
          b.tag ?? b.branch ?? (b.pr != null ? `PR #${b.pr} → ${b.prTargetBranch ?? '?'}` : '-'),
          b.sha.slice(0, 10),
          b.cause,
          duration(b),
          age(b.createdAt),
        ]),
      ]),
    );
  });

  withClientOptions(
    program
      .command('logs')
      .description("print a build's output (BUILD is an id or JOB#NUMBER)")
      .argument('<build>', 'build id or JOB#NUMBER')
      .option('-f, --follow', "keep streaming until the build ends; exit with the build's result")
      .option(
        '--raw',
        'the stored bytes as they are, in the order they arrived: no prefixes, no filtering of escape sequences',
      )
      .option(...RECONNECT_OPTION)
      .addHelpText(
        'after',
        '\nLines are printed whole, each prefixed [job:step]. On a terminal only colour escape sequences\npass (nothing in a log can move the cursor, clear the screen or set the clipboard); to a pipe\nor file the text is plain. With --follow, a controller that restarts is reconnected to and the\noutput resumes where it stopped.',
      ),
  ).action(
    async (ref: string, options: ClientOptions & { follow?: boolean } & FollowCliOptions) => {
      const api = client(options);
      const id = await resolveBuild(api, ref);
      if (options.follow) {
        const final = await follow(api, id, output, options);
        setExit(exitFor(final));
        return;
      }
      if (!options.raw) {
        await printLogs(api, id, output);
        return;
      }
      const response = await api.fetch('GET', `/api/v1/builds/${id}/logs`);
      if (!response.ok)
        throw new SlipwayError(
          'SW_API_ERROR',
          `logs of build ${id}: ${response.status} ${await response.text()}`,
        );
      for await (const piece of (response.body ?? []) as AsyncIterable<Uint8Array>)
        output.write(piece);
    },
  );

  withClientOptions(
    program
      .command('cancel')
      .description('cancel a build')
      .argument('<build>', 'build id or JOB#NUMBER'),
  ).action(async (ref: string, options: ClientOptions) => {
    const api = client(options);
    const build = await api.request<Build>(
      'POST',
      `/api/v1/builds/${await resolveBuild(api, ref)}/cancel`,
    );
    print(
      options,
      build,
      () =>
        `build ${build.job}#${build.number}: ${build.status}${build.reason ? ` (${build.reason})` : ''}`,
    );
  });

  withClientOptions(
    program
      .command('rerun')
      .description('run a finished build again (new attempts)')
      .argument('<build>', 'build id or JOB#NUMBER')
      .option('--failed', 'only the jobs that did not succeed'),
  ).action(async (ref: string, options: ClientOptions & { failed?: boolean }) => {
    const api = client(options);
    const build = await api.request<Build>(
      'POST',
      `/api/v1/builds/${await resolveBuild(api, ref)}/rerun`,
      { failedOnly: options.failed === true },
    );
    print(options, build, () => `build ${build.job}#${build.number}: ${build.status}`);
  });

  const jobs = withClientOptions(
    program.command('jobs').description('list jobs; `jobs add` and `jobs rm` change them'),
  );
  jobs.action(async (options: ClientOptions) => {
    const api = client(options);
    const list = await api.request<JobWithLastBuild[]>('GET', '/api/v1/jobs');
    print(options, list, () =>
      table([
        ['JOB', 'REPOSITORY', 'BRANCH', 'FROM', 'LAST BUILD'],
        ...list.map((j) => [
          j.name,
          j.repo,
          j.branch,
          j.source,
          j.lastBuild
            ? `#${j.lastBuild.number} ${j.lastBuild.status} ${age(j.lastBuild.createdAt)}`
            : '-',
        ]),
      ]),
    );
  });
  withClientOptions(
    jobs
      .command('add')
      .description('create or change a job')
      .argument('<name>', 'job name')
      .requiredOption('--repo <url>', 'git repository URL or path')
      .option('--branch <branch>', 'default branch', 'main')
      .option('--pipeline <path>', 'pipeline path in the repository', '.slipway.yml')
      .option('--concurrency <n>', 'most builds at once')
      .option('--webhook-secret <ref>', 'env:NAME or file:PATH'),
  ).action(
    async (
      name: string,
      options: ClientOptions & {
        repo: string;
        branch: string;
        pipeline: string;
        concurrency?: string;
        webhookSecret?: string;
      },
    ) => {
      const api = client(options);
      const job = await api.request<unknown>('PUT', `/api/v1/jobs/${encodeURIComponent(name)}`, {
        repo: options.repo,
        branch: options.branch,
        pipeline: options.pipeline,
        ...(options.concurrency ? { concurrency: Number(options.concurrency) } : {}),
        ...(options.webhookSecret ? { webhook_secret: options.webhookSecret } : {}),
      });
      print(options, job, () => `job ${name} saved`);
    },
  );
  withClientOptions(
    jobs.command('rm').description('delete a job').argument('<name>', 'job name'),
  ).action(async (name: string, options: ClientOptions) => {
    const api = client(options);
    await api.request('DELETE', `/api/v1/jobs/${encodeURIComponent(name)}`);
    output.out(`job ${name} deleted`);
  });

  withClientOptions(
    program.command('queue').description('queued job attempts and why each waits'),
  ).action(async (options: ClientOptions) => {
    const api = client(options);
    const queue = await api.request<QueueEntry[]>('GET', '/api/v1/queue');
    print(options, queue, () =>
      queue.length === 0
        ? 'the queue is empty'
        : table([
            ['BUILD', 'JOB', 'JOB RUN', 'QUEUED', 'WAITING FOR'],
            ...queue.map((q) => [
              String(q.buildId),
              q.job,
              q.jobRun,
              age(q.queuedAt),
              q.waitingFor,
            ]),
          ]),
    );
  });
}
