/**
 * The lease reaper on an in-process controller with a real store and a real git
 * repository, on the controller's own clock (a clock the test moves). The agents are
 * links played by the test (no remote agent exists yet): one takes an attempt and goes
 * away without a word, another is connected but silent, a third takes the retry.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Assignment, ControllerMessage } from '../../src/protocol/messages.ts';
import { Controller } from '../../src/server/controller.ts';
import { openStore, type Store } from '../../src/store/open.ts';
import { gitRepo } from '../support/git.ts';
import { jobInput } from '../support/jobs.ts';

const LEASE = 60_000;

let store: Store;
let controller: Controller;
let dataDir: string;
let clock: number;

beforeEach(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'slipway-lease-'));
  store = await openStore(join(dataDir, 'slipway.db'));
  clock = 1_000_000;
  controller = new Controller({
    store,
    gitCacheDir: join(dataDir, 'git'),
    logCapBytes: 64 * 1024,
    graceMs: 1000,
    secrets: {},
    now: () => clock,
    leaseMs: LEASE,
    log: () => undefined,
  });
});

afterEach(async () => {
  controller.close();
  await controller.settled();
  await store.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** A test-played agent: records what it is sent. */
function agent(id: string): { assigned: Assignment[]; received: ControllerMessage[] } {
  const seen = { assigned: [] as Assignment[], received: [] as ControllerMessage[] };
  controller.connect({
    info: { id, name: id, labels: [], executors: 1, backend: 'fake' },
    send: (message) => {
      seen.received.push(message);
      if (message.type === 'assign') seen.assigned.push(message.assignment);
    },
  });
  return seen;
}

async function until<T>(what: () => T | undefined, label: string): Promise<T> {
  for (let i = 0; i < 500; i++) {
    await controller.settled();
    const value = what();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out waiting for ${label}`);
}

async function triggered(pipeline: string): Promise<number> {
  const repo = gitRepo({ '.slipway.yml': pipeline });
  await store.jobs.put(jobInput('app', repo.dir), clock);
  const result = await controller.trigger({
    job: 'app',
    cause: 'api',
    causeDetail: 'test',
    event: 'api',
  });
  if (result.kind !== 'created') throw new Error(`not created: ${result.kind}`);
  return result.build.id;
}

describe('the lease reaper', () => {
  it('ends the attempt of an agent that went away as agent_lost after one lease, and the retry runs elsewhere', async () => {
    const gone = agent('gone');
    const buildId = await triggered(`
jobs:
  test:
    image: fake/any
    retry: { max: 1, on: infra }
    steps: [hang]
`);
    const first = await until(() => gone.assigned[0], 'the first assignment');
    controller.disconnect('gone');

    // Within the lease nothing happens: a short cut is not a lost agent.
    clock += LEASE - 1;
    expect(await controller.reapLeases()).toEqual([]);
    expect(await store.builds.attempt(first.attemptId)).toMatchObject({ status: 'running' });

    clock += 2;
    expect(await controller.reapLeases()).toEqual([first.attemptId]);
    const lost = await store.builds.attempt(first.attemptId);
    expect(lost).toMatchObject({ status: 'error', outcome: 'infra_error' });
    expect(lost!.reason).toMatch(/^agent_lost: the agent gone did not renew its lease/);

    // retry.on: infra takes it again, on the agent that is there.
    const other = agent('other');
    const second = await until(() => other.assigned[0], 'the retry');
    expect(second).toMatchObject({ buildId, attempt: 2 });
    await controller.receive('other', {
      type: 'attempt.finished',
      attemptId: second.attemptId,
      outcome: 'success',
      reason: 'exit code 0',
    });
    expect(await store.builds.build(buildId)).toMatchObject({ status: 'success' });
  });

  it('ends the build as an error when no retry is asked for, and a late report changes nothing', async () => {
    const gone = agent('gone');
    const buildId = await triggered(`
jobs:
  test:
    image: fake/any
    steps: [hang]
`);
    const first = await until(() => gone.assigned[0], 'the assignment');
    controller.disconnect('gone');
    clock += LEASE + 1;
    await controller.reapLeases();
    const build = await store.builds.build(buildId);
    expect(build).toMatchObject({ status: 'error' });
    expect(build!.reason).toMatch(/^test: agent_lost/);
    // The agent comes back and reports success: the ended attempt stays as it ended.
    await controller.receive('gone', {
      type: 'attempt.finished',
      attemptId: first.attemptId,
      outcome: 'success',
      reason: 'exit code 0',
    });
    expect(await store.builds.attempt(first.attemptId)).toMatchObject({ status: 'error' });
    expect(await store.builds.build(buildId)).toMatchObject({ status: 'error' });
  });

  it('keeps the attempts of a connected agent that says nothing for many leases', async () => {
    const quiet = agent('quiet');
    await triggered(`
jobs:
  test:
    image: fake/any
    steps: [hang]
`);
    const only = await until(() => quiet.assigned[0], 'the assignment');
    for (let round = 0; round < 5; round++) {
      clock += LEASE / 2;
      expect(await controller.reapLeases()).toEqual([]);
    }
    expect(await store.builds.attempt(only.attemptId)).toMatchObject({
      status: 'running',
      lease_until: clock + LEASE,
    });
    expect(quiet.received.filter((m) => m.type === 'cancel')).toEqual([]);
  });

  it('gives attempts kept for adoption after a restart a whole lease, and the adopting agent keeps them', async () => {
    const before = agent('embedded');
    await triggered(`
jobs:
  test:
    image: fake/any
    steps: [hang]
`);
    const running = await until(() => before.assigned[0], 'the assignment');
    // The controller stops for ten leases; a new one starts on the same store.
    controller.close();
    await controller.settled();
    clock += 10 * LEASE;
    controller = new Controller({
      store,
      gitCacheDir: join(dataDir, 'git'),
      logCapBytes: 64 * 1024,
      graceMs: 1000,
      secrets: {},
      now: () => clock,
      leaseMs: LEASE,
      log: () => undefined,
    });
    expect(await controller.recover('embedded')).toHaveLength(1);
    expect(await controller.reapLeases()).toEqual([]);
    const after = agent('embedded');
    await until(() => after.received.find((m) => m.type === 'adopt'), 'the adopt message');
    for (let round = 0; round < 4; round++) {
      clock += LEASE / 2;
      expect(await controller.reapLeases()).toEqual([]);
    }
    expect(await store.builds.attempt(running.attemptId)).toMatchObject({ status: 'running' });
  });

  it('ends attempts kept for adoption when their agent does not come back within a lease', async () => {
    const before = agent('embedded');
    await triggered(`
jobs:
  test:
    image: fake/any
    steps: [hang]
`);
    const running = await until(() => before.assigned[0], 'the assignment');
    controller.disconnect('embedded');
    expect(await controller.recover('embedded')).toHaveLength(1);
    clock += LEASE + 1;
    expect(await controller.reapLeases()).toEqual([running.attemptId]);
  });
});
