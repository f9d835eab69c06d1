/**
 * A real `slipway server` process with the real Docker engine and real git repositories:
 * the CLI client end to end, configuration errors, and SIGKILL of the controller with
 * builds queued and running, then a restart without loss.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runIdOf } from '../../src/server/controller.ts';
import { slipway, startSlipway, type RunningCli } from '../support/cli.ts';
import { whenEmpty } from '../support/controller-process.ts';
import { gitRepo } from '../support/git.ts';
import { project } from '../support/project.ts';

const TOKEN = 'process-test-token';
const running: RunningCli[] = [];

afterEach(async () => {
  for (const server of running.splice(0)) {
    if (server.child.exitCode === null && server.child.signalCode === null) {
      server.child.kill('SIGINT');
      server.child.kill('SIGINT');
      await server.done;
    }
  }
});

async function startServer(
  config: string,
  dataDir: string,
): Promise<{ server: RunningCli; url: string }> {
  const server = startSlipway(
    ['server', '--config', config, '--data-dir', dataDir, '--listen', '127.0.0.1:0'],
    {
      env: { SLIPWAY_ADMIN_TOKEN: TOKEN },
    },
  );
  running.push(server);
  await server.waitFor(/listening on (http:\/\/\S+)/, 30_000);
  const url = /listening on (http:\/\/\S+)/.exec(server.output())![1]!;
  return { server, url };
}

function client(url: string, args: string[]): ReturnType<typeof slipway> {
  return slipway(args, { env: { SLIPWAY_SERVER: url, SLIPWAY_TOKEN: TOKEN } });
}

async function get<T>(url: string, path: string): Promise<T> {
  const response = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return (await response.json()) as T;
}

function slipwayContainers(): string[] {
  return execFileSync('docker', ['ps', '-aq', '--filter', 'label=dev.slipway.managed=1'], {
    encoding: 'utf8',
  })
    .split('\n')
    .filter(Boolean);
}

const PIPELINE = `
jobs:
  build:
    image: slipway/busybox:1
    network: offline
    steps:
      - echo "building $(cat VERSION)"
  test:
    image: slipway/busybox:1
    network: offline
    needs: [build]
    steps:
      - echo "testing"; test "\${{ build.branch }}" = main
`;

describe('slipway server (real process, real Docker)', () => {
  it('runs a triggered build in containers and `trigger --follow` mirrors its result', async () => {
    const repo = gitRepo({ '.slipway.yml': PIPELINE, VERSION: '1.2.3\n' });
    const dir = project({
      'slipway.server.yml': `jobs:\n  app:\n    repo: ${repo.dir}\n`,
    });
    const { url } = await startServer(join(dir, 'slipway.server.yml'), join(dir, 'data'));
    const ok = await client(url, ['trigger', 'app', '--follow']);
    expect(ok.stderr).toMatch(/build app#1: success/);
    expect(ok.stdout).toMatch(/\[build:2\] building 1\.2\.3/);
    expect(ok.stdout).toMatch(/\[test:2\] testing/);
    expect(ok.code).toBe(0);

    repo.branch('feature');
    repo.commit({ VERSION: '2.0.0\n' });
    const failed = await client(url, ['trigger', 'app', '--branch', 'feature', '--follow']);
    expect(failed.stdout).toMatch(/building 2\.0\.0/);
    expect(failed.stderr).toMatch(/build app#2: failure/);
    expect(failed.code).toBe(1);

    const builds = await client(url, ['builds', 'app']);
    expect(builds.stdout).toMatch(/app#2\s+failure\s+feature/);
    expect(builds.stdout).toMatch(/app#1\s+success\s+main/);
    const logs = await client(url, ['logs', 'app#1']);
    expect(logs.stdout).toMatch(/^\[build:2\] building 1\.2\.3$/m);
    expect(logs.stdout).toMatch(/^\[test:2\] testing$/m);
    const raw = await client(url, ['logs', 'app#1', '--raw']);
    expect(raw.stdout).toContain('building 1.2.3\n');
    const metrics = await (
      await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })
    ).text();
    expect(metrics).toMatch(/slipway_builds_finished_total\{status="success"\} 1/);
    expect(await whenEmpty(slipwayContainers)).toEqual([]);
  });

  it('describes its signals as they behave', async () => {
    const help = await slipway(['server', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/SIGTERM +stop dispatching and exit at once/);
    expect(help.stdout).toMatch(/the next start adopts them/);
    expect(help.stdout).not.toMatch(/SIGTERM[^.]*lets running builds finish/);
    expect(help.stdout).toMatch(
      /SIGINT +\(Ctrl-C\) stop dispatching, wait for running builds to finish/,
    );
  });

  it('refuses an invalid configuration with file:line:col, and a missing secret with its key', async () => {
    const dir = project({
      'bad.yml': 'listen: 127.0.0.1:0\njobs:\n  app:\n    repo: /tmp/x\n    brnach: main\n',
      'secret.yml': 'secrets:\n  NPM_TOKEN: env:SLIPWAY_TEST_MISSING_VAR\n',
      'good.yml':
        'listen: 127.0.0.1:9999\nsecrets:\n  T: env:SLIPWAY_TEST_SET_VAR\njobs:\n  app:\n    repo: /tmp/x\n    webhook_secret: env:SLIPWAY_TEST_SET_VAR\n  other:\n    repo: /tmp/y\n    webhook_secret: env:SLIPWAY_TEST_SET_VAR\n',
    });
    const bad = await slipway([
      'server',
      '--config',
      join(dir, 'bad.yml'),
      '--data-dir',
      join(dir, 'd1'),
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/bad\.yml:5:5/);
    expect(bad.stderr).toMatch(/did you mean "branch"/);
    const checked = await slipway(['server', '--check', '--config', join(dir, 'bad.yml')]);
    expect(checked.code).toBe(2);
    expect(checked.stderr).toMatch(/bad\.yml:5:5/);
    const good = await slipway(['server', '--check', '--config', join(dir, 'good.yml')], {
      env: { SLIPWAY_TEST_SET_VAR: 'x' },
    });
    expect(good.stdout).toMatch(
      /good\.yml: valid; listen 127\.0\.0\.1:9999, .*2 jobs \(app, other\), 1 secret and 2 webhook secrets resolved/,
    );
    expect(good.code).toBe(0);
    const secret = await slipway([
      'server',
      '--config',
      join(dir, 'secret.yml'),
      '--data-dir',
      join(dir, 'd2'),
    ]);
    expect(secret.code).toBe(2);
    expect(secret.stderr).toMatch(
      /secrets\.NPM_TOKEN: the environment variable SLIPWAY_TEST_MISSING_VAR is not set/,
    );
  });

  it('survives SIGKILL: a live pod is adopted and finishes with its whole log, a gone one ends controller_lost, queued builds run once, no orphans', async () => {
    // Builds 1 and 2 run (2 executors) and write, sleep, write, across the restart;
    // build 3 waits in the queue (the sleep is long enough that neither ends before the
    // kill on a busy machine, which would let build 3 start in the old controller). Build 2's pod is removed while no controller runs.
    const repo = gitRepo({
      '.slipway.yml': `
jobs:
  work:
    image: slipway/busybox:1
    network: offline
    steps:
      - echo "start \${{ build.number }}"; echo "err \${{ build.number }}" >&2; sleep \${{ build.number == 3 && '0' || '12' }}; echo "end \${{ build.number }}"
      - echo "after \${{ build.number }}"
`,
    });
    const dir = project({
      'slipway.server.yml': `agent:\n  executors: 2\n  pull: false\njobs:\n  app:\n    repo: ${repo.dir}\n`,
    });
    const config = join(dir, 'slipway.server.yml');
    const data = join(dir, 'data');
    const first = await startServer(config, data);
    for (let i = 0; i < 3; i++) expect((await client(first.url, ['trigger', 'app'])).code).toBe(0);
    const logOf = async (url: string, id: number, query = ''): Promise<string> =>
      (
        await fetch(`${url}/api/v1/builds/${id}/logs${query}`, {
          headers: { authorization: `Bearer ${TOKEN}` },
        })
      ).text();
    // Wait until builds 1 and 2 have printed: their pods exist and their first steps run.
    for (;;) {
      if (
        (await logOf(first.url, 1)).includes('err 1') &&
        (await logOf(first.url, 2)).includes('err 2')
      )
        break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    first.server.child.kill('SIGKILL');
    await first.server.done;
    const run = runIdOf(
      { job: 'app', number: 2 },
      readFileSync(join(data, 'controller-id'), 'utf8').trim(),
    );
    execFileSync(
      'sh',
      ['-c', `docker ps -aq --filter label=dev.slipway.run=${run} | xargs -r docker rm -f`],
      { stdio: 'ignore' },
    );

    const second = await startServer(config, data);
    await second.server.waitFor(
      /2 attempt\(s\) were running when the controller stopped; adopting/,
    );
    for (;;) {
      const builds = await get<{ number: number; status: string }[]>(
        second.url,
        '/api/v1/builds?job=app',
      );
      if (builds.every((b) => ['success', 'failure', 'error', 'canceled'].includes(b.status)))
        break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const builds = await get<{ id: number; number: number; status: string; reason: string }[]>(
      second.url,
      '/api/v1/builds?job=app',
    );
    const byNumber = Object.fromEntries(builds.map((b) => [b.number, b]));
    // Build 1: adopted; its step finished in the old pod and the log is whole, once.
    expect(byNumber[1]).toMatchObject({ status: 'success' });
    expect(await logOf(second.url, byNumber[1]!.id, '?step=1')).toMatch(
      /^(start 1\nerr 1\n|err 1\nstart 1\n)end 1\n$/,
    );
    expect(await logOf(second.url, byNumber[1]!.id, '?step=2')).toBe('after 1\n');
    // Build 2: its pod was gone.
    expect(byNumber[2]).toMatchObject({ status: 'error' });
    expect(byNumber[2]!.reason).toMatch(/controller_lost/);
    // Build 3: queued across the restart, ran exactly once.
    expect(byNumber[3]!.status).toBe('success');
    const detail = await get<{ jobRuns: { attempts: unknown[] }[] }>(
      second.url,
      `/api/v1/builds/${byNumber[3]!.id}`,
    );
    expect(detail.jobRuns[0]!.attempts).toHaveLength(1);
    expect(await logOf(second.url, byNumber[3]!.id, '?step=2')).toBe('after 3\n');
    expect(await whenEmpty(slipwayContainers)).toEqual([]);
  }, 120_000);

  it('on SIGTERM hands running builds over: it exits at once, and the next start finishes them', async () => {
    const repo = gitRepo({
      '.slipway.yml':
        'jobs:\n  work:\n    image: slipway/busybox:1\n    network: offline\n    steps:\n      - echo before; sleep 4; echo after\n',
    });
    const dir = project({
      'slipway.server.yml': `agent:\n  pull: false\njobs:\n  app:\n    repo: ${repo.dir}\n`,
    });
    const config = join(dir, 'slipway.server.yml');
    const data = join(dir, 'data');
    const first = await startServer(config, data);
    expect((await client(first.url, ['trigger', 'app'])).code).toBe(0);
    for (;;) {
      const log = await fetch(`${first.url}/api/v1/builds/1/logs?step=1`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      if ((await log.text()).includes('before')) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    first.server.child.kill('SIGTERM');
    expect((await first.server.done).code).toBe(0);
    expect(slipwayContainers().length).toBeGreaterThan(0); // the pod runs on, unowned for now
    const second = await startServer(config, data);
    await second.server.waitFor(
      /1 attempt\(s\) were running when the controller stopped; adopting/,
    );
    let build: { status: string };
    do {
      await new Promise((resolve) => setTimeout(resolve, 100));
      build = await get<{ status: string }>(second.url, '/api/v1/builds/1');
    } while (!['success', 'failure', 'error', 'canceled'].includes(build.status));
    expect(build.status).toBe('success');
    const log = await fetch(`${second.url}/api/v1/builds/1/logs?step=1`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(await log.text()).toBe('before\nafter\n');
    expect(await whenEmpty(slipwayContainers)).toEqual([]);
  }, 120_000);

  it('reloads its configuration on SIGHUP and keeps the running one when the new file is invalid', async () => {
    const repo = gitRepo({ '.slipway.yml': PIPELINE, VERSION: '1\n' });
    const dir = project({ 'slipway.server.yml': `jobs:\n  one:\n    repo: ${repo.dir}\n` });
    const config = join(dir, 'slipway.server.yml');
    const { server, url } = await startServer(config, join(dir, 'data'));
    writeFileSync(config, `jobs:\n  one:\n    repo: ${repo.dir}\n  two:\n    repo: ${repo.dir}\n`);
    server.child.kill('SIGHUP');
    await server.waitFor(/configuration reloaded \(added 1, changed 0, removed 0\)/);
    writeFileSync(config, `jobs:\n  one:\n    repo: ${repo.dir}\n    concurrency: -1\n`);
    server.child.kill('SIGHUP');
    await server.waitFor(/reload refused, the running configuration stays/);
    expect(server.output()).toMatch(/slipway\.server\.yml:4:18/);
    const jobs = await get<{ name: string }[]>(url, '/api/v1/jobs');
    expect(jobs.map((j) => j.name)).toEqual(['one', 'two']);
  });
});
