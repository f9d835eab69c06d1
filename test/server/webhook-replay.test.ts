/**
 * Replays of webhook deliveries from GitHub, GitLab and Gitea, modelled on the forges'
 * published examples (test/fixtures/webhooks/; not captured deliveries: no forge is
 * reachable here), signed with the job's secret and sent to the real `/hooks` route of
 * the app built in-process, with real git repositories (a fork's commits under the forge's
 * pull request refs, as forges keep them) and the embedded agent on the fake backend.
 * The agent link is observed to see what each assignment carries.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.ts';
import { DEFAULT_POLICY } from '../../src/backends/backend.ts';
import { createFakeBackend, type FakeBackend } from '../../src/backends/fake/fake-backend.ts';
import { resolveRef } from '../../src/config/server-config.ts';
import type { Assignment, ControllerPort } from '../../src/protocol/messages.ts';
import { Controller } from '../../src/server/controller.ts';
import { createHttpServer } from '../../src/server/http.ts';
import { openStore, type Store } from '../../src/store/open.ts';
import { gitRepo, type Repo } from '../support/git.ts';
import { jobInput } from '../support/jobs.ts';
import { delivery, type Forge } from '../support/webhooks.ts';

const TOKEN = 'replay-admin-token';
const HOOK_SECRET = 'replay-hook-secret';
const DEPLOY_TOKEN = 'deploy-token-value-4821';
const OTHER_SECRET = 'other-secret-value-9377';
const auth = { authorization: `Bearer ${TOKEN}` };

// Every build hangs in its last step, so the next delivery meets it running. The
// implicit checkout is step 0, so `env ...` is step 1 and `deploy` step 2.
const PIPELINE = `
on:
  push: { branches: [master] }
  pull_request: { branches: [master] }
jobs:
  test:
    image: fake/any
    secrets: [DEPLOY_TOKEN]
    cache: { key: deps, paths: [.deps] }
    steps:
      - env SLIPWAY_PR_HEAD_BRANCH
      - name: deploy
        run: echo DEPLOYING
        if: build.branch == 'master'
      - hang
`;

let store: Store;
let app: FastifyInstance;
let controller: Controller;
let agent: Agent;
let backend: FakeBackend;
let dataDir: string;
const assignments: Assignment[] = [];

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'slipway-replay-'));
  store = await openStore(join(dataDir, 'slipway.db'));
  controller = new Controller({
    store,
    gitCacheDir: join(dataDir, 'git'),
    logCapBytes: 64 * 1024,
    graceMs: 1000,
    secrets: { DEPLOY_TOKEN, OTHER_SECRET },
  });
  // The agent's link, observed: every assignment the controller sends is kept.
  const port: ControllerPort = {
    connect: (link) =>
      controller.connect({
        info: link.info,
        send: (message) => {
          if (message.type === 'assign') assignments.push(message.assignment);
          link.send(message);
        },
      }),
    disconnect: (id) => controller.disconnect(id),
    receive: (id, message) => controller.receive(id, message),
  };
  backend = createFakeBackend();
  agent = new Agent({
    info: { id: 'fake-agent', name: 'fake', labels: ['linux'], executors: 32, backend: 'fake' },
    backend,
    port,
    workDir: dataDir,
    gitCacheDir: join(dataDir, 'agent-git'),
    policy: DEFAULT_POLICY,
    creator: 'test:replay',
    pull: false,
  });
  agent.start();
  app = await createHttpServer({
    controller,
    adminToken: TOKEN,
    webhookBodyBytes: 256 * 1024,
    resolveRef: (ref, key) => resolveRef(ref, key, { HOOK_SECRET }),
    reload: () => Promise.reject(new Error('no configuration file')),
    version: 'test',
  });
});

afterAll(async () => {
  for (const build of await store.builds.unfinishedBuilds()) await controller.cancel(build.id);
  await agent.drain();
  await app.close();
  await store.close();
  rmSync(dataDir, { recursive: true, force: true });
});

interface StepJson {
  name: string;
  status: string;
  outcome: string | null;
  reason: string;
}
interface BuildJson {
  id: number;
  number: number;
  status: string;
  reason: string;
  event: string;
  branch: string | null;
  pr: number | null;
  prTargetBranch: string | null;
  prHeadBranch: string | null;
  prHeadRepo: string | null;
  ref: string | null;
  trust: string;
  trustReason: string | null;
  sha: string;
  commitMessage: string | null;
  commitAuthor: string | null;
  jobRuns: { attempts: { id: number; steps: StepJson[] }[] }[];
}

async function getBuild(id: number): Promise<BuildJson> {
  return (await app.inject({ url: `/api/v1/builds/${id}`, headers: auth })).json<BuildJson>();
}

/** Waits until the build's last step (`hang`) runs: every earlier step has ended. */
async function hanging(id: number): Promise<BuildJson> {
  for (let i = 0; i < 1500; i++) {
    const build = await getBuild(id);
    const steps = build.jobRuns[0]?.attempts.at(-1)?.steps ?? [];
    if (steps.some((s) => s.name === 'hang' && s.status === 'running')) return build;
    if (['success', 'failure', 'error', 'canceled'].includes(build.status))
      throw new Error(`build ${id} ended ${build.status}: ${build.reason}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`build ${id} never reached its hang step`);
}

async function finished(id: number): Promise<BuildJson> {
  for (;;) {
    const build = await getBuild(id);
    if (['success', 'failure', 'error', 'canceled'].includes(build.status)) return build;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function stepLog(id: number, step: number): Promise<string> {
  return (await app.inject({ url: `/api/v1/builds/${id}/logs?step=${step}`, headers: auth })).body;
}

function assignmentOf(buildId: number): Assignment {
  const found = assignments.filter((a) => a.buildId === buildId).at(-1);
  if (!found) throw new Error(`no assignment for build ${buildId}`);
  return found;
}

/** The environment the fake backend saw for the build's steps, and its cache volumes. */
function podOf(buildId: number): { env: Record<string, string>; caches: string[] } {
  const runId = assignmentOf(buildId).runId;
  const pod = backend.pods.find((p) => p.spec.owner.runId === runId);
  if (!pod) throw new Error(`no pod for build ${buildId}`);
  const step = pod.execs.find((e) => e.command.env.SLIPWAY_STEP !== undefined);
  return { env: step?.command.env ?? {}, caches: pod.spec.caches.map((c) => c.volume) };
}

let deliveries = 0;
async function send(
  forge: Forge,
  job: string,
  name: string,
  vars: Record<string, string>,
): Promise<{ status: number; body: { queued: boolean; reason?: string; build?: BuildJson } }> {
  deliveries += 1;
  const signed = delivery(
    forge,
    name,
    { DELIVERY: `delivery-${deliveries}`, WEBHOOK_UUID: `webhook-${deliveries}`, ...vars },
    HOOK_SECRET,
  );
  const response = await app.inject({
    method: 'POST',
    url: `/hooks/${forge}/${job}`,
    headers: signed.headers,
    payload: signed.payload,
  });
  return { status: response.statusCode, body: response.json() };
}

function git(dir: string, args: string[], author = 'Alice <alice@example.invalid>'): string {
  const [, name = '', email = ''] = /^(.*) <(.*)>$/.exec(author) ?? [];
  return execFileSync('git', args, {
    cwd: dir,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: name,
      GIT_AUTHOR_EMAIL: email,
      GIT_COMMITTER_NAME: name,
      GIT_COMMITTER_EMAIL: email,
    },
  }).trim();
}

/**
 * A fork of `repo` whose `master` gets a new commit, published in `repo` under `ref` the
 * way forges keep a pull request's head (`refs/pull/7/head`), and on no branch of `repo`.
 */
function forkCommit(repo: Repo, ref: string, message: string): string {
  const fork = mkdtempSync(join(tmpdir(), 'slipway-fork-'));
  try {
    git(fork, ['clone', '-q', '--branch', 'master', repo.dir, '.']);
    git(fork, ['commit', '-q', '--allow-empty', '-m', message]);
    git(fork, ['push', '-q', '--force', repo.dir, `HEAD:${ref}`]);
    return git(fork, ['rev-parse', 'HEAD']);
  } finally {
    rmSync(fork, { recursive: true, force: true });
  }
}

/** A repository with the pipeline on master and a `changes` branch; the job(s) on it. */
async function project(jobs: string[]): Promise<{ repo: Repo; master: string; changes: string }> {
  const repo = gitRepo({ '.slipway.yml': PIPELINE });
  repo.branch('master');
  const master = repo.commit(
    { 'README.md': 'master\n' },
    'Fix the parser\n\nThe parser read one byte past the end.',
  );
  repo.branch('changes');
  const changes = repo.commit({ 'README.md': 'changes\n' }, 'Tidy the changes');
  repo.branch('master');
  for (const name of jobs)
    await store.jobs.put(
      jobInput(name, repo.dir, {
        defaultBranch: 'master',
        branches: ['master'],
        cancelOlder: true,
        webhookSecret: 'env:HOOK_SECRET',
      }),
      Date.now(),
    );
  return { repo, master, changes };
}

describe('GitHub deliveries (modelled on published examples)', () => {
  let repo: Repo;
  let master: string;
  let changes: string;
  let masterBuild: BuildJson;
  let forkBuild: BuildJson;
  const zero = '0'.repeat(40);

  beforeAll(async () => {
    ({ repo, master, changes } = await project(['gh']));
  });

  it('builds a push in JSON and in GitHub’s default form encoding, with the commit message and author from git', async () => {
    const json = await send('github', 'gh', 'push', { BEFORE: zero, AFTER: master });
    expect(json.status).toBe(201);
    const first = json.body.build!;
    expect(first).toMatchObject({
      branch: 'master',
      pr: null,
      trust: 'trusted',
      commitMessage: 'Fix the parser\n\nThe parser read one byte past the end.',
      commitAuthor: 'Test <test@example.invalid>',
    });
    await hanging(first.id);

    const form = await send('github', 'gh', 'push-form', { BEFORE: zero, AFTER: master });
    expect(form.status).toBe(201);
    masterBuild = await hanging(form.body.build!.id);
    expect(masterBuild).toMatchObject({ branch: 'master', sha: master });
    // cancel_older: a newer build of master supersedes the older one.
    expect((await finished(first.id)).reason).toMatch(/superseded by build #2 on master/);
    // The trusted build on master gets the secret its job names, and only that one.
    expect(assignmentOf(masterBuild.id).secrets).toEqual({ DEPLOY_TOKEN });
    expect(assignmentOf(masterBuild.id).untrusted).toBeUndefined();
    expect(podOf(masterBuild.id).env.DEPLOY_TOKEN).toBe(DEPLOY_TOKEN);
    // The deploy guard fires on the real master.
    expect(masterBuild.jobRuns[0]!.attempts[0]!.steps[2]).toMatchObject({
      name: 'deploy',
      outcome: 'success',
    });
  });

  it('runs a fork’s pull request whose head branch is master (form encoded) untrusted: no secrets, no branch, caches apart, master not canceled', async () => {
    const head = forkCommit(repo, 'refs/pull/7/head', 'Improve the docs');
    const response = await send('github', 'gh', 'pull-request-opened-fork-master-form', {
      HEAD_SHA: head,
      BASE_SHA: master,
    });
    expect(response.status).toBe(201);
    forkBuild = await hanging(response.body.build!.id);
    expect(forkBuild).toMatchObject({
      event: 'pull_request',
      branch: null,
      pr: 7,
      prTargetBranch: 'master',
      prHeadBranch: 'master',
      prHeadRepo: 'alice/app',
      ref: 'refs/pull/7/head',
      sha: head,
      trust: 'untrusted',
      commitMessage: 'Improve the docs',
      commitAuthor: 'Alice <alice@example.invalid>',
    });
    expect(forkBuild.trustReason).toMatch(
      /pull request #7 comes from alice\/app, not from acme\/app/,
    );

    // The real master build runs on: a pull request is no build of master.
    expect((await getBuild(masterBuild.id)).status).toBe('running');
    // Nothing secret reaches the agent or the step; the variable is unset, not empty.
    const assignment = assignmentOf(forkBuild.id);
    expect(assignment.secrets).toEqual({});
    expect(assignment.untrusted).toMatch(/alice\/app/);
    const pod = podOf(forkBuild.id);
    expect(Object.keys(pod.env)).not.toContain('DEPLOY_TOKEN');
    expect(Object.keys(pod.env)).not.toContain('OTHER_SECRET');
    expect(pod.env).toMatchObject({
      SLIPWAY_BRANCH: '',
      SLIPWAY_PR: '7',
      SLIPWAY_PR_TARGET_BRANCH: 'master',
      SLIPWAY_PR_HEAD_BRANCH: 'master',
      SLIPWAY_PR_HEAD_REPO: 'alice/app',
    });
    // Its caches are not the trusted branches' caches.
    expect(pod.caches).toHaveLength(1);
    expect(podOf(masterBuild.id).caches).not.toContain(pod.caches[0]);
    // `if: build.branch == 'master'` does not fire; the build says why it has no secrets.
    expect(forkBuild.jobRuns[0]!.attempts[0]!.steps[2]).toMatchObject({
      name: 'deploy',
      outcome: 'skipped',
    });
    const progress = await stepLog(forkBuild.id, -1);
    expect(progress).toMatch(/untrusted build: pull request #7 comes from alice\/app/);
    expect(progress).toMatch(/secret DEPLOY_TOKEN withheld: the variable is unset/);
    expect(await stepLog(forkBuild.id, 1)).toBe('master\n');
  });

  it('a new commit on the fork’s pull request (JSON) cancels the older build of that pull request only', async () => {
    const head = forkCommit(repo, 'refs/pull/7/head', 'Improve the docs more');
    const response = await send('github', 'gh', 'pull-request-synchronize-fork-master', {
      HEAD_SHA: head,
      BASE_SHA: master,
      BEFORE: forkBuild.sha,
    });
    expect(response.status).toBe(201);
    const newer = await hanging(response.body.build!.id);
    expect(newer).toMatchObject({ pr: 7, branch: null, trust: 'untrusted', sha: head });
    expect((await finished(forkBuild.id)).reason).toMatch(
      new RegExp(`superseded by build #${newer.number} of pull request #7`),
    );
    expect((await getBuild(masterBuild.id)).status).toBe('running');
    await controller.cancel(newer.id);
  });

  it('filters a same-repository pull request by its target branch (on.pull_request.branches, the job’s branches), trusted, filed under no branch', async () => {
    const opened = await send('github', 'gh', 'pull-request-opened-same-repo', {
      HEAD_SHA: changes,
      BASE_SHA: master,
    });
    expect(opened.status).toBe(201);
    const build = await hanging(opened.body.build!.id);
    expect(build).toMatchObject({
      branch: null,
      pr: 8,
      prTargetBranch: 'master',
      prHeadBranch: 'changes',
      prHeadRepo: 'acme/app',
      ref: 'refs/pull/8/head',
      trust: 'trusted',
      trustReason: null,
    });
    expect(assignmentOf(build.id).secrets).toEqual({ DEPLOY_TOKEN });
    expect(build.jobRuns[0]!.attempts[0]!.steps[2]).toMatchObject({
      name: 'deploy',
      outcome: 'skipped',
    });

    const synchronized = await send('github', 'gh', 'pull-request-synchronize-same-repo-form', {
      HEAD_SHA: changes,
      BASE_SHA: master,
      BEFORE: changes,
    });
    expect(synchronized.status).toBe(201);
    expect((await finished(build.id)).status).toBe('canceled');
    await controller.cancel(synchronized.body.build!.id);
    expect((await getBuild(masterBuild.id)).status).toBe('running');
  });

  it('does not build a pull request into a branch outside the job’s branches, whatever its head branch is called', async () => {
    const before = (await store.builds.list({ limit: 1000 })).length;
    const head = forkCommit(repo, 'refs/pull/9/head', 'Backport');
    const response = await send('github', 'gh', 'pull-request-opened-fork-into-main', {
      HEAD_SHA: head,
      BASE_SHA: master,
    });
    expect(response.status).toBe(202);
    expect(response.body.reason).toMatch(
      /the target branch main of pull request #9 is not in the job's branches/,
    );
    expect((await store.builds.list({ limit: 1000 })).length).toBe(before);
    await controller.cancel(masterBuild.id);
  });
});

describe('GitLab deliveries (modelled on published examples)', () => {
  let repo: Repo;
  let master: string;

  beforeAll(async () => {
    ({ repo, master } = await project(['gl-one', 'gl-two']));
  });

  it('builds one push for each of two hooks of a project (one event UUID), and a retry of either only once', async () => {
    const vars = { BEFORE: '0'.repeat(40), AFTER: master, EVENT_UUID: 'event-shared-1' };
    const one = await send('gitlab', 'gl-one', 'push', { ...vars, IDEMPOTENCY_KEY: 'key-one' });
    const two = await send('gitlab', 'gl-two', 'push', { ...vars, IDEMPOTENCY_KEY: 'key-two' });
    expect(one.status).toBe(201);
    expect(two.status).toBe(201);
    expect(two.body.build).toMatchObject({ branch: 'master', sha: master });
    const retry = await send('gitlab', 'gl-one', 'push', { ...vars, IDEMPOTENCY_KEY: 'key-one' });
    expect(retry.status).toBe(200);
    expect(retry.body).toMatchObject({ queued: false, buildId: one.body.build!.id });
    for (const id of [one.body.build!.id, two.body.build!.id]) await controller.cancel(id);
  });

  it('builds a fork’s merge request at refs/merge-requests/N/head, untrusted; an update without oldrev builds nothing, one with new commits builds', async () => {
    const head = forkCommit(repo, 'refs/merge-requests/3/head', 'Improve the docs');
    const vars = { HEAD_SHA: head, EVENT_UUID: 'event-mr-open', IDEMPOTENCY_KEY: 'key-mr-open' };
    const opened = await send('gitlab', 'gl-one', 'merge-request-open-fork', vars);
    expect(opened.status).toBe(201);
    const build = await hanging(opened.body.build!.id);
    expect(build).toMatchObject({
      branch: null,
      pr: 3,
      prTargetBranch: 'master',
      prHeadBranch: 'master',
      prHeadRepo: 'alice/app',
      ref: 'refs/merge-requests/3/head',
      sha: head,
      trust: 'untrusted',
    });
    expect(assignmentOf(build.id).secrets).toEqual({});
    expect(build.jobRuns[0]!.attempts[0]!.steps[2]).toMatchObject({
      name: 'deploy',
      outcome: 'skipped',
    });

    const before = (await store.builds.list({ limit: 1000 })).length;
    for (let i = 0; i < 3; i++) {
      const edited = await send('gitlab', 'gl-one', 'merge-request-update-title-only', {
        HEAD_SHA: head,
        EVENT_UUID: `event-mr-title-${i}`,
        IDEMPOTENCY_KEY: `key-mr-title-${i}`,
      });
      expect(edited.status).toBe(202);
      expect(edited.body.reason).toMatch(/update without new commits \(no oldrev\)/);
    }
    expect((await store.builds.list({ limit: 1000 })).length).toBe(before);

    const newer = forkCommit(repo, 'refs/merge-requests/3/head', 'Improve the docs more');
    const updated = await send('gitlab', 'gl-one', 'merge-request-update-new-commits', {
      HEAD_SHA: newer,
      OLDREV: head,
      EVENT_UUID: 'event-mr-update',
      IDEMPOTENCY_KEY: 'key-mr-update',
    });
    expect(updated.status).toBe(201);
    expect(updated.body.build).toMatchObject({ pr: 3, sha: newer, trust: 'untrusted' });
    expect((await finished(build.id)).reason).toMatch(/of pull request #3/);
    await controller.cancel(updated.body.build!.id);
  });
});

describe('Gitea deliveries (modelled on published examples)', () => {
  let repo: Repo;
  let master: string;
  let changes: string;

  beforeAll(async () => {
    ({ repo, master, changes } = await project(['gt']));
  });

  it('builds a push, and a pull request with its target, head and refs/pull/N/head', async () => {
    const push = await send('gitea', 'gt', 'push', { BEFORE: '0'.repeat(40), AFTER: master });
    expect(push.status).toBe(201);
    expect(push.body.build).toMatchObject({ branch: 'master', sha: master, trust: 'trusted' });
    await hanging(push.body.build!.id);

    const opened = await send('gitea', 'gt', 'pull-request-opened', {
      HEAD_SHA: changes,
      BASE_SHA: master,
    });
    expect(opened.status).toBe(201);
    expect(opened.body.build).toMatchObject({
      branch: null,
      pr: 5,
      prTargetBranch: 'master',
      prHeadBranch: 'changes',
      prHeadRepo: 'acme/app',
      ref: 'refs/pull/5/head',
      trust: 'trusted',
    });
    expect((await getBuild(push.body.build!.id)).status).toBe('running');

    const head = forkCommit(repo, 'refs/pull/6/head', 'From the fork');
    const synced = await send('gitea', 'gt', 'pull-request-synchronized-fork', {
      HEAD_SHA: head,
      BASE_SHA: master,
    });
    expect(synced.status).toBe(201);
    expect(synced.body.build).toMatchObject({
      branch: null,
      pr: 6,
      prHeadBranch: 'master',
      prHeadRepo: 'alice/app',
      trust: 'untrusted',
    });
    await hanging(synced.body.build!.id);
    expect(assignmentOf(synced.body.build!.id).secrets).toEqual({});
    for (const build of [push.body.build!, opened.body.build!, synced.body.build!])
      await controller.cancel(build.id);
  });
});
