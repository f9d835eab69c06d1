/**
 * The controller's command-line client: trigger, builds, logs, cancel, rerun, jobs, queue.
 * Talks to the controller only through its HTTP API (`--server` / SLIPWAY_SERVER, token
 * from `--token` / SLIPWAY_TOKEN / SLIPWAY_ADMIN_TOKEN).
 */
import type { Command } from 'commander';
import { SlipwayError } from '../errors/index.ts';
import { table, type Output } from './output.ts';

interface ClientOptions {
  server?: string;
  token?: string;
  json?: boolean;
}

interface Build {
  id: number;
  job: string;
  number: number;
  status: string;
  reason: string;
  branch: string | null;
  tag: string | null;
  pr?: number | null;
  prTargetBranch?: string | null;
  sha: string;
  cause: string;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

interface BuildDetail extends Build {
  diagnostics: { file: string; line: number; column: number; message: string; code: string }[];
  jobRuns: {
    name: string;
    status: string;
    outcome: string | null;
    reason: string;
    attempts: { id: number; number: number; steps: { index: number; name: string }[] }[];
  }[];
}

class Client {
  constructor(
    readonly server: string,
    private readonly token: string,
  ) {}

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.fetch(method, path, body);
    const text = await response.text();
    const data = text ? (JSON.parse(text) as unknown) : undefined;
    if (!response.ok) {
      const error = data as { code?: string; message?: string } | undefined;
      throw new SlipwayError(
        'SW_API_ERROR',
        `${method} ${path}: ${response.status} ${error?.code ?? ''}: ${error?.message ?? text}`,
      );
    }
    return data as T;
  }

  async fetch(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    try {
      return await fetch(`${this.server}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (error) {
      throw new SlipwayError(
        'SW_SERVER_UNREACHABLE',
        `cannot reach the controller at ${this.server}: ${(error as Error & { cause?: Error }).cause?.message ?? (error as Error).message}; start it with \`slipway server\` or set --server / SLIPWAY_SERVER`,
      );
    }
  }
}

function client(options: ClientOptions): Client {
  const server = (options.server ?? process.env.SLIPWAY_SERVER ?? 'http://127.0.0.1:8080').replace(
    /\/$/,
    '',
  );
  const token = options.token ?? process.env.SLIPWAY_TOKEN ?? process.env.SLIPWAY_ADMIN_TOKEN ?? '';
  if (!token)
    throw new SlipwayError(
      'SW_INVALID_ARGUMENT',
      'no token: pass --token, or set SLIPWAY_TOKEN (the admin token printed at the first start of `slipway server`)',
    );
  return new Client(server, token);
}

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

const FINISHED = new Set(['success', 'failure', 'error', 'canceled']);

/** Follows a build's output until it ends; returns its final state. */
async function follow(api: Client, buildId: number, output: Output): Promise<Build> {
  const detail = await api.request<BuildDetail>('GET', `/api/v1/builds/${buildId}`);
  const names = new Map<number, string>();
  const learn = (d: BuildDetail): void => {
    for (const run of d.jobRuns) for (const a of run.attempts) names.set(a.id, run.name);
  };
  learn(detail);
  let last = 0;
  let final: Build = detail;
  for (let retries = 0; retries < 30;) {
    const response = await api.fetch('GET', `/api/v1/builds/${buildId}/logs?follow=1`, undefined, {
      accept: 'text/event-stream',
      ...(last ? { 'last-event-id': String(last) } : {}),
    });
    if (!response.ok || !response.body)
      throw new SlipwayError('SW_API_ERROR', `log stream: ${response.status}`);
    const decoder = new TextDecoder();
    let buffer = '';
    let ended = false;
    try {
      for await (const piece of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(piece, { stream: true });
        for (let at = buffer.indexOf('\n\n'); at >= 0; at = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, at);
          buffer = buffer.slice(at + 2);
          const fields = Object.fromEntries(
            block
              .split('\n')
              .filter((l) => !l.startsWith(':') && l.includes(':'))
              .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trimStart()]),
          ) as Record<string, string>;
          if (fields.id) last = Number(fields.id);
          if (fields.event === 'log' && fields.data) {
            const chunk = JSON.parse(fields.data) as { attempt: number; step: number; b64: string };
            if (!names.has(chunk.attempt))
              learn(await api.request<BuildDetail>('GET', `/api/v1/builds/${buildId}`));
            const label = names.get(chunk.attempt) ?? String(chunk.attempt);
            output.out(
              prefixed(label, chunk.step, Buffer.from(chunk.b64, 'base64').toString('utf8')),
            );
          } else if (fields.event === 'build' && fields.data) {
            final = JSON.parse(fields.data) as Build;
          } else if (fields.event === 'end') {
            ended = true;
          }
        }
        if (ended) break;
      }
    } catch {
      retries++;
    }
    if (ended || FINISHED.has(final.status)) return final;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return final;
}

/** Output lines prefixed `[job:step]` (`[job]` for the agent's own lines, step -1). */
function prefixed(label: string, step: number, text: string): string {
  const prefix = `[${label}${step >= 0 ? `:${step + 1}` : ''}] `;
  return text
    .replace(/\n$/, '')
    .split('\n')
    .map((line) => prefix + line)
    .join('\n');
}

/** Every job's output, job by job and step by step, each line prefixed `[job:step]`. */
async function printLogs(api: Client, buildId: number, output: Output): Promise<void> {
  const detail = await api.request<BuildDetail>('GET', `/api/v1/builds/${buildId}`);
  for (const run of detail.jobRuns)
    for (const attempt of run.attempts) {
      const label = run.attempts.length > 1 ? `${run.name} #${attempt.number}` : run.name;
      for (const step of [-1, ...attempt.steps.map((s) => s.index)]) {
        const window = await api.request<{ chunks: { b64: string }[] }>(
          'GET',
          `/api/v1/builds/${buildId}/logs?attempt=${attempt.id}&step=${step}&from=0`,
        );
        const text = Buffer.concat(window.chunks.map((c) => Buffer.from(c.b64, 'base64'))).toString(
          'utf8',
        );
        if (text) output.out(prefixed(label, step, text));
      }
    }
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
      .option('-f, --follow', "stream the output and exit with the build's result"),
  ).action(
    async (
      job: string,
      options: ClientOptions & {
        input?: string[];
        branch?: string;
        tag?: string;
        sha?: string;
        follow?: boolean;
      },
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
      const final = await follow(api, build.id, output);
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
      .option('-f, --follow', 'keep streaming until the build ends')
      .option('--raw', 'the stored bytes only, in the order they arrived, without prefixes'),
  ).action(async (ref: string, options: ClientOptions & { follow?: boolean; raw?: boolean }) => {
    const api = client(options);
    const id = await resolveBuild(api, ref);
    if (options.follow) {
      const final = await follow(api, id, output);
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
    process.stdout.write(Buffer.from(await response.arrayBuffer()));
  });

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
    const list = await api.request<
      { name: string; repo: string; branch: string; source: string; lastBuild: Build | null }[]
    >('GET', '/api/v1/jobs');
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
    const queue = await api.request<
      { buildId: number; job: string; jobRun: string; queuedAt: number; waitingFor: string }[]
    >('GET', '/api/v1/queue');
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
