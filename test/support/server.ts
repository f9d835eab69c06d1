/**
 * A real `slipway server` process for fault tests: started on a free port, stopped (or
 * already killed) after each test, with small helpers for the API it serves.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { startSlipway, type RunningCli } from './cli.ts';

export const TOKEN = 'fault-test-token';

export interface TestServer {
  process: RunningCli;
  url: string;
  dataDir: string;
  /** The controller's id (the `controller:<id>` owner label of its pods). */
  controllerId(): string;
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body?: unknown): Promise<{ status: number; body: T }>;
  /** The raw log of a build. */
  log(buildId: number): Promise<string>;
  /** Polls a build until `done` says so (or the time is up). */
  waitBuild(
    id: number,
    done: (build: BuildJson) => boolean,
    timeoutMs?: number,
  ): Promise<BuildJson>;
}

export interface BuildJson {
  id: number;
  number: number;
  status: string;
  reason: string;
  jobRuns: {
    name: string;
    status: string;
    outcome: string | null;
    reason: string;
    attempts: {
      id: number;
      status: string;
      outcome: string | null;
      reason: string;
      steps: {
        index: number;
        name: string;
        status: string;
        outcome: string | null;
        reason: string;
      }[];
    }[];
  }[];
}

const started: { process: RunningCli; dataDir: string }[] = [];

// Registered when a test file imports this module, so it runs after each of its tests:
// a server still running is stopped (its builds canceled); one that does not stop in
// time is killed and what its pods left is removed.
afterEach(async () => {
  for (const { process: server, dataDir } of started.splice(0)) {
    if (server.child.exitCode !== null || server.child.signalCode !== null) continue;
    server.child.kill('SIGINT');
    server.child.kill('SIGINT');
    const stopped = await Promise.race([
      server.done.then(() => true),
      sleep(30_000).then(() => false),
    ]);
    if (stopped) continue;
    server.child.kill('SIGKILL');
    await server.done;
    removePodsOf(readFileSync(join(dataDir, 'controller-id'), 'utf8').trim());
  }
});

// Should the test process end first, no server outlives it.
const everyServer: RunningCli[] = [];
process.on('exit', () => {
  for (const server of everyServer)
    if (server.child.exitCode === null && server.child.signalCode === null)
      server.child.kill('SIGKILL');
});

/** Removes the containers and volumes a controller's pods left (after a SIGKILL). */
export function removePodsOf(controllerId: string): void {
  const label = `label=dev.slipway.creator=controller:${controllerId}`;
  execFileSync(
    'sh',
    [
      '-c',
      `docker ps -aq --filter ${label} | xargs -r docker rm -f; docker volume ls -q --filter ${label} | xargs -r docker volume rm -f`,
    ],
    { stdio: 'ignore' },
  );
}

/** Starts `slipway server --config FILE --data-dir DIR` and waits until it listens. */
export async function startTestServer(
  config: string,
  dataDir: string,
  env: NodeJS.ProcessEnv = {},
): Promise<TestServer> {
  const child = startSlipway(
    ['server', '--config', config, '--data-dir', dataDir, '--listen', '127.0.0.1:0'],
    { env: { SLIPWAY_ADMIN_TOKEN: TOKEN, ...env } },
  );
  started.push({ process: child, dataDir });
  everyServer.push(child);
  await child.waitFor(/listening on (http:\/\/\S+)/, 60_000);
  const url = /listening on (http:\/\/\S+)/.exec(child.output())![1]!;
  const headers = { authorization: `Bearer ${TOKEN}` };
  const server: TestServer = {
    process: child,
    url,
    dataDir,
    controllerId: () => readFileSync(join(dataDir, 'controller-id'), 'utf8').trim(),
    async get<T>(path: string) {
      return (await (await fetch(`${url}${path}`, { headers })).json()) as T;
    },
    async post<T>(path: string, body: unknown = {}) {
      const response = await fetch(`${url}${path}`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as T };
    },
    async log(buildId: number) {
      return (await fetch(`${url}/api/v1/builds/${buildId}/logs`, { headers })).text();
    },
    async waitBuild(id, done, timeoutMs = 120_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const build = await server.get<BuildJson>(`/api/v1/builds/${id}`);
        if (done(build)) return build;
        if (Date.now() > deadline)
          throw new Error(`build ${id} did not get there in time: ${JSON.stringify(build)}`);
        await sleep(250);
      }
    },
  };
  return server;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it returns a value other than undefined. */
export async function until<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}
