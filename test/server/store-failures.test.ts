/**
 * A store call that throws must not end the controller: the controller, its HTTP API and
 * the embedded agent (fake backend, real git) in-process, with store methods replaced by
 * ones that throw. Every failure is told with its context; nothing is left unhandled.
 * (A real process whose store fails for real is test/server/full-disk.test.ts.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.ts';
import { DEFAULT_POLICY } from '../../src/backends/backend.ts';
import { createFakeBackend } from '../../src/backends/fake/fake-backend.ts';
import { Controller } from '../../src/server/controller.ts';
import { createHttpServer } from '../../src/server/http.ts';
import { openStore, type Store } from '../../src/store/open.ts';
import { gitRepo } from '../support/git.ts';
import { jobInput } from '../support/jobs.ts';

const TOKEN = 'store-failure-token';
const PIPELINE = `
jobs:
  build:
    image: fake/any
    steps:
      - echo built
`;

let store: Store;
let app: FastifyInstance;
let controller: Controller;
let agent: Agent;
let dataDir: string;
const logged: string[] = [];
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => void unhandled.push(reason);

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  dataDir = mkdtempSync(join(tmpdir(), 'slipway-store-failures-'));
  store = await openStore(join(dataDir, 'slipway.db'));
  const repo = gitRepo({ '.slipway.yml': PIPELINE });
  controller = new Controller({
    store,
    gitCacheDir: join(dataDir, 'git'),
    logCapBytes: 64 * 1024,
    graceMs: 1000,
    secrets: {},
    log: (line) => logged.push(line),
  });
  agent = new Agent({
    info: { id: 'fake-agent', name: 'fake', labels: ['fake'], executors: 2, backend: 'fake' },
    backend: createFakeBackend(),
    port: controller,
    workDir: dataDir,
    gitCacheDir: join(dataDir, 'agent-git'),
    policy: DEFAULT_POLICY,
    creator: 'test:store-failures',
    pull: false,
  });
  agent.start();
  app = await createHttpServer({
    controller,
    adminToken: TOKEN,
    webhookBodyBytes: 4096,
    resolveRef: () => '',
    reload: () => Promise.reject(new Error('no configuration file')),
    version: 'test',
    log: (line) => logged.push(line),
  });
  await store.jobs.put(jobInput('app', repo.dir), Date.now());
});

afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  await agent.drain();
  await app.close();
  await store.close();
  rmSync(dataDir, { recursive: true, force: true });
});

afterEach(async () => {
  // Give stray rejections a turn to surface before they are counted.
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(unhandled).toEqual([]);
});

async function api<T>(method: 'GET' | 'POST', url: string): Promise<{ status: number; body: T }> {
  const response = await app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    ...(method === 'POST' ? { payload: '{}' } : {}),
  });
  return { status: response.statusCode, body: response.json<T>() };
}

async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const statusOf = async (id: number): Promise<string> =>
  (await api<{ status: string }>('GET', `/api/v1/builds/${id}`)).body.status;

describe('a store call that throws', () => {
  it('in a dispatch round: told with its context; the API stays up and the queue runs once the store answers', async () => {
    const queued = store.builds.queued.bind(store.builds);
    store.builds.queued = () => Promise.reject(new Error('injected: the queue cannot be read'));
    try {
      const created = await api<{ id: number }>('POST', '/api/v1/jobs/app/builds');
      expect(created.status).toBe(201);
      await waitFor('the failure to be told', () =>
        logged.some((l) => l.includes('a dispatch round failed')) ? true : undefined,
      );
      expect(logged.find((l) => l.includes('a dispatch round failed'))).toMatch(
        /injected: the queue cannot be read/,
      );
      expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
      expect((await api('GET', '/api/v1/builds')).status).toBe(200);
      expect(await statusOf(created.body.id)).toBe('queued');
      store.builds.queued = queued;
      controller.kick();
      await waitFor('the build to run', async () =>
        (await statusOf(created.body.id)) === 'success' ? true : undefined,
      );
    } finally {
      store.builds.queued = queued;
    }
  });

  it('inside a build lock (a cancel): the request fails with the one error shape, nothing is left unhandled, the build goes on', async () => {
    const slow = await api<{ id: number }>('POST', '/api/v1/jobs/app/builds');
    const updateBuild = store.builds.updateBuild.bind(store.builds);
    store.builds.updateBuild = () =>
      Promise.reject(new Error('injected: the build cannot be updated'));
    try {
      const refused = await api<{ statusCode: number; code: string; message: string }>(
        'POST',
        `/api/v1/builds/${slow.body.id}/cancel`,
      );
      expect(refused.status).toBe(500);
      expect(refused.body.code).toBe('internal');
      // The client learns a request id, never the internal error; the log has both.
      const id = /^internal error; request id (\w+)$/.exec(refused.body.message)?.[1];
      expect(id, refused.body.message).toBeDefined();
      expect(refused.body.message).not.toMatch(/injected/);
      expect(logged.find((l) => l.includes(`request ${id}`))).toMatch(
        /injected: the build cannot be updated/,
      );
    } finally {
      store.builds.updateBuild = updateBuild;
    }
    expect((await api('GET', `/api/v1/builds/${slow.body.id}`)).status).toBe(200);
    await waitFor('the build to end', async () =>
      ['success', 'canceled'].includes(await statusOf(slow.body.id)) ? true : undefined,
    );
  });
});
