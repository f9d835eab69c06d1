/**
 * Adopting running steps after the controller dies, with a real `slipway server` process
 * killed with SIGKILL (or stopped with SIGTERM) mid-step and started again on the same
 * data, on the real Docker engine: every line once and no secret fragment, a log cap that
 * holds across restarts, and what an adopted attempt reports.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  api,
  leftovers,
  whenEmpty,
  logOf,
  startController,
  trigger,
  waitForBuild,
  waitForLog,
  type BuildDetail,
  type Controller,
} from '../support/controller-process.ts';
import { gitRepo } from '../support/git.ts';
import { project } from '../support/project.ts';

const SECRET = 'Zq9wXy7KKp3mRt5vQ';

/** A project whose server configures SECRET as TOKEN, with the given pipeline files. */
function setup(
  files: Record<string, string>,
  jobs: Record<string, string>,
  extra = '',
): { config: string; data: string; env: NodeJS.ProcessEnv } {
  const repo = gitRepo(files);
  const dir = project({
    'slipway.server.yml':
      `secrets:\n  TOKEN: env:SLIPWAY_TEST_TOKEN\nagent:\n  pull: false\n  executors: 3\n${extra}jobs:\n` +
      Object.entries(jobs)
        .map(([name, file]) => `  ${name}:\n    repo: ${repo.dir}\n    pipeline: ${file}\n`)
        .join(''),
  });
  return {
    config: join(dir, 'slipway.server.yml'),
    data: join(dir, 'data'),
    env: { SLIPWAY_TEST_TOKEN: SECRET },
  };
}

async function restart(
  first: Controller,
  signal: 'SIGKILL' | 'SIGTERM',
  project: ReturnType<typeof setup>,
): Promise<Controller> {
  first.server.child.kill(signal);
  await first.server.done;
  const next = await startController(project.config, project.data, project.env);
  await next.server.waitFor(/were running when the controller stopped; adopting/);
  return next;
}

/** Waits until step `index` of a build's first attempt is running. */
async function waitForStep(url: string, buildId: number, index: number): Promise<void> {
  for (const deadline = Date.now() + 120_000; Date.now() < deadline;) {
    const build = await api<BuildDetail>(url, `/api/v1/builds/${buildId}`);
    const steps = build.jobRuns[0]?.attempts[0]?.steps ?? [];
    if (steps.some((s) => s.index === index && s.status === 'running')) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`step ${index} of build ${buildId} never ran`);
}

/** Every substring of 4 or more characters of the secret found in `text`. */
function fragments(text: string): string[] {
  const found = new Set<string>();
  for (let n = 4; n <= SECRET.length; n++)
    for (let i = 0; i + n <= SECRET.length; i++)
      if (text.includes(SECRET.slice(i, i + n))) found.add(SECRET.slice(i, i + n));
  return [...found];
}

const LOOP = `jobs:
  loop:
    image: slipway/busybox:1
    network: offline
    checkout: false
    secrets: [TOKEN]
    steps:
      - |
        i=0
        while [ $i -lt 3000 ]; do
          i=$((i+1)); echo "L$i $TOKEN"
          if [ $((i % 150)) = 0 ]; then sleep 0.3; fi
        done
`;

describe('adopting a running step (real process, real Docker)', () => {
  for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
    it(`after ${signal} mid-step, shows every line exactly once and no fragment of the secret`, async () => {
      const p = setup({ 'loop.yml': LOOP }, { loop: 'loop.yml' });
      const first = await startController(p.config, p.data, p.env);
      const id = await trigger(first.url, 'loop');
      await waitForLog(first.url, id, /^L600 /m);
      const second = await restart(first, signal, p);
      const build = await waitForBuild(second.url, id);
      expect(build.status).toBe('success');
      const log = await logOf(second.url, id, '?step=0');
      const lines = log.split('\n').filter(Boolean);
      expect(lines).toHaveLength(3000);
      expect(lines).toEqual(Array.from({ length: 3000 }, (_, i) => `L${i + 1} ***`));
      expect(fragments(await logOf(second.url, id))).toEqual([]);
      expect(await whenEmpty(() => leftovers(p.data))).toEqual([]);
    }, 180_000);
  }

  it('counts the log cap across restarts: capped once, one marker', async () => {
    const block = (n: number): string =>
      `yes "cap line $(printf %03d ${n}) padded to sixty-four bytes................" | head -c 700000`;
    const p = setup(
      {
        'cap.yml': `jobs:
  cap:
    image: slipway/busybox:1
    network: offline
    checkout: false
    steps:
      - |
        ${block(1)}; echo; echo "first done"; sleep 6
        ${block(2)}; echo; echo "second done"; sleep 6
        ${block(3)}; echo; echo "third done"
`,
      },
      { cap: 'cap.yml' },
      'limits:\n  log_cap: 1MiB\n',
    );
    const first = await startController(p.config, p.data, p.env);
    const id = await trigger(first.url, 'cap');
    // Killed before the cap is reached, then again after it was.
    await waitForLog(first.url, id, /first done/);
    const second = await restart(first, 'SIGKILL', p);
    await waitForLog(second.url, id, /reached its cap/);
    const third = await restart(second, 'SIGKILL', p);
    const build = await waitForBuild(third.url, id);
    expect(build.status).toBe('success');
    const log = await logOf(third.url, id, '?step=0');
    expect(log.match(/reached its cap/g)).toHaveLength(1);
    const marker = log.slice(log.indexOf('\n[slipway: the log of this step reached its cap'));
    expect(Buffer.byteLength(log) - Buffer.byteLength(marker)).toBe(1048576);
    const step = build.jobRuns[0]!.attempts[0]!.steps[0]!;
    expect(step).toMatchObject({ truncated: true, logBytes: Buffer.byteLength(log) });
    expect(await whenEmpty(() => leftovers(p.data))).toEqual([]);
  }, 240_000);

  describe('what an adopted attempt reports', () => {
    const p = setup(
      {
        'five.yml': `jobs:
  five:
    image: slipway/busybox:1
    network: offline
    steps:
      - echo one
      - echo two
      - echo three
      - echo four; sleep 12; echo four done
      - echo five
`,
        'slow.yml': `jobs:
  slow:
    image: slipway/busybox:1
    network: offline
    checkout: false
    timeout: 20s
    steps:
      - echo started; sleep 60
`,
        'gone.yml': `jobs:
  gone:
    image: slipway/busybox:1
    network: offline
    checkout: false
    steps:
      - echo started; sleep 60
      - echo never
`,
      },
      { five: 'five.yml', slow: 'slow.yml', gone: 'gone.yml' },
    );
    const ids: Record<string, number> = {};
    const builds: Record<string, BuildDetail> = {};
    let setupLog = '';
    let killedAt = 0;
    let restartedAt = 0;

    beforeAll(async () => {
      const first = await startController(p.config, p.data, p.env);
      for (const job of ['five', 'slow', 'gone']) ids[job] = await trigger(first.url, job);
      // The step is running (as the controller stored it); its output is not awaited.
      // Step 0 is the implicit checkout, so `echo four` is step 4.
      await waitForStep(first.url, ids.five!, 4);
      await waitForStep(first.url, ids.slow!, 0);
      await waitForStep(first.url, ids.gone!, 0);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      first.server.child.kill('SIGKILL');
      await first.server.done;
      killedAt = Date.now();
      // The pod of `gone` disappears while no controller runs.
      const controller = readFileSync(join(p.data, 'controller-id'), 'utf8').trim();
      execFileSync('sh', [
        '-c',
        `docker ps -aq --filter label=dev.slipway.creator=controller:${controller} --filter label=dev.slipway.job=gone | xargs -r docker rm -f`,
      ]);
      const second = await startController(p.config, p.data, p.env);
      restartedAt = Date.now();
      for (const job of ['five', 'slow', 'gone'])
        builds[job] = await waitForBuild(second.url, ids[job]!);
      const attempt = builds.five!.jobRuns[0]!.attempts[0]!.id;
      setupLog = (
        await api<{ chunks: { b64: string }[] }>(
          second.url,
          `/api/v1/builds/${ids.five}/logs?attempt=${attempt}&step=-1&from=0`,
        )
      ).chunks
        .map((c) => Buffer.from(c.b64, 'base64').toString())
        .join('');
      expect(await whenEmpty(() => leftovers(p.data))).toEqual([]);
    }, 240_000);

    it("reports the job's own timeout, and still ends on the original deadline", () => {
      const slow = builds.slow!;
      const attempt = slow.jobRuns[0]!.attempts[0]!;
      expect(slow.status, JSON.stringify(attempt)).toBe('failure');
      expect(attempt.outcome).toBe('timeout');
      // The controller was killed well before the deadline, which stays where it was set.
      expect(killedAt).toBeLessThan(attempt.deadline! - 5000);
      expect(attempt.deadline! - attempt.startedAt!).toBe(20_000);
      expect(attempt.reason).toMatch(/the job ran past its timeout of 20\.0s/);
      expect(attempt.finishedAt!).toBeGreaterThanOrEqual(attempt.deadline!);
      expect(attempt.finishedAt!).toBeLessThan(Math.max(attempt.deadline!, restartedAt) + 5000);
    });

    it('ends every step of an attempt whose pod was gone, with a reason', () => {
      const gone = builds.gone!;
      expect(gone.status).toBe('error');
      const steps = gone.jobRuns[0]!.attempts[0]!.steps;
      expect(steps.map((s) => s.status)).not.toContain('running');
      expect(steps[0]).toMatchObject({ status: 'error', outcome: 'infra_error' });
      expect(steps[0]!.reason).toMatch(/the attempt ended before this step did: controller_lost/);
    });

    it('says "checking out" once', () => {
      expect(builds.five!.status).toBe('success');
      expect(setupLog.match(/checking out/g)).toHaveLength(1);
    });

    it('counts every step of the attempt in its summary, those before the restart too', () => {
      const five = builds.five!;
      expect(five.status).toBe('success');
      expect(five.jobRuns[0]!.attempts[0]!.reason).toBe('6 steps succeeded');
      expect(five.jobRuns[0]!.attempts[0]!.steps.map((s) => s.status)).toEqual(
        Array(6).fill('success'),
      );
    });
  });
});
