/**
 * A real `slipway server` process for tests that follow builds, kill the controller and
 * start it again on the same data directory: start, API reads, waiting for builds, logs.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { startSlipway, type RunningCli } from './cli.ts';

export const TOKEN = 'controller-test-token';
const running: RunningCli[] = [];
let registered = false;

export interface Controller {
  server: RunningCli;
  url: string;
}

/** Starts `slipway server` on a free port; it is stopped after the test if still running. */
export async function startController(
  config: string,
  dataDir: string,
  env: NodeJS.ProcessEnv = {},
): Promise<Controller> {
  if (!registered) {
    registered = true;
    afterEach(async () => {
      for (const server of running.splice(0)) {
        if (server.child.exitCode === null && server.child.signalCode === null) {
          server.child.kill('SIGINT');
          server.child.kill('SIGINT');
          await server.done;
        }
      }
    });
  }
  const server = startSlipway(
    ['server', '--config', config, '--data-dir', dataDir, '--listen', '127.0.0.1:0'],
    { env: { SLIPWAY_ADMIN_TOKEN: TOKEN, ...env } },
  );
  running.push(server);
  await server.waitFor(/listening on (http:\/\/\S+)/, 60_000);
  const url = /listening on (http:\/\/\S+)/.exec(server.output())![1]!;
  return { server, url };
}

export async function api<T>(url: string, path: string): Promise<T> {
  const response = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

export async function trigger(url: string, job: string): Promise<number> {
  const response = await fetch(`${url}/api/v1/jobs/${job}/builds`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: '{}',
  });
  if (!response.ok) throw new Error(`trigger ${job}: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { id: number }).id;
}

/** The stored log of a build (or of one step with `?step=N`), as the API serves it. */
export async function logOf(url: string, buildId: number, query = ''): Promise<string> {
  const response = await fetch(`${url}/api/v1/builds/${buildId}/logs${query}`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  return response.text();
}

const FINISHED = ['success', 'failure', 'error', 'canceled'];

export interface BuildDetail {
  id: number;
  status: string;
  reason: string;
  startedAt: number | null;
  finishedAt: number | null;
  jobRuns: {
    name: string;
    status: string;
    reason: string;
    attempts: {
      id: number;
      status: string;
      outcome: string | null;
      reason: string;
      startedAt: number | null;
      finishedAt: number | null;
      deadline: number | null;
      steps: {
        index: number;
        name: string;
        status: string;
        outcome: string | null;
        reason: string;
        logBytes: number;
        truncated: boolean;
      }[];
    }[];
  }[];
}

/** Waits until a build has ended; returns its detail. */
export async function waitForBuild(
  url: string,
  buildId: number,
  timeoutMs = 120_000,
): Promise<BuildDetail> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const build = await api<BuildDetail>(url, `/api/v1/builds/${buildId}`);
    if (FINISHED.includes(build.status)) return build;
    if (Date.now() > deadline) throw new Error(`build ${buildId} still ${build.status}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Waits until a build's stored log matches. */
export async function waitForLog(
  url: string,
  buildId: number,
  pattern: RegExp,
  timeoutMs = 120_000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await logOf(url, buildId);
    if (pattern.test(text)) return text;
    if (Date.now() > deadline)
      throw new Error(`build ${buildId}: no ${pattern} in its log:\n${text.slice(-2000)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Containers and volumes that the controller of `dataDir` made and left on the engine
 * (only its own: other tests may share the engine).
 */
export function leftovers(dataDir: string): string[] {
  const id = readFileSync(join(dataDir, 'controller-id'), 'utf8').trim();
  const label = `label=dev.slipway.creator=controller:${id}`;
  const list = (args: string[]): string[] =>
    execFileSync('docker', args, { encoding: 'utf8' }).split('\n').filter(Boolean);
  return [
    ...list(['ps', '-aq', '--filter', label]),
    ...list(['volume', 'ls', '-q', '--filter', label]),
  ];
}

/**
 * What `list()` gives once it is empty, or what is still there after `timeoutMs`. A build
 * is reported finished while its pod is still being removed: "no orphans" means none
 * once the removal had its moment.
 */
export async function whenEmpty(list: () => string[], timeoutMs = 30_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = list();
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
