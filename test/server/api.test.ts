/**
 * The controller's HTTP API in-process (fastify inject) on a temporary store, with real
 * git repositories and the embedded agent on the fake backend (fast; Docker is covered
 * by test/server/server-process.test.ts).
 */
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.ts';
import { DEFAULT_POLICY } from '../../src/backends/backend.ts';
import { createFakeBackend } from '../../src/backends/fake/fake-backend.ts';
import { resolveRef } from '../../src/config/server-config.ts';
import { loadKeyring } from '../../src/credentials/keyring.ts';
import { CredentialVault } from '../../src/credentials/vault.ts';
import { Controller } from '../../src/server/controller.ts';
import { createHttpServer } from '../../src/server/http.ts';
import { openStore, type Store } from '../../src/store/open.ts';
import { gitRepo, type Repo } from '../support/git.ts';
import { jobInput } from '../support/jobs.ts';

const TOKEN = 'test-admin-token';
const HOOK_SECRET = 'webhook-secret-value';
const auth = { authorization: `Bearer ${TOKEN}` };

const PIPELINE = `
on:
  push:
    branches: [main, 'feature/*']
  pull_request: {}
  manual:
    inputs:
      level:
        type: choice
        options: [low, high]
        default: low
      count:
        type: number
        required: false
jobs:
  build:
    image: fake/any
    steps:
      - echo building at level \${{ inputs.level }}
  test:
    image: fake/any
    needs: [build]
    steps:
      - echo testing; echo SECRET is $TOKEN_VALUE
    env:
      TOKEN_VALUE: \${{ inputs.level }}
  flaky:
    image: fake/any
    retry: { max: 1, on: [infra] }
    steps:
      - vanish
`;

let store: Store;
let app: FastifyInstance;
let controller: Controller;
let agent: Agent;
let repo: Repo;
let dataDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'slipway-api-'));
  store = await openStore(join(dataDir, 'slipway.db'));
  repo = gitRepo({ '.slipway.yml': PIPELINE, 'README.md': 'hello\n' });
  controller = new Controller({
    store,
    gitCacheDir: join(dataDir, 'git'),
    logCapBytes: 64 * 1024,
    graceMs: 1000,
    secrets: {},
  });
  agent = new Agent({
    info: {
      id: 'fake-agent',
      name: 'fake',
      labels: ['linux', 'fake'],
      executors: 4,
      backend: 'fake',
    },
    backend: createFakeBackend(),
    port: controller,
    workDir: dataDir,
    gitCacheDir: join(dataDir, 'agent-git'),
    policy: DEFAULT_POLICY,
    creator: 'test:api',
    pull: false,
  });
  agent.start();
  app = await createHttpServer({
    controller,
    adminToken: TOKEN,
    webhookBodyBytes: 4096,
    resolveRef: (ref, key) => resolveRef(ref, key, { HOOK_SECRET }),
    reload: () => Promise.reject(new Error('no configuration file')),
    version: 'test',
    credentials: await CredentialVault.open(store.credentials, loadKeyring({ dataDir })),
  });
  await store.jobs.put(jobInput('app', repo.dir, { webhookSecret: 'env:HOOK_SECRET' }), Date.now());
});

afterAll(async () => {
  await agent.drain();
  await app.close();
  await store.close();
  rmSync(dataDir, { recursive: true, force: true });
});

interface BuildJson {
  id: number;
  number: number;
  status: string;
  reason: string;
  sha: string;
  branch: string | null;
  diagnostics: { line: number; column: number; code: string; message: string }[];
  jobRuns: {
    name: string;
    status: string;
    outcome: string | null;
    attempts: {
      id: number;
      number: number;
      outcome: string | null;
      reason: string;
      steps: {
        name: string;
        outcome: string | null;
        truncated: boolean;
        startedAt: number | null;
        finishedAt: number | null;
      }[];
    }[];
  }[];
}

async function api<T>(
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  url: string,
  payload?: unknown,
): Promise<{ status: number; body: T }> {
  const response = await app.inject({
    method,
    url,
    headers: auth,
    ...(payload !== undefined ? { payload: payload as object } : {}),
  });
  return { status: response.statusCode, body: (response.body ? response.json() : undefined) as T };
}

/** Commits `pipeline` on `branch` (staying there) and triggers a build of it. */
async function triggerOn<T>(
  branch: string,
  pipeline: string,
): Promise<{ status: number; body: T }> {
  repo.branch(branch);
  repo.commit({ '.slipway.yml': pipeline });
  return api<T>('POST', '/api/v1/jobs/app/builds', { branch });
}

async function finished(id: number): Promise<BuildJson> {
  for (;;) {
    const { body } = await api<BuildJson>('GET', `/api/v1/builds/${id}`);
    if (['success', 'failure', 'error', 'canceled'].includes(body.status)) return body;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function buildCount(): Promise<number> {
  return (await store.builds.list({ limit: 1000 })).length;
}

function signGithub(body: string, secret = HOOK_SECRET): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

describe('the API', () => {
  it('answers health and readiness without a token', async () => {
    expect((await app.inject({ url: '/readyz' })).json()).toEqual({ status: 'ready' });
    controller.setDraining(true);
    const draining = await app.inject({ url: '/readyz' });
    controller.setDraining(false);
    expect(draining.statusCode).toBe(503);
    expect(draining.json()).toMatchObject({ reason: 'draining' });
  });

  it('refuses calls without the admin token, with the one error shape', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong' }]) {
      const response = await app.inject({ method: 'GET', url: '/api/v1/builds', headers });
      expect(response.statusCode).toBe(401);
      expect(response.json()).toMatchObject({
        statusCode: 401,
        code: 'unauthorized',
        error: 'Unauthorized',
      });
    }
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200);
  });

  it('serves its OpenAPI document behind the token', async () => {
    // What it documents is test/server/openapi.test.ts.
    expect((await app.inject({ url: '/api/v1/openapi.json' })).statusCode).toBe(401);
    const doc = (await app.inject({ url: '/api/v1/openapi.json', headers: auth })).json<{
      paths: Record<string, object>;
    }>();
    expect(doc.paths['/api/v1/builds/{id}']).toHaveProperty('get');
  });

  it('runs a manual build through the DAG with inputs, retries infra errors, and stores every step', async () => {
    const created = await api<{ id: number; number: number; status: string }>(
      'POST',
      '/api/v1/jobs/app/builds',
      { inputs: { level: 'high' } },
    );
    expect(created.status).toBe(201);
    const build = await finished(created.body.id);
    // `flaky` vanishes twice (an infra error, retried once) and fails the build as infrastructure.
    expect(build.status).toBe('error');
    const byName = Object.fromEntries(build.jobRuns.map((r) => [r.name, r]));
    expect(byName.build!.outcome).toBe('success');
    expect(byName.test!.outcome).toBe('success');
    expect(byName.flaky!.attempts.map((a) => a.outcome)).toEqual(['infra_error', 'infra_error']);
    const step = byName.build!.attempts[0]!.steps[1]!;
    expect(step.startedAt).not.toBeNull();
    expect(step.finishedAt).toBeGreaterThanOrEqual(step.startedAt!);
    const log = await app.inject({
      url: `/api/v1/builds/${build.id}/logs?attempt=${byName.build!.attempts[0]!.id}&step=1`,
      headers: auth,
    });
    expect(log.body).toBe('building at level high\n');
  });

  it('refuses invalid inputs with 422 and stores nothing', async () => {
    const before = await buildCount();
    const response = await api<{ code: string; message: string }>(
      'POST',
      '/api/v1/jobs/app/builds',
      { inputs: { level: 'extreme' } },
    );
    expect(response.status).toBe(422);
    expect(response.body.code).toBe('invalid_inputs');
    expect(response.body.message).toMatch(/level/);
    const unknown = await api<{ code: string }>('POST', '/api/v1/jobs/app/builds', {
      inputs: { nope: '1' },
    });
    expect(unknown.status).toBe(422);
    expect(await buildCount()).toBe(before);
  });

  it('answers 404 for an unknown job and 400 for a malformed body', async () => {
    expect((await api<{ code: string }>('POST', '/api/v1/jobs/nope/builds', {})).body.code).toBe(
      'job_not_found',
    );
    const bad = await api<{ code: string; message: string }>('POST', '/api/v1/jobs/app/builds', {
      branch: 3,
    });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/branch/);
  });

  it('makes a build `error` with file:line:col diagnostics when the pipeline at that commit is invalid', async () => {
    const created = await triggerOn<{ id: number; status: string }>(
      'broken',
      'jobs:\n  build:\n    image: fake/any\n    stpes: [echo hi]\n',
    );
    expect(created.status).toBe(201);
    const build = await finished(created.body.id);
    expect(build.status).toBe('error');
    expect(build.jobRuns).toEqual([]);
    expect(build.diagnostics[0]).toMatchObject({ code: 'unknown-key', line: 4, column: 5 });
    expect(build.diagnostics[0]!.message).toMatch(/did you mean "steps"/);
    repo.branch('main');
  });

  it('keeps jobs from the configuration read-only, and manages API jobs', async () => {
    expect((await api<{ code: string }>('PUT', '/api/v1/jobs/app', { repo: '/x' })).status).toBe(
      409,
    );
    expect((await api<{ code: string }>('DELETE', '/api/v1/jobs/app')).status).toBe(409);
    expect(
      (await api('PUT', '/api/v1/jobs/other', { repo: repo.dir, concurrency: 1 })).status,
    ).toBe(201);
    expect((await api('PUT', '/api/v1/jobs/other', { repo: repo.dir })).status).toBe(200);
    expect((await api('PUT', '/api/v1/jobs/bad%20name', { repo: repo.dir })).status).toBe(400);
    expect((await api('DELETE', '/api/v1/jobs/other')).status).toBe(204);
    expect((await api('GET', '/api/v1/jobs/other')).status).toBe(404);
  });

  it('cancels a running build and re-runs only its failed jobs with new attempts', async () => {
    const created = await triggerOn<{ id: number }>(
      'slow',
      'jobs:\n  quick:\n    image: fake/any\n    steps: [echo ok]\n  slow:\n    image: fake/any\n    steps: [hang]\n',
    );
    for (;;) {
      const { body } = await api<BuildJson>('GET', `/api/v1/builds/${created.body.id}`);
      if (
        body.jobRuns.find((r) => r.name === 'slow')?.status === 'running' &&
        body.jobRuns.find((r) => r.name === 'quick')?.status === 'success'
      )
        break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect((await api('POST', `/api/v1/builds/${created.body.id}/cancel`)).status).toBe(200);
    const canceled = await finished(created.body.id);
    expect(canceled.status).toBe('canceled');
    expect(canceled.jobRuns.find((r) => r.name === 'slow')!.outcome).toBe('canceled');

    repo.commit({
      '.slipway.yml':
        'jobs:\n  quick:\n    image: fake/any\n    steps: [echo ok]\n  slow:\n    image: fake/any\n    steps: [echo fixed]\n',
    });
    // A re-run uses the build's own commit: the old pipeline, so `slow` hangs again; cancel it again.
    const rerun = await api<{ status: string }>('POST', `/api/v1/builds/${created.body.id}/rerun`, {
      failedOnly: true,
    });
    expect(rerun.status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await api('POST', `/api/v1/builds/${created.body.id}/cancel`);
    const after = await finished(created.body.id);
    const slow = after.jobRuns.find((r) => r.name === 'slow')!;
    const quick = after.jobRuns.find((r) => r.name === 'quick')!;
    expect(slow.attempts.map((a) => a.number)).toEqual([1, 2]);
    expect(quick.attempts).toHaveLength(1);
    repo.branch('main');
  });

  it('caps a step log, writes a marker, and lets the build finish with its real result', async () => {
    const created = await triggerOn<{ id: number }>(
      'flood',
      'jobs:\n  flood:\n    image: fake/any\n    steps: ["bytes 200000; echo after"]\n',
    );
    const build = await finished(created.body.id);
    expect(build.status).toBe('success');
    const step = build.jobRuns[0]!.attempts[0]!.steps[1]!;
    expect(step.truncated).toBe(true);
    const log = await app.inject({ url: `/api/v1/builds/${build.id}/logs?step=1`, headers: auth });
    expect(log.rawPayload.length).toBeLessThan(64 * 1024 + 200);
    expect(log.body).toMatch(/reached its cap/);
    repo.branch('main');
  });
});

describe('concurrency', () => {
  async function job(
    name: string,
    extra: { concurrency?: number; cancelOlder?: boolean },
  ): Promise<void> {
    repo.branch('hang');
    repo.commit({ '.slipway.yml': 'jobs:\n  hang:\n    image: fake/any\n    steps: [hang]\n' });
    repo.branch('main');
    await store.jobs.put(
      jobInput(name, repo.dir, {
        defaultBranch: 'hang',
        concurrency: extra.concurrency ?? null,
        cancelOlder: extra.cancelOlder ?? false,
        source: 'api',
      }),
      Date.now(),
    );
  }

  async function status(id: number): Promise<string> {
    return (await api<BuildJson>('GET', `/api/v1/builds/${id}`)).body.status;
  }

  it('holds a build in the queue while the job is at its concurrency limit, and says why', async () => {
    await job('limited', { concurrency: 1 });
    const first = (await api<{ id: number }>('POST', '/api/v1/jobs/limited/builds', {})).body.id;
    while ((await status(first)) !== 'running')
      await new Promise((resolve) => setTimeout(resolve, 20));
    const second = (await api<{ id: number }>('POST', '/api/v1/jobs/limited/builds', {})).body.id;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await status(second)).toBe('queued');
    const queue = (await api<{ buildId: number; waitingFor: string }[]>('GET', '/api/v1/queue'))
      .body;
    expect(queue.find((q) => q.buildId === second)?.waitingFor).toMatch(
      /concurrency limit: 1 build of limited already running/,
    );
    await api('POST', `/api/v1/builds/${first}/cancel`);
    while ((await status(second)) !== 'running')
      await new Promise((resolve) => setTimeout(resolve, 20));
    await api('POST', `/api/v1/builds/${second}/cancel`);
    expect((await finished(second)).status).toBe('canceled');
  });

  it('cancels the older build on the same branch when cancel_older is set', async () => {
    await job('newest-wins', { cancelOlder: true });
    const first = (await api<{ id: number }>('POST', '/api/v1/jobs/newest-wins/builds', {})).body
      .id;
    while ((await status(first)) !== 'running')
      await new Promise((resolve) => setTimeout(resolve, 20));
    const second = (
      await api<{ id: number; number: number }>('POST', '/api/v1/jobs/newest-wins/builds', {})
    ).body;
    const older = await finished(first);
    expect(older.status).toBe('canceled');
    expect(older.reason).toMatch(new RegExp(`superseded by build #${second.number} on hang`));
    await api('POST', `/api/v1/builds/${second.id}/cancel`);
    await finished(second.id);
  });
});

describe('webhooks', () => {
  const push = (ref: string, after: string): string =>
    JSON.stringify({ ref, after, deleted: false });

  it('queues a build for a signed GitHub push, once per delivery id', async () => {
    const sha = repo.commit({ 'README.md': 'pushed\n' });
    const body = push('refs/heads/main', sha);
    const headers = {
      'content-type': 'application/json',
      'x-github-event': 'push',
      'x-github-delivery': 'd-1',
      'x-hub-signature-256': signGithub(body),
    };
    const first = await app.inject({
      method: 'POST',
      url: '/hooks/github/app',
      headers,
      payload: body,
    });
    expect(first.statusCode).toBe(201);
    const build = first.json<{ build: { id: number; sha: string; branch: string } }>().build;
    expect(build).toMatchObject({ sha, branch: 'main' });
    const before = await buildCount();
    const again = await app.inject({
      method: 'POST',
      url: '/hooks/github/app',
      headers,
      payload: body,
    });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ queued: false, buildId: build.id });
    expect(await buildCount()).toBe(before);
    await finished(build.id);
  });

  it('refuses a missing or wrong signature with 401 and queues nothing', async () => {
    const before = await buildCount();
    const body = push('refs/heads/main', 'a'.repeat(40));
    for (const signature of [undefined, signGithub(body, 'wrong'), signGithub(`${body} `)]) {
      const response = await app.inject({
        method: 'POST',
        url: '/hooks/github/app',
        headers: {
          'content-type': 'application/json',
          'x-github-event': 'push',
          'x-github-delivery': `bad-${String(signature)}`,
          ...(signature ? { 'x-hub-signature-256': signature } : {}),
        },
        payload: body,
      });
      expect(response.statusCode).toBe(401);
      expect(response.json()).toMatchObject({ code: 'bad_signature' });
    }
    const gitlab = await app.inject({
      method: 'POST',
      url: '/hooks/gitlab/app',
      headers: {
        'x-gitlab-token': 'nope',
        'x-gitlab-event': 'Push Hook',
        'x-gitlab-event-uuid': 'g1',
      },
      payload: body,
    });
    expect(gitlab.statusCode).toBe(401);
    expect(await buildCount()).toBe(before);
  });

  it('builds a GitHub pull request at its head commit, and ignores a closed one', async () => {
    repo.branch('feature/pr');
    const sha = repo.commit({ 'README.md': 'pr\n' });
    repo.branch('main');
    const repository = { id: 1, full_name: 'team/app' };
    const payload = (action: string): string =>
      JSON.stringify({
        action,
        number: 42,
        pull_request: {
          number: 42,
          head: { sha, ref: 'feature/pr', repo: repository },
          base: { ref: 'main', repo: repository },
        },
        repository,
      });
    const send = (body: string, id: string) =>
      app.inject({
        method: 'POST',
        url: '/hooks/github/app',
        headers: {
          'content-type': 'application/json',
          'x-github-event': 'pull_request',
          'x-github-delivery': id,
          'x-hub-signature-256': signGithub(body),
        },
        payload: body,
      });
    const opened = await send(payload('opened'), 'pr-1');
    expect(opened.statusCode).toBe(201);
    const build = opened.json<{
      build: { id: number; sha: string; branch: string; pr: number; event: string };
    }>().build;
    expect(build).toMatchObject({
      sha,
      branch: null,
      pr: 42,
      prTargetBranch: 'main',
      prHeadBranch: 'feature/pr',
      event: 'pull_request',
      trust: 'trusted',
    });
    await finished(build.id);
    const closed = await send(payload('closed'), 'pr-2');
    expect(closed.statusCode).toBe(202);
    expect(closed.json<{ reason: string }>().reason).toMatch(/closed does not build/);
  });

  it('refuses a signed delivery it cannot read with 400, saying what is wrong', async () => {
    const cases: [string, string, RegExp][] = [
      [
        'application/x-www-form-urlencoded',
        'ref=refs/heads/main',
        /form-encoded body has no payload field/,
      ],
      ['application/x-www-form-urlencoded', 'payload=%7Bnot-json', /payload field .* is not JSON/],
      [
        'application/json',
        JSON.stringify({
          action: 'opened',
          number: 5,
          pull_request: { head: { sha: 'a'.repeat(40) } },
        }),
        /pull request has no number, base ref or head commit/,
      ],
    ];
    const before = await buildCount();
    for (const [type, body, reason] of cases) {
      const response = await app.inject({
        method: 'POST',
        url: '/hooks/github/app',
        headers: {
          'content-type': type,
          'x-github-event': body.includes('opened') ? 'pull_request' : 'push',
          'x-github-delivery': `unreadable-${body.length}`,
          'x-hub-signature-256': signGithub(body),
        },
        payload: body,
      });
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({ code: 'invalid_delivery' });
      expect(response.json<{ message: string }>().message).toMatch(reason);
    }
    expect(await buildCount()).toBe(before);
  });

  it('refuses an oversized body with 413', async () => {
    const body = JSON.stringify({ ref: 'refs/heads/main', pad: 'x'.repeat(10_000) });
    const response = await app.inject({
      method: 'POST',
      url: '/hooks/github/app',
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'push',
        'x-github-delivery': 'big',
        'x-hub-signature-256': signGithub(body),
      },
      payload: body,
    });
    expect(response.statusCode).toBe(413);
    expect(response.json()).toMatchObject({ statusCode: 413, code: 'body_too_large' });
  });

  it('reads GitLab and Gitea pushes and tags, and ignores branches the pipeline does not build', async () => {
    const sha = repo.commit({ 'README.md': 'gitea\n' });
    const gitea = JSON.stringify({ ref: 'refs/heads/main', after: sha });
    const giteaResponse = await app.inject({
      method: 'POST',
      url: '/hooks/gitea/app',
      headers: {
        'content-type': 'application/json',
        'x-gitea-event': 'push',
        'x-gitea-delivery': 'gt-1',
        'x-gitea-signature': createHmac('sha256', HOOK_SECRET).update(gitea).digest('hex'),
      },
      payload: gitea,
    });
    expect(giteaResponse.statusCode).toBe(201);
    await finished(giteaResponse.json<{ build: { id: number } }>().build.id);

    repo.branch('other');
    const otherSha = repo.commit({ 'README.md': 'other\n' });
    const gitlab = JSON.stringify({
      ref: 'refs/heads/other',
      checkout_sha: otherSha,
      after: otherSha,
    });
    const ignored = await app.inject({
      method: 'POST',
      url: '/hooks/gitlab/app',
      headers: {
        'content-type': 'application/json',
        'x-gitlab-token': HOOK_SECRET,
        'x-gitlab-event': 'Push Hook',
        'x-gitlab-event-uuid': 'gl-1',
      },
      payload: gitlab,
    });
    expect(ignored.statusCode).toBe(202);
    expect(ignored.json<{ queued: boolean; reason: string }>()).toMatchObject({ queued: false });
    repo.branch('main');
  });
});

describe('live logs', () => {
  it('streams a build over SSE and resumes from Last-Event-ID without losing or repeating a byte', async () => {
    const created = await api<{ id: number }>('POST', '/api/v1/jobs/app/builds', {});
    await finished(created.body.id);
    const sse = async (lastEventId?: string): Promise<{ ids: number[]; text: string }> => {
      const response = await app.inject({
        url: `/api/v1/builds/${created.body.id}/logs?follow=1`,
        headers: { ...auth, ...(lastEventId ? { 'last-event-id': lastEventId } : {}) },
      });
      const ids: number[] = [];
      let text = '';
      for (const block of response.body.split('\n\n')) {
        const id = /^id: (\d+)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (id && data && /event: log/.test(block)) {
          ids.push(Number(id));
          text += Buffer.from((JSON.parse(data) as { b64: string }).b64, 'base64').toString();
        }
      }
      expect(response.body).toMatch(/event: end/);
      return { ids, text };
    };
    const whole = await sse();
    expect(whole.ids.length).toBeGreaterThan(2);
    const cut = whole.ids[1]!;
    const rest = await sse(String(cut));
    expect(rest.ids).toEqual(whole.ids.slice(2));
    const raw = await app.inject({ url: `/api/v1/builds/${created.body.id}/logs`, headers: auth });
    expect(whole.text).toBe(raw.body);
  });
});
