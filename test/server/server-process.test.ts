/**
 * A real `slipway server` process with the real Docker engine and real git repositories:
 * the CLI client end to end, configuration errors, and SIGKILL of the controller with
 * builds queued and running, then a restart without loss.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { slipway, startSlipway, type RunningCli } from '../support/cli.ts';
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
      - checkout
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
    expect(ok.stdout).toMatch(/\[test:1\] testing/);
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
    expect(logs.stdout).toMatch(/^\[test:1\] testing$/m);
    const raw = await client(url, ['logs', 'app#1', '--raw']);
    expect(raw.stdout).toContain('building 1.2.3\n');
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/slipway_builds_finished_total\{status="success"\} 1/);
    expect(slipwayContainers()).toEqual([]);
  });

  it('refuses an invalid configuration with file:line:col, and a missing secret with its key', async () => {
    const dir = project({
      'bad.yml': 'listen: 127.0.0.1:0\njobs:\n  app:\n    repo: /tmp/x\n    brnach: main\n',
      'secret.yml': 'secrets:\n  NPM_TOKEN: env:SLIPWAY_TEST_MISSING_VAR\n',
      'good.yml':
        'listen: 127.0.0.1:9999\nsecrets:\n  T: env:SLIPWAY_TEST_SET_VAR\njobs:\n  app:\n    repo: /tmp/x\n',
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
      /good\.yml: valid; listen 127\.0\.0\.1:9999, .*1 job \(app\), 1 secret reference\(s\) resolved/,
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

  it('survives SIGKILL: queued builds run once after restart, the running attempt ends controller_lost, no orphans', async () => {
    const repo = gitRepo({
      '.slipway.yml': `
jobs:
  work:
    image: slipway/busybox:1
    network: offline
    steps:
      - echo "start \${{ build.number }}"; sleep \${{ build.number == 1 && '30' || '0' }}; echo "end \${{ build.number }}"
`,
    });
    const dir = project({
      'slipway.server.yml': `agent:\n  executors: 1\njobs:\n  app:\n    repo: ${repo.dir}\n`,
    });
    const config = join(dir, 'slipway.server.yml');
    const data = join(dir, 'data');
    const first = await startServer(config, data);
    for (let i = 0; i < 3; i++) expect((await client(first.url, ['trigger', 'app'])).code).toBe(0);
    // Wait until build 1 prints, i.e. its pod exists and it is running.
    for (;;) {
      const log = await fetch(`${first.url}/api/v1/builds/1/logs`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      if ((await log.text()).includes('start 1')) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(slipwayContainers().length).toBeGreaterThan(0);
    first.server.child.kill('SIGKILL');
    await first.server.done;

    const second = await startServer(config, data);
    await second.server.waitFor(/1 attempt\(s\) were running when the controller stopped/);
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
    expect(byNumber[1]).toMatchObject({ status: 'error' });
    expect(byNumber[1]!.reason).toMatch(/controller_lost/);
    for (const n of [2, 3]) {
      expect(byNumber[n]!.status).toBe('success');
      const detail = await get<{ jobRuns: { attempts: unknown[] }[] }>(
        second.url,
        `/api/v1/builds/${byNumber[n]!.id}`,
      );
      expect(detail.jobRuns[0]!.attempts).toHaveLength(1); // ran once
      const log = await (
        await fetch(`${second.url}/api/v1/builds/${byNumber[n]!.id}/logs?step=0`, {
          headers: { authorization: `Bearer ${TOKEN}` },
        })
      ).text();
      expect(log).toBe(`start ${n}\nend ${n}\n`);
    }
    expect(slipwayContainers()).toEqual([]);
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
