/**
 * The controller's HTTP app in-process for API tests: a temporary store, a real git
 * repository with a job `app` (webhook secret `env:HOOK_SECRET`), and the embedded agent
 * on the fake backend. Closed and removed by `close()`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Agent } from '../../src/agent/agent.ts';
import { DEFAULT_POLICY } from '../../src/backends/backend.ts';
import { createFakeBackend } from '../../src/backends/fake/fake-backend.ts';
import { resolveRef } from '../../src/config/server-config.ts';
import { createBuildCredentials } from '../../src/credentials/build-secrets.ts';
import { loadKeyring } from '../../src/credentials/keyring.ts';
import { CredentialVault } from '../../src/credentials/vault.ts';
import { Controller } from '../../src/server/controller.ts';
import { createHttpServer, type HttpOptions } from '../../src/server/http.ts';
import { openStore, type Store } from '../../src/store/open.ts';
import { gitRepo, type Repo } from './git.ts';
import { jobInput } from './jobs.ts';

export const API_TOKEN = 'test-admin-token';
export const HOOK_SECRET = 'webhook-secret-value';

export interface ApiApp {
  app: FastifyInstance;
  store: Store;
  controller: Controller;
  /** The credentials store the app serves, its key in the app's data directory. */
  vault: CredentialVault;
  repo: Repo;
  /** Lines the server logged (errors a client is not told about). */
  logged: string[];
  close(): Promise<void>;
}

export async function apiApp(
  overrides: Partial<HttpOptions> = {},
  pipeline = 'jobs:\n  build:\n    image: fake/any\n    steps: [echo hello]\n',
): Promise<ApiApp> {
  const dataDir = mkdtempSync(join(tmpdir(), 'slipway-api-'));
  const store = await openStore(join(dataDir, 'slipway.db'));
  const vault = await CredentialVault.open(store.credentials, loadKeyring({ dataDir }));
  const repo = gitRepo({ '.slipway.yml': pipeline });
  const controller = new Controller({
    store,
    gitCacheDir: join(dataDir, 'git'),
    logCapBytes: 1024 * 1024,
    graceMs: 1000,
    secrets: {},
    credentials: createBuildCredentials(vault, () => ({})),
  });
  const agent = new Agent({
    info: { id: 'fake-agent', name: 'fake', labels: ['linux'], executors: 4, backend: 'fake' },
    backend: createFakeBackend(),
    port: controller,
    workDir: dataDir,
    gitCacheDir: join(dataDir, 'agent-git'),
    policy: DEFAULT_POLICY,
    creator: 'test:api-app',
    pull: false,
  });
  agent.start();
  const logged: string[] = [];
  const app = await createHttpServer({
    controller,
    adminToken: API_TOKEN,
    webhookBodyBytes: 64 * 1024,
    resolveRef: (ref, key) => resolveRef(ref, key, { HOOK_SECRET }),
    reload: () => Promise.reject(new Error('no configuration file')),
    version: 'test',
    log: (line) => logged.push(line),
    credentials: vault,
    ...overrides,
  });
  await store.jobs.put(jobInput('app', repo.dir, { webhookSecret: 'env:HOOK_SECRET' }), Date.now());
  return {
    app,
    store,
    controller,
    vault,
    repo,
    logged,
    async close() {
      await agent.drain();
      await app.close();
      await store.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
