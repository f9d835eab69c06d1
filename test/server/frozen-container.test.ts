/**
 * A frozen container (`docker pause` of a job's primary while its step runs) under a real
 * `slipway server` process with real Docker: a cancel and a job timeout still end the
 * attempt in time, by killing the container from outside, and nothing is left behind.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gitRepo } from '../support/git.ts';
import { project } from '../support/project.ts';
import { removePodsOf, startTestServer, until, type BuildJson } from '../support/server.ts';

const GRACE_S = 3;

function docker(args: string[]): string[] {
  return execFileSync('docker', args, { encoding: 'utf8' }).split('\n').filter(Boolean);
}

/** The primary container of a job's pod, by the controller's owner label and the job. */
function primaryOf(controllerId: string, job: string): string | undefined {
  return docker([
    'ps',
    '--filter',
    `label=dev.slipway.creator=controller:${controllerId}`,
    '--filter',
    'label=dev.slipway.role=primary',
    '--format',
    `{{.ID}} {{.Label "dev.slipway.run"}}`,
  ])
    .map((line) => line.split(' '))
    .find(([, run]) => run?.includes(`-${job}-`))?.[0];
}

const ended = (b: BuildJson): boolean => !['queued', 'running'].includes(b.status);
const seconds = (b: { startedAt: number | null; finishedAt: number | null }): number =>
  ((b.finishedAt ?? 0) - (b.startedAt ?? 0)) / 1000;

describe('a frozen container (real process, real Docker)', () => {
  it(
    'a cancel and a job timeout end the attempt within grace + a few seconds; the container is killed from outside; no orphans',
    { timeout: 240_000 },
    async () => {
      const step = `
    steps:
      - echo "started"; sleep 300; echo "never"
`;
      const hang = gitRepo({
        '.slipway.yml': `jobs:\n  hang:\n    image: slipway/busybox:1\n    network: offline\n${step}`,
      });
      const slow = gitRepo({
        '.slipway.yml': `jobs:\n  slow:\n    image: slipway/busybox:1\n    network: offline\n    timeout: 8s\n${step}`,
      });
      const dir = project({
        'slipway.server.yml': `agent:\n  executors: 2\n  pull: false\nlimits:\n  grace: ${GRACE_S}s\njobs:\n  cancelme:\n    repo: ${hang.dir}\n  timeme:\n    repo: ${slow.dir}\n`,
      });
      const server = await startTestServer(join(dir, 'slipway.server.yml'), join(dir, 'data'));
      const id = server.controllerId();
      try {
        const canceled = (await server.post<{ id: number }>('/api/v1/jobs/cancelme/builds')).body
          .id;
        const timed = (await server.post<{ id: number }>('/api/v1/jobs/timeme/builds')).body.id;
        for (const [build, job] of [
          [canceled, 'cancelme'],
          [timed, 'timeme'],
        ] as const) {
          await until(`${job} to start its step`, async () =>
            (await server.log(build)).includes('started\n') ? true : undefined,
          );
          const container = await until(`${job}'s primary`, () => primaryOf(id, job));
          docker(['pause', container]);
        }

        const asked = Date.now();
        expect((await server.post(`/api/v1/builds/${canceled}/cancel`)).status).toBe(200);
        const cancelDone = await server.waitBuild(canceled, ended, 90_000);
        const cancelSeconds = (Date.now() - asked) / 1000;
        expect(cancelDone.status).toBe('canceled');
        const cancelAttempt = cancelDone.jobRuns[0]!.attempts[0]!;
        expect(cancelAttempt.outcome).toBe('canceled');
        expect(cancelAttempt.reason).toMatch(
          /^canceled; the container primary \(slipway\/busybox:1\) was frozen \(paused\): the step could not be stopped inside it within the grace period of 3s, so the container was killed from outside$/,
        );
        // The grace period, a moment for the in-container SIGKILL, the kill: with room for a busy machine.
        expect(cancelSeconds).toBeLessThan(GRACE_S + 20);

        const timeoutDone = await server.waitBuild(timed, ended, 90_000);
        const run = timeoutDone.jobRuns[0]!;
        expect(run.outcome).toBe('timeout');
        expect(run.reason).toMatch(
          /^the job ran past its timeout of 8\.0s; the container primary \(slipway\/busybox:1\) was frozen \(paused\)/,
        );
        const attempt = run.attempts[0] as unknown as { startedAt: number; finishedAt: number };
        expect(seconds(attempt)).toBeLessThan(8 + GRACE_S + 20);
        expect(await server.log(timed)).not.toContain('never');

        // Zero orphans: the killed containers and their pods are gone.
        await until('the pods to be removed', () =>
          docker(['ps', '-aq', '--filter', `label=dev.slipway.creator=controller:${id}`]).length +
            docker(['volume', 'ls', '-q', '--filter', `label=dev.slipway.creator=controller:${id}`])
              .length ===
          0
            ? true
            : undefined,
        );
      } finally {
        removePodsOf(id);
      }
    },
  );
});
