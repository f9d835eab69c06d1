/**
 * Fault: the container engine stops while a step runs. Uses a PRIVATE, real dockerd (its
 * own socket, data and exec roots, network namespace, no bridge) so it disturbs nothing
 * else; `slipway run` talks to it through DOCKER_HOST.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSlipway } from './support/cli.ts';
import { TEST_IMAGE } from './support/images.ts';
import { project } from './support/project.ts';

const dir = mkdtempSync(join(tmpdir(), 'slipway-private-dockerd-'));
const socket = join(dir, 'docker.sock');
let daemon: ChildProcess | undefined;

function docker(...args: string[]): string {
  return execFileSync('docker', ['-H', `unix://${socket}`, ...args], { encoding: 'utf8' });
}

async function stopDaemon(): Promise<void> {
  if (!daemon || daemon.exitCode !== null) return;
  const exited = new Promise((resolve) => daemon!.once('exit', resolve));
  daemon.kill('SIGTERM'); // a clean stop: dockerd kills its containers and unmounts
  await exited;
}

beforeAll(async () => {
  // In a network namespace of its own: a dockerd with `--bridge none` deletes any link
  // named docker0 it can see, which would break the machine's real engine.
  daemon = spawn(
    'unshare',
    [
      '--net',
      'dockerd',
      '--host',
      `unix://${socket}`,
      '--data-root',
      join(dir, 'data'),
      '--exec-root',
      join(dir, 'exec'),
      '--pidfile',
      join(dir, 'docker.pid'),
      '--bridge',
      'none',
      '--iptables=false',
      '--ip-masq=false',
    ],
    { stdio: 'ignore' },
  );
  for (let i = 0; i < 60; i++) {
    try {
      docker('info');
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  execFileSync('sh', ['-c', `docker save ${TEST_IMAGE} | docker -H unix://${socket} load`]);
}, 60_000);

afterAll(async () => {
  await stopDaemon();
  if (existsSync(join(dir, 'docker.pid'))) {
    const pid = Number(readFileSync(join(dir, 'docker.pid'), 'utf8'));
    if (pid > 0) process.kill(pid, 'SIGKILL');
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('fault: the engine stops mid-run (private real dockerd)', () => {
  it('ends the job as an infrastructure error promptly, without hanging', async () => {
    const repo = project({
      '.slipway.yml': `jobs:\n  a:\n    image: ${TEST_IMAGE}\n    steps:\n      - echo started; sleep 120\n      - echo never\n`,
    });
    const cli = startSlipway(['run', repo, '--network', 'offline'], {
      env: { DOCKER_HOST: `unix://${socket}` },
    });
    await cli.waitFor(/│ started/);
    const stoppedAt = Date.now();
    await stopDaemon();
    const r = await cli.done;
    expect(Date.now() - stoppedAt).toBeLessThan(30_000);
    expect(r.code, r.stdout + r.stderr).toBe(3);
    expect(r.stdout).toMatch(/\[infra_error\]/);
    expect(r.stdout).toMatch(/hit an infrastructure error/);
    expect(r.stdout).not.toContain('never\n');
  });
});
