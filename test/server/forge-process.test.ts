/**
 * Forge semantics through a real `slipway server` process with the real Docker engine and
 * real git repositories: a fork's pull request (a delivery modelled on GitHub's published
 * examples, signed with the job's secret) runs without secrets and without firing
 * `build.branch` guards; a SIGHUP applies changed and new secrets to the next build.
 * Every job checks out its commit as step 0, so the pipelines' own steps count from 1.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startSlipway, type RunningCli } from '../support/cli.ts';
import { gitRepo, type Repo } from '../support/git.ts';
import { project } from '../support/project.ts';
import { delivery } from '../support/webhooks.ts';

const TOKEN = 'forge-process-token';
const HOOK_SECRET = 'forge-process-hook-secret';
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

async function startServer(config: string, dataDir: string): Promise<RunningCli & { url: string }> {
  const server = startSlipway(
    ['server', '--config', config, '--data-dir', dataDir, '--listen', '127.0.0.1:0'],
    { env: { SLIPWAY_ADMIN_TOKEN: TOKEN, SLIPWAY_TEST_HOOK_SECRET: HOOK_SECRET } },
  );
  running.push(server);
  await server.waitFor(/listening on (http:\/\/\S+)/, 30_000);
  return { ...server, url: /listening on (http:\/\/\S+)/.exec(server.output())![1]! };
}

interface BuildJson {
  id: number;
  status: string;
  reason: string;
  branch: string | null;
  pr: number | null;
  prHeadBranch: string | null;
  trust: string;
  jobRuns: { attempts: { steps: { name: string; outcome: string | null }[] }[] }[];
}

async function api<T>(url: string, path: string, init: RequestInit = {}): Promise<T> {
  const response = await fetch(`${url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${TOKEN}`, ...init.headers },
  });
  return (await response.json()) as T;
}

async function finished(url: string, id: number): Promise<BuildJson> {
  for (;;) {
    const build = await api<BuildJson>(url, `/api/v1/builds/${id}`);
    if (['success', 'failure', 'error', 'canceled'].includes(build.status)) return build;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function log(url: string, id: number, step: number): Promise<string> {
  const response = await fetch(`${url}/api/v1/builds/${id}/logs?step=${step}`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  return response.text();
}

/** Publishes a fork's commit in `repo` under `ref`, as a forge keeps a pull request's head. */
function forkCommit(repo: Repo, ref: string): string {
  const fork = mkdtempSync(join(tmpdir(), 'slipway-fork-'));
  const git = (args: string[]): string =>
    execFileSync('git', args, {
      cwd: fork,
      encoding: 'utf8',
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: 'Alice',
        GIT_AUTHOR_EMAIL: 'alice@example.invalid',
        GIT_COMMITTER_NAME: 'Alice',
        GIT_COMMITTER_EMAIL: 'alice@example.invalid',
      },
    }).trim();
  try {
    git(['clone', '-q', '--branch', 'master', repo.dir, '.']);
    git(['commit', '-q', '--allow-empty', '-m', 'Improve the docs']);
    git(['push', '-q', repo.dir, `HEAD:${ref}`]);
    return git(['rev-parse', 'HEAD']);
  } finally {
    rmSync(fork, { recursive: true, force: true });
  }
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

describe('forge semantics in a real slipway server (real Docker)', () => {
  it('runs a fork’s pull request whose head branch is master (GitHub delivery modelled on published examples) with no secret and no master guard', async () => {
    const repo = gitRepo({
      '.slipway.yml': `
on:
  push: { branches: [master] }
  pull_request: { branches: [master] }
jobs:
  check:
    image: slipway/busybox:1
    network: offline
    secrets: [DEPLOY_TOKEN]
    steps:
      - 'if [ -n "\${DEPLOY_TOKEN+set}" ]; then echo "token is set (\${#DEPLOY_TOKEN} chars)"; else echo "token is unset"; fi'
      - 'echo "head=$SLIPWAY_PR_HEAD_BRANCH target=$SLIPWAY_PR_TARGET_BRANCH branch=[$SLIPWAY_BRANCH] pr=$SLIPWAY_PR"'
      - name: deploy
        run: 'echo "DEPLOYING with a token of \${#DEPLOY_TOKEN} chars"'
        if: build.branch == 'master'
`,
    });
    repo.branch('master');
    const master = repo.commit({ 'README.md': 'master\n' });
    const dir = project({
      'deploy-token': 'the-deploy-token-value\n',
      'slipway.server.yml': '',
    });
    writeFileSync(
      join(dir, 'slipway.server.yml'),
      `agent:\n  pull: false\nsecrets:\n  DEPLOY_TOKEN: file:${join(dir, 'deploy-token')}\njobs:\n  app:\n    repo: ${repo.dir}\n    branch: master\n    branches: [master]\n    cancel_older: true\n    webhook_secret: env:SLIPWAY_TEST_HOOK_SECRET\n`,
    );
    const server = await startServer(join(dir, 'slipway.server.yml'), join(dir, 'data'));
    const post = async (name: string, vars: Record<string, string>): Promise<BuildJson> => {
      const signed = delivery('github', name, vars, HOOK_SECRET);
      const response = await fetch(`${server.url}/hooks/github/app`, {
        method: 'POST',
        headers: signed.headers,
        body: signed.payload,
      });
      expect(response.status).toBe(201);
      return ((await response.json()) as { build: BuildJson }).build;
    };

    const push = await post('push', { DELIVERY: 'p-1', BEFORE: '0'.repeat(40), AFTER: master });
    expect((await finished(server.url, push.id)).status).toBe('success');
    expect(await log(server.url, push.id, 1)).toBe('token is set (22 chars)\n');
    expect(await log(server.url, push.id, 3)).toBe('DEPLOYING with a token of 22 chars\n');

    const head = forkCommit(repo, 'refs/pull/7/head');
    const pr = await post('pull-request-opened-fork-master-form', {
      DELIVERY: 'pr-1',
      HEAD_SHA: head,
      BASE_SHA: master,
    });
    const build = await finished(server.url, pr.id);
    expect(build).toMatchObject({
      status: 'success',
      branch: null,
      pr: 7,
      prHeadBranch: 'master',
      trust: 'untrusted',
    });
    expect(await log(server.url, pr.id, 1)).toBe('token is unset\n');
    expect(await log(server.url, pr.id, 2)).toBe('head=master target=master branch=[] pr=7\n');
    expect(build.jobRuns[0]!.attempts[0]!.steps[3]).toMatchObject({
      name: 'deploy',
      outcome: 'skipped',
    });
    const all = await log(server.url, pr.id, -1);
    expect(all).toMatch(/untrusted build: pull request #7 comes from alice\/app/);
    expect(all).toMatch(/secret DEPLOY_TOKEN withheld/);
    expect(await log(server.url, pr.id, 3)).toBe('');
  }, 120_000);

  it('applies a changed and a new `file:` secret on SIGHUP: the next build’s step sees the new values', async () => {
    const step = (name: string): string =>
      `'printf %s "$${name}" | sha256sum; echo "${name} has \${#${name}} chars"'`;
    const pipeline = (secrets: string[]): string =>
      `jobs:\n  show:\n    image: slipway/busybox:1\n    network: offline\n    secrets: [${secrets.join(', ')}]\n    steps:\n${secrets.map((s) => `      - ${step(s)}\n`).join('')}`;
    const repo = gitRepo({ '.slipway.yml': pipeline(['TOKEN']) });
    const dir = project({ token: 'first-value\n', extra: 'an-extra-secret\n' });
    const config = join(dir, 'slipway.server.yml');
    const write = (secrets: string): void =>
      writeFileSync(
        config,
        `agent:\n  pull: false\nsecrets:\n${secrets}jobs:\n  app:\n    repo: ${repo.dir}\n`,
      );
    write(`  TOKEN: file:${join(dir, 'token')}\n`);
    const server = await startServer(config, join(dir, 'data'));
    const trigger = async (): Promise<number> =>
      (await api<{ id: number }>(server.url, '/api/v1/jobs/app/builds', { method: 'POST' })).id;

    const first = await trigger();
    expect((await finished(server.url, first)).status).toBe('success');
    expect(await log(server.url, first, 1)).toBe(
      `${sha256('first-value')}  -\nTOKEN has 11 chars\n`,
    );

    writeFileSync(join(dir, 'token'), 'the-second-value\n');
    write(`  TOKEN: file:${join(dir, 'token')}\n  EXTRA: file:${join(dir, 'extra')}\n`);
    repo.commit({ '.slipway.yml': pipeline(['TOKEN', 'EXTRA']) });
    server.child.kill('SIGHUP');
    await server.waitFor(/configuration reloaded/);

    const second = await trigger();
    const build = await finished(server.url, second);
    expect(build.status).toBe('success');
    expect(await log(server.url, second, 1)).toBe(
      `${sha256('the-second-value')}  -\nTOKEN has 16 chars\n`,
    );
    expect(await log(server.url, second, 2)).toBe(
      `${sha256('an-extra-secret')}  -\nEXTRA has 15 chars\n`,
    );
  }, 120_000);
});
