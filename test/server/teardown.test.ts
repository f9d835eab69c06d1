/**
 * A build is reported finished as soon as its last attempt ended, not when its pod has
 * been removed; the removal still completes, and the agent's drain waits for it. The
 * controller, agent, store and git are real; the backend is the fake one, whose teardown
 * is held open by the test so the order is certain (an engine's removal is too quick to
 * catch in the act).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.ts';
import { DEFAULT_POLICY } from '../../src/backends/backend.ts';
import { createFakeBackend } from '../../src/backends/fake/fake-backend.ts';
import { Controller } from '../../src/server/controller.ts';
import { openStore } from '../../src/store/open.ts';
import { gitRepo } from '../support/git.ts';
import { jobInput } from '../support/jobs.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(): Promise<{
  controller: Controller;
  agent: Agent;
  backend: ReturnType<typeof createFakeBackend>;
  release: () => void;
}> {
  const dataDir = mkdtempSync(join(tmpdir(), 'slipway-teardown-'));
  const store = await openStore(join(dataDir, 'slipway.db'));
  const repo = gitRepo({
    '.slipway.yml': 'jobs:\n  build:\n    image: fake/any\n    steps: [echo hello]\n',
  });
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const backend = createFakeBackend({ onDestroy: () => gate });
  const controller = new Controller({
    store,
    gitCacheDir: join(dataDir, 'git'),
    logCapBytes: 1024 * 1024,
    graceMs: 1000,
    secrets: {},
  });
  const agent = new Agent({
    info: { id: 'fake-agent', name: 'fake', labels: ['linux'], executors: 1, backend: 'fake' },
    backend,
    port: controller,
    workDir: dataDir,
    gitCacheDir: join(dataDir, 'agent-git'),
    policy: DEFAULT_POLICY,
    creator: 'test:teardown',
    pull: false,
  });
  agent.start();
  await store.jobs.put(jobInput('app', repo.dir), Date.now());
  cleanups.push(async () => {
    release();
    await agent.drain();
    await controller.settled();
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return { controller, agent, backend, release };
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('teardown after the build is reported', () => {
  it('reports the build finished while its pod is still being removed; drain waits for the removal', async () => {
    const { controller, agent, backend, release } = await setup();
    const result = await controller.trigger({
      job: 'app',
      cause: 'api',
      causeDetail: 'test',
      event: 'push',
    });
    if (result.kind !== 'created') throw new Error(result.kind);
    const id = result.build.id;
    await until('the build to succeed', async () => {
      const build = await controller.store.builds.build(id);
      return build?.status === 'success';
    });
    // The pod is still there: its removal is held open, yet the build was reported.
    expect(backend.live()).toBe(1);

    let drained = false;
    const drain = agent.drain().then(() => (drained = true));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(drained).toBe(false);
    release();
    await drain;
    expect(backend.live()).toBe(0);
  }, 30_000);

  it('frees the executor when the attempt ends: the next build runs while the last pod is removed', async () => {
    const { controller, backend } = await setup();
    const ids: number[] = [];
    for (let i = 0; i < 2; i++) {
      const result = await controller.trigger({
        job: 'app',
        cause: 'api',
        causeDetail: 'test',
        event: 'push',
      });
      if (result.kind !== 'created') throw new Error(result.kind);
      ids.push(result.build.id);
    }
    // One executor: the second build waits for the first attempt, not for its teardown.
    await until('both builds to succeed', async () => {
      const builds = await Promise.all(ids.map((id) => controller.store.builds.build(id)));
      return builds.every((b) => b?.status === 'success');
    });
    expect(backend.live()).toBe(2);
  }, 30_000);
});
