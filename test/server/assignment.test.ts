/**
 * What an assignment carries, observed on the agent link of an in-process controller with
 * a real store and a real git repository: only the secrets its job names, with the values
 * in force when it is dispatched. The link plays an agent that records what it is sent and
 * reports each attempt finished when told to cancel it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Assignment } from '../../src/protocol/messages.ts';
import { Controller } from '../../src/server/controller.ts';
import { openStore, type Store } from '../../src/store/open.ts';
import { gitRepo } from '../support/git.ts';
import { jobInput } from '../support/jobs.ts';

const PIPELINE = `
jobs:
  publish:
    image: fake/any
    secrets: [NPM_TOKEN]
    steps: [hang]
  deploy:
    image: fake/any
    secrets: [DEPLOY_KEY, NPM_TOKEN]
    steps: [hang]
  lint:
    image: fake/any
    steps: [hang]
`;

let store: Store;
let controller: Controller;
let dataDir: string;
const received: Assignment[] = [];
let finishing: Promise<void> = Promise.resolve();

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'slipway-assign-'));
  store = await openStore(join(dataDir, 'slipway.db'));
  controller = new Controller({
    store,
    gitCacheDir: join(dataDir, 'git'),
    logCapBytes: 64 * 1024,
    graceMs: 1000,
    secrets: { NPM_TOKEN: 'npm-1', DEPLOY_KEY: 'deploy-1', UNRELATED: 'unrelated-1' },
  });
  controller.connect({
    info: { id: 'recorder', name: 'recorder', labels: [], executors: 16, backend: 'fake' },
    send: (message) => {
      if (message.type === 'assign') received.push(message.assignment);
      if (message.type === 'cancel')
        finishing = controller.receive('recorder', {
          type: 'attempt.finished',
          attemptId: message.attemptId,
          outcome: 'canceled',
          reason: message.reason,
        });
    },
  });
  const repo = gitRepo({ '.slipway.yml': PIPELINE });
  await store.jobs.put(jobInput('app', repo.dir), Date.now());
});

afterAll(async () => {
  await controller.settled();
  await store.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Triggers a build and returns the assignments of its three jobs, by job name. */
async function assigned(): Promise<Record<string, Assignment>> {
  const result = await controller.trigger({
    job: 'app',
    cause: 'api',
    causeDetail: 'test',
    event: 'api',
  });
  if (result.kind !== 'created') throw new Error(`not created: ${result.kind}`);
  const buildId = result.build.id;
  for (let i = 0; i < 500; i++) {
    const mine = received.filter((a) => a.buildId === buildId);
    if (mine.length === 3) {
      await controller.cancel(buildId);
      while ((await store.builds.build(buildId))?.status !== 'canceled') await finishing;
      return Object.fromEntries(mine.map((a) => [a.job.id, a]));
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('the build was not dispatched');
}

describe('assignments on the agent link', () => {
  it('carry only the secrets each job names, never the others', async () => {
    const byJob = await assigned();
    expect(byJob.publish!.secrets).toEqual({ NPM_TOKEN: 'npm-1' });
    expect(byJob.deploy!.secrets).toEqual({ DEPLOY_KEY: 'deploy-1', NPM_TOKEN: 'npm-1' });
    expect(byJob.lint!.secrets).toEqual({});
  });

  it('carry the values in force when they are dispatched, after the secrets were replaced', async () => {
    controller.setSecrets({ NPM_TOKEN: 'npm-2', DEPLOY_KEY: 'deploy-2' });
    const byJob = await assigned();
    expect(byJob.publish!.secrets).toEqual({ NPM_TOKEN: 'npm-2' });
    expect(byJob.deploy!.secrets).toEqual({ DEPLOY_KEY: 'deploy-2', NPM_TOKEN: 'npm-2' });
  });
});
