/**
 * What the controller benchmarks share: a real `slipway server` process (from `dist/`, as
 * users run it), a git repository, API calls, following a build as `trigger --follow`
 * does, the engine's own events (when containers really started and stopped), and the
 * timeline of one build from trigger to the client being told it finished.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { median } from './lib.ts';

export const TOKEN = 'bench-token';
const headers = { authorization: `Bearer ${TOKEN}` };

/** A temporary directory with a git repository holding `pipeline` as `.slipway.yml`. */
export function benchRepo(prefix: string, pipeline: string): { root: string; repo: string } {
  const root = mkdtempSync(join(tmpdir(), `slipway-bench-${prefix}-`));
  const repo = join(root, 'repo');
  execFileSync('sh', ['-c', `mkdir -p ${repo} && cd ${repo} && git init -q -b main`]);
  writeFileSync(join(repo, '.slipway.yml'), pipeline);
  // A few files, so a checkout copies something like a small project.
  for (let i = 0; i < 20; i++) writeFileSync(join(repo, `file-${i}.txt`), `${i}\n`.repeat(200));
  execFileSync('sh', [
    '-c',
    `cd ${repo} && git add -A && git -c user.name=b -c user.email=b@b commit -qm bench`,
  ]);
  return { root, repo };
}

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  /** The controller's id: its pods carry `dev.slipway.creator=controller:<id>`. */
  id: string;
  rssMiB(): number;
  stop(): Promise<void>;
}

/**
 * Starts `slipway server` (bin/slipway.js, i.e. dist/) with `config`. Extra node flags
 * from SLIPWAY_BENCH_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
 */
export async function startServerProcess(root: string, config: string): Promise<ServerProcess> {
  writeFileSync(join(root, 'server.yml'), config);
  const bin = join(import.meta.dirname, '..', 'bin', 'slipway.js');
  const nodeArgs = (process.env.SLIPWAY_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const dataDir = join(root, 'data');
  const child = spawn(
    process.execPath,
    [...nodeArgs, bin, 'server', '--config', join(root, 'server.yml'), '--data-dir', dataDir],
    { env: { ...process.env, SLIPWAY_ADMIN_TOKEN: TOKEN }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      err += s;
      const match = /listening on (http:\/\/\S+)/.exec(err);
      if (match) resolve(match[1]!);
    });
    child.on('exit', () => reject(new Error(`the server exited: ${err}`)));
  });
  const done = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return {
    url,
    child,
    id: readFileSync(join(dataDir, 'controller-id'), 'utf8').trim(),
    rssMiB() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
    },
    async stop() {
      child.kill('SIGINT');
      await done;
    },
  };
}

/**
 * The `dev.slipway.run` label of a build's pod: the controller's id, the job's slug and a
 * short hash of its name, the build's number (as `runIdOf` in the controller makes it).
 */
export function runLabel(controllerId: string, job: string, number: number): string {
  const slug =
    job
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '')
      .slice(0, 20) || 'job';
  const hash = createHash('sha256').update(job).digest('hex').slice(0, 6);
  return `${controllerId}-${slug}-${hash}-${number}`;
}

export async function api<T>(url: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

export interface BuildDetail {
  id: number;
  status: string;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  jobRuns: {
    attempts: {
      queuedAt: number;
      startedAt: number | null;
      finishedAt: number | null;
      steps: { name: string; startedAt: number | null; finishedAt: number | null }[];
    }[];
  }[];
}

const FINISHED = new Set(['success', 'failure', 'error', 'canceled']);

/**
 * Follows a build's log stream as `slipway trigger --follow` does until the controller
 * says it ended; returns when the client was told (epoch ms).
 */
export async function followToEnd(url: string, buildId: number): Promise<number> {
  const response = await fetch(`${url}/api/v1/builds/${buildId}/logs?follow=1`, {
    headers: { ...headers, accept: 'text/event-stream' },
  });
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the log stream of build ${buildId} ended without an end event`);
    text += decoder.decode(value, { stream: true });
    if (text.includes('event: end\n')) {
      const told = Date.now();
      await reader.cancel();
      return told;
    }
  }
}

/**
 * The dashboard's live stream (`/api/v1/events`): resolves `finished(id)` with the time
 * the client was told that build `id` ended.
 */
export async function watchEvents(url: string): Promise<{
  finished(id: number): Promise<number>;
  close(): void;
}> {
  const abort = new AbortController();
  const response = await fetch(`${url}/api/v1/events`, {
    headers: { ...headers, accept: 'text/event-stream' },
    signal: abort.signal,
  });
  const told = new Map<number, number>();
  const waiting = new Map<number, (t: number) => void>();
  void (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const piece of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(piece, { stream: true });
        for (let at = buffer.indexOf('\n\n'); at >= 0; at = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, at);
          buffer = buffer.slice(at + 2);
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (!block.includes('event: build') || !data) continue;
          const build = JSON.parse(data) as { id: number; status: string };
          if (!FINISHED.has(build.status) || told.has(build.id)) continue;
          told.set(build.id, Date.now());
          waiting.get(build.id)?.(Date.now());
        }
      }
    } catch {
      // closed
    }
  })();
  return {
    finished: (id) =>
      told.has(id)
        ? Promise.resolve(told.get(id)!)
        : new Promise((resolve) => waiting.set(id, resolve)),
    close: () => abort.abort(),
  };
}

/** One container's life as the engine reports it (epoch ms). */
export interface ContainerLife {
  id: string;
  labels: Record<string, string>;
  create?: number;
  start?: number;
  die?: number;
  destroy?: number;
}

/**
 * Records the engine's container events (create, start, die, destroy) while it runs;
 * `lives()` gives each container's life, `peak()` the most that ran at once.
 */
export function engineEvents(): {
  lives(filter: (labels: Record<string, string>) => boolean): ContainerLife[];
  stop(): void;
} {
  const child = spawn(
    'docker',
    ['events', '--filter', 'type=container', '--format', '{{json .}}'],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const byId = new Map<string, ContainerLife>();
  createInterface({ input: child.stdout }).on('line', (line) => {
    const event = JSON.parse(line) as {
      id: string;
      status?: string;
      Action: string;
      timeNano: number;
      Actor: { Attributes: Record<string, string> };
    };
    const action = event.Action as 'create' | 'start' | 'die' | 'destroy';
    if (!['create', 'start', 'die', 'destroy'].includes(action)) return;
    const life = byId.get(event.id) ?? { id: event.id, labels: event.Actor.Attributes };
    life[action] = event.timeNano / 1e6;
    byId.set(event.id, life);
  });
  return {
    lives: (filter) => [...byId.values()].filter((l) => filter(l.labels)),
    stop: () => child.kill(),
  };
}

/** The docker events stream starts late: wait until it sees a container we make. */
export async function engineEventsReady(
  events: ReturnType<typeof engineEvents>,
  image: string,
): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const marker = `slipway-bench-probe-${process.pid}-${i}`;
    execFileSync('docker', ['run', '--rm', '--label', `${marker}=1`, image, 'true']);
    await new Promise((resolve) => setTimeout(resolve, 200));
    if (events.lives((l) => l[marker] === '1').length > 0) return;
  }
  throw new Error('docker events saw nothing');
}

/** The most intervals [from, to) that overlap at one moment. */
export function peakOverlap(intervals: readonly { from: number; to: number }[]): number {
  const points = intervals.flatMap((i) => [
    { t: i.from, d: 1 },
    { t: i.to, d: -1 },
  ]);
  points.sort((a, b) => a.t - b.t || a.d - b.d);
  let now = 0;
  let peak = 0;
  for (const p of points) peak = Math.max(peak, (now += p.d));
  return peak;
}

/** One build's way from trigger to the client being told it ended (epoch ms). */
export interface Timeline {
  sent: number;
  accepted: number;
  claimed: number;
  podCreated: number;
  podStarted: number;
  stepStarted: number;
  stepFinished: number;
  attemptFinished: number;
  buildFinished: number;
  told: number;
  podRemoved: number;
}

/** The phases of a timeline, each as the time since the previous one. */
export const PHASES = [
  ['accepted', 'trigger call (fetch, compile, commit)'],
  ['claimed', 'queued → claimed and assigned'],
  ['podCreated', 'assigned → pod primary created (checkout tree, image, volume, container)'],
  ['podStarted', 'pod primary created → started'],
  ['stepStarted', 'pod started → last step started (checkout copy, step exec)'],
  ['stepFinished', 'last step ran'],
  ['attemptFinished', 'step finished → attempt finished (teardown, messages)'],
  ['buildFinished', 'attempt finished → build finished'],
  ['told', 'build finished → client told'],
] as const;

export function timelineOf(
  detail: BuildDetail,
  sent: number,
  accepted: number,
  told: number,
  pod: ContainerLife | undefined,
): Timeline {
  const attempt = detail.jobRuns[0]!.attempts.at(-1)!;
  const step = attempt.steps.at(-1)!;
  return {
    sent,
    accepted,
    claimed: attempt.startedAt ?? NaN,
    podCreated: pod?.create ?? NaN,
    podStarted: pod?.start ?? NaN,
    stepStarted: step.startedAt ?? NaN,
    stepFinished: step.finishedAt ?? NaN,
    attemptFinished: attempt.finishedAt ?? NaN,
    buildFinished: detail.finishedAt ?? NaN,
    told,
    podRemoved: pod?.destroy ?? NaN,
  };
}

/** Median of each phase over timelines, in ms. */
export function phaseMedians(timelines: readonly Timeline[]): Record<string, number> {
  const out: Record<string, number> = {};
  let previous: keyof Timeline = 'sent';
  for (const [key] of PHASES) {
    const prev = previous;
    out[key] = median(timelines.map((t) => t[key] - t[prev]));
    previous = key;
  }
  out.total = median(timelines.map((t) => t.told - t.sent));
  out.podRemovedAfterTold = median(timelines.map((t) => t.podRemoved - t.told));
  return out;
}

export function removeRoot(root: string): void {
  rmSync(root, { recursive: true, force: true });
}
