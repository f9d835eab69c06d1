/**
 * Names on a shared engine, with real `slipway server` processes and real Docker: jobs
 * whose names differ only in punctuation get their own pods and caches, and two
 * controllers on one engine never take (or remove) each other's pods, even across a
 * SIGKILL and restart of one of them.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gitRepo } from '../support/git.ts';
import { project } from '../support/project.ts';
import { removePodsOf, startTestServer, until, type BuildJson } from '../support/server.ts';

/** Containers and volumes a controller's pods left (caches included), as names. */
function resourcesOf(controllerId: string): string[] {
  const label = `label=dev.slipway.creator=controller:${controllerId}`;
  const list = (args: string[]): string[] =>
    execFileSync('docker', args, { encoding: 'utf8' }).split('\n').filter(Boolean);
  return [
    ...list(['ps', '-a', '--filter', label, '--format', '{{.Names}}']),
    ...list(['volume', 'ls', '-q', '--filter', label]),
  ];
}

const ended = (b: BuildJson): boolean => !['queued', 'running'].includes(b.status);

describe('names on a shared engine (real processes, real Docker)', () => {
  it('jobs a.x and a_x get separate pods and separate caches', { timeout: 240_000 }, async () => {
    const pipeline = `
jobs:
  build:
    image: slipway/busybox:1
    network: offline
    cache:
      key: deps
      paths: [store]
    steps:
      - checkout
      - echo "cache holds=$(cat store/who 2>/dev/null || echo nothing)"; mkdir -p store; cat WHO > store/who; sleep 3
`;
    const dot = gitRepo({ '.slipway.yml': pipeline, WHO: 'a.x\n' });
    const underscore = gitRepo({ '.slipway.yml': pipeline, WHO: 'a_x\n' });
    const dir = project({
      'slipway.server.yml': `agent:\n  executors: 2\n  pull: false\njobs:\n  a.x:\n    repo: ${dot.dir}\n  a_x:\n    repo: ${underscore.dir}\n`,
    });
    const server = await startTestServer(join(dir, 'slipway.server.yml'), join(dir, 'data'));
    const id = server.controllerId();
    try {
      const run = async (job: string): Promise<number> =>
        (await server.post<{ id: number }>(`/api/v1/jobs/${job}/builds`)).body.id;
      // Both at once: their pods exist side by side.
      const [dot1, under1] = [await run('a.x'), await run('a_x')];
      const pods = await until('both pods to run', () => {
        const names = resourcesOf(id).filter((n) => n.endsWith('-primary'));
        return names.length === 2 ? names : undefined;
      });
      expect(new Set(pods).size).toBe(2);
      for (const build of [dot1, under1])
        expect((await server.waitBuild(build, ended)).status).toBe('success');
      expect(await server.log(dot1)).toContain('cache holds=nothing');
      expect(await server.log(under1)).toContain('cache holds=nothing');

      // Each job's next build restores its own cache, not the other's.
      const [dot2, under2] = [await run('a.x'), await run('a_x')];
      for (const build of [dot2, under2])
        expect((await server.waitBuild(build, ended)).status).toBe('success');
      expect(await server.log(dot2)).toContain('cache holds=a.x');
      expect(await server.log(under2)).toContain('cache holds=a_x');
      const caches = execFileSync(
        'docker',
        [
          'volume',
          'ls',
          '-q',
          '--filter',
          `label=dev.slipway.creator=controller:${id}`,
          '--filter',
          'label=dev.slipway.role=cache',
        ],
        { encoding: 'utf8' },
      )
        .split('\n')
        .filter(Boolean);
      expect(caches).toHaveLength(2);
      // Nothing but the two caches is left.
      expect(resourcesOf(id).sort()).toEqual([...caches].sort());
    } finally {
      removePodsOf(id);
    }
  });

  it(
    'two controllers on one engine: one SIGKILLed and restarted adopts only its own pod; the other build goes on untouched',
    { timeout: 240_000 },
    async () => {
      const repo = gitRepo({
        '.slipway.yml': `
jobs:
  work:
    image: slipway/busybox:1
    network: offline
    steps:
      - echo "start"; sleep 20; echo "end"
`,
      });
      const config = (name: string): string =>
        join(
          project({
            [`${name}.yml`]: `agent:\n  pull: false\njobs:\n  app:\n    repo: ${repo.dir}\n`,
          }),
          `${name}.yml`,
        );
      const one = config('one');
      const oneData = join(one, '..', 'data');
      const first = await startTestServer(one, oneData);
      const other = await startTestServer(config('two'), join(project({}), 'data'));
      const [firstId, otherId] = [first.controllerId(), other.controllerId()];
      expect(firstId).not.toBe(otherId);
      try {
        // The same job name and build number on both: the names must still differ.
        const a = (await first.post<{ id: number }>('/api/v1/jobs/app/builds')).body.id;
        const b = (await other.post<{ id: number }>('/api/v1/jobs/app/builds')).body.id;
        expect([a, b]).toEqual([1, 1]);
        await until('both builds to print', async () =>
          (await first.log(a)).includes('start\n') && (await other.log(b)).includes('start\n')
            ? true
            : undefined,
        );
        const otherPods = resourcesOf(otherId);
        expect(otherPods.length).toBeGreaterThan(0);

        first.process.child.kill('SIGKILL');
        await first.process.done;
        const again = await startTestServer(one, oneData);
        await again.process.waitFor(
          /1 attempt\(s\) were running when the controller stopped; adopting/,
        );
        // The other controller's pod is still there, and still its own.
        expect(resourcesOf(otherId)).toEqual(otherPods);

        const adopted = await again.waitBuild(a, ended);
        expect(adopted.status).toBe('success');
        expect(await again.log(a)).toMatch(/start\n[\s\S]*end\n/);
        const untouched = await other.waitBuild(b, ended);
        expect(untouched.status).toBe('success');
        expect(untouched.jobRuns[0]!.attempts).toHaveLength(1);
        const log = await other.log(b);
        expect(log).toMatch(/start\nend\n/);
        expect(log).not.toMatch(/adopted/);
        expect(other.process.output()).not.toMatch(/adopting|removed \d+ pod/);
        expect(again.process.output()).not.toMatch(/removed \d+ pod/);
        await until('no pod of either controller to be left', () =>
          resourcesOf(firstId).length + resourcesOf(otherId).length === 0 ? true : undefined,
        );
      } finally {
        removePodsOf(firstId);
        removePodsOf(otherId);
      }
    },
  );
});
