/**
 * Wiring only: configuration → store → controller → embedded agent → HTTP, plus
 * schedules, SIGHUP reload and graceful stop. `slipway server` calls startServer.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent } from '../agent/agent.ts';
import { DEFAULT_POLICY, LABELS, type Backend } from '../backends/backend.ts';
import { createDockerBackend, dockerEndpoint } from '../backends/docker/docker-backend.ts';
import { createProcessBackend } from '../backends/process/process-backend.ts';
import { createBuildCredentials } from '../credentials/build-secrets.ts';
import { loadKeyring } from '../credentials/keyring.ts';
import { CredentialVault } from '../credentials/vault.ts';
import {
  credentialSecrets,
  defaultConfig,
  loadConfig,
  resolveRef,
  resolveSecrets,
  type ConfigOverrides,
  type ServerConfig,
} from '../config/server-config.ts';
import { SlipwayError } from '../errors/index.ts';
import { shortSecretWarnings } from '../logs/secret-forms.ts';
import { ownerAlive } from '../runtime/owner.ts';
import { podId } from '../runtime/pod-plan.ts';
import { Controller } from '../server/controller.ts';
import { createHttpServer } from '../server/http.ts';
import { Schedules } from '../server/schedules.ts';
import { openStore, type Store } from '../store/open.ts';
import type { FastifyInstance } from 'fastify';

export interface ServerOptions extends ConfigOverrides {
  configFile?: string;
  version: string;
  log: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

export interface RunningServer {
  url: string;
  config: ServerConfig;
  controller: Controller;
  store: Store;
  http: FastifyInstance;
  /** Stop dispatching, let running attempts finish, flush, close. */
  /**
   * Stops dispatching and closes. Running attempts: `wait` (default) lets them finish,
   * `cancel` stops them, `hand-over` leaves them running in their pods, to be adopted by
   * the next start.
   */
  stop(options?: { running?: 'wait' | 'cancel' | 'hand-over' }): Promise<void>;
  reload(): Promise<ReloadResult>;
}

/** What a reload changed: jobs by name, and secrets by name (never their values). */
export interface ReloadResult {
  added: string[];
  changed: string[];
  removed: string[];
  secrets: { added: string[]; changed: string[]; removed: string[] };
}

function diffNames(
  before: Readonly<Record<string, string>>,
  after: Readonly<Record<string, string>>,
): ReloadResult['secrets'] {
  const names = (o: Readonly<Record<string, string>>): string[] => Object.keys(o).sort();
  return {
    added: names(after).filter((n) => !(n in before)),
    changed: names(after).filter((n) => n in before && before[n] !== after[n]),
    removed: names(before).filter((n) => !(n in after)),
  };
}

function adminToken(
  config: ServerConfig,
  env: NodeJS.ProcessEnv,
  log: (l: string) => void,
): string {
  if (config.adminTokenRef) return resolveRef(config.adminTokenRef, 'admin_token', env);
  if (env.SLIPWAY_ADMIN_TOKEN) return env.SLIPWAY_ADMIN_TOKEN;
  const file = join(config.dataDir, 'admin-token');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const token = randomBytes(24).toString('base64url');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  log(`slipway: generated the admin token (stored 0600 in ${file}); it is shown only this once:`);
  log(`  ${token}`);
  return token;
}

function controllerId(dataDir: string): string {
  const file = join(dataDir, 'controller-id');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const id = randomBytes(4).toString('hex');
  writeFileSync(file, `${id}\n`);
  return id;
}

/**
 * The embedded agent's backend. Builds run as host processes (no isolation) only when
 * the configuration says `agent.backend: process`: with the default and no engine
 * answering, the start is refused rather than silently running builds as root on the host.
 */
async function chooseBackend(config: ServerConfig, log: (l: string) => void): Promise<Backend> {
  if (config.agent.backend === 'process') {
    log(
      'slipway: WARNING: agent.backend is process: the embedded agent runs builds as plain host processes, WITHOUT isolation',
    );
    return createProcessBackend();
  }
  const docker = createDockerBackend();
  if (await docker.available()) return docker;
  throw new SlipwayError(
    'SW_ENGINE_UNREACHABLE',
    `no container engine answers at ${dockerEndpoint()}, and the embedded agent runs builds in containers; ` +
      'start dockerd (or point DOCKER_HOST at a running engine), or set agent.backend: process in the configuration ' +
      'to run builds as host processes without isolation',
  );
}

/** Puts the configuration's jobs into the store; returns what changed. */
async function syncJobs(
  store: Store,
  config: ServerConfig,
): Promise<{ added: string[]; changed: string[]; removed: string[] }> {
  const now = Date.now();
  const existing = new Map((await store.jobs.list()).map((j) => [j.name, j]));
  const added: string[] = [];
  const changed: string[] = [];
  for (const job of config.jobs) {
    const before = existing.get(job.name);
    const input = {
      name: job.name,
      repo: job.repo,
      branches: job.branches,
      defaultBranch: job.branch,
      pipelinePath: job.pipeline,
      concurrency: job.concurrency,
      cancelOlder: job.cancelOlder,
      schedules: job.schedules,
      webhookSecret: job.webhookSecret,
      source: 'config' as const,
    };
    if (!before) added.push(job.name);
    else if (
      JSON.stringify({ ...before, createdAt: 0, updatedAt: 0 }) !==
      JSON.stringify({ ...input, createdAt: 0, updatedAt: 0 })
    )
      changed.push(job.name);
    if (!before || changed.includes(job.name)) await store.jobs.put(input, now);
  }
  const names = new Set(config.jobs.map((j) => j.name));
  const removed = [...existing.values()]
    .filter((j) => j.source === 'config' && !names.has(j.name))
    .map((j) => j.name);
  for (const name of removed) await store.jobs.remove(name);
  return { added, changed, removed };
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const env = options.env ?? process.env;
  const log = options.log;
  const overrides: ConfigOverrides = {
    ...(options.listen ? { listen: options.listen } : {}),
    ...(options.dataDir ? { dataDir: options.dataDir } : {}),
  };
  const read = (): ServerConfig =>
    options.configFile ? loadConfig(options.configFile, overrides) : defaultConfig(overrides);
  let config = read();
  // The data directory holds the store, the admin token and mirrors: owner only.
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const secrets = resolveSecrets(config, env);
  for (const warning of shortSecretWarnings(secrets)) log(`slipway: WARNING: ${warning}`);
  for (const job of config.jobs)
    if (job.webhookSecret) resolveRef(job.webhookSecret, `jobs.${job.name}.webhook_secret`, env);
  // Refused before anything is written: no engine and no explicit process backend.
  const backend = config.agent.enabled ? await chooseBackend(config, log) : undefined;
  const token = adminToken(config, env, log);
  const id = controllerId(config.dataDir);
  // A key that cannot be read is refused before the store is opened.
  const keyring = loadKeyring({ dataDir: config.dataDir, ref: config.credentialsKeyRef, env });
  const store = await openStore(join(config.dataDir, 'slipway.db'), {
    minFreeDisk: config.limits.minFreeDisk,
  });
  const vault = await CredentialVault.open(store.credentials, keyring).catch(
    async (error: unknown) => {
      await store.close();
      throw error;
    },
  );
  let credentialRefs = credentialSecrets(config);
  warnMissingCredentials(vault, credentialRefs, log);
  store.health.start();
  await syncJobs(store, config);

  const controller = new Controller({
    store,
    gitCacheDir: join(config.dataDir, 'git'),
    logCapBytes: config.limits.logCapBytes,
    graceMs: config.limits.graceMs,
    maxJobMs: config.limits.maxBuildMs,
    secrets,
    credentials: createBuildCredentials(vault, () => credentialRefs),
    log,
    id,
  });

  let agent: Agent | undefined;
  const creator = `controller:${id}`;
  const agentId = `embedded-${id}`;
  if (backend) {
    // Attempts that ran on this controller's embedded agent are adopted when it connects;
    // their pods are kept, every other pod the dead process left is removed.
    const adopt = await controller.recover(agentId);
    const keep = new Set(adopt.map((a) => podId(a.runId, a.jobId, a.attempt)));
    const leftovers = await backend.list({ [LABELS.creator]: creator }).catch((error: unknown) => {
      log(`slipway: could not list the pods an earlier run left: ${(error as Error).message}`);
      return [];
    });
    const dead = leftovers.filter((pod) => !ownerAlive(pod.labels) && !keep.has(pod.id));
    await Promise.all(
      dead.map((pod) =>
        backend
          .remove(pod)
          .catch((error: unknown) =>
            log(`slipway: could not remove pod ${pod.id}: ${(error as Error).message}`),
          ),
      ),
    );
    if (dead.length > 0)
      log(`slipway: removed ${dead.length} pod(s) left by an earlier run of this controller`);
    if (adopt.length > 0)
      log(
        `slipway: ${adopt.length} attempt(s) were running when the controller stopped; adopting their pods`,
      );
    const workDir = join(config.dataDir, 'work');
    mkdirSync(workDir, { recursive: true });
    agent = new Agent({
      info: {
        id: agentId,
        name: 'embedded',
        labels: [...new Set([...config.agent.labels, 'embedded', backend.name, process.platform])],
        executors: config.agent.executors,
        backend: backend.name,
      },
      backend,
      port: controller,
      workDir,
      gitCacheDir: join(config.dataDir, 'agent-git'),
      policy: DEFAULT_POLICY,
      creator,
      pull: config.agent.pull,
    });
  }
  // Without the embedded agent, nothing can adopt: running attempts end controller_lost.
  if (!agent) await controller.recover();
  agent?.start();
  // Attempts whose agent went away end agent_lost after a lease (recover renewed the adopted).
  controller.startLeaseReaper();

  const schedules = new Schedules(controller, join(config.dataDir, 'git'), log);
  await schedules.start();
  // A push may change a pipeline's on.schedule: read them again now and then.
  const refresh = setInterval(
    () =>
      void schedules
        .start()
        .catch((error: unknown) =>
          log(`slipway: reading the schedules again failed: ${(error as Error).message}`),
        ),
    5 * 60_000,
  );
  refresh.unref();
  let secretValues = secrets;
  const reload = async (): Promise<ReloadResult> => {
    const next = read(); // throws on an invalid file: the running configuration stays
    const nextSecrets = resolveSecrets(next, env);
    for (const warning of shortSecretWarnings(nextSecrets)) log(`slipway: WARNING: ${warning}`);
    config = next;
    const diff = await syncJobs(store, config);
    // Builds dispatched from now on get the new values; running attempts keep theirs.
    controller.setSecrets(nextSecrets);
    credentialRefs = credentialSecrets(config);
    warnMissingCredentials(vault, credentialRefs, log);
    const secretsDiff = diffNames(secretValues, nextSecrets);
    secretValues = nextSecrets;
    await schedules.start();
    return { ...diff, secrets: secretsDiff };
  };

  const http = await createHttpServer({
    controller,
    adminToken: token,
    webhookBodyBytes: config.limits.webhookBodyBytes,
    resolveRef: (ref, key) => resolveRef(ref, key, env),
    reload,
    schedules: () => schedules.list(),
    version: options.version,
    uiDir: fileURLToPath(new URL('../../dist-ui', import.meta.url)),
    metricsPublic: config.metrics.public,
    authThrottle: { failures: config.limits.authFailures, windowMs: config.limits.authWindowMs },
    requestTimeoutMs: config.limits.requestTimeoutMs,
    credentials: vault,
    log,
  });
  await http.listen({ host: config.listen.host, port: config.listen.port });
  const address = http.server.address();
  const port = typeof address === 'object' && address ? address.port : config.listen.port;
  const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
  const url = `http://${host}:${port}`;

  return {
    url,
    config,
    controller,
    store,
    http,
    reload,
    async stop(stopOptions: { running?: 'wait' | 'cancel' | 'hand-over' } = {}) {
      controller.setDraining(true);
      controller.close();
      clearInterval(refresh);
      schedules.stop();
      if (agent) {
        const running = stopOptions.running ?? 'wait';
        if (running === 'cancel') await agent.stopAll('the controller is stopping');
        else if (running === 'wait') await agent.drain();
        agent.disconnect();
      }
      await controller.settled();
      await http.close();
      await store.close();
    },
  };
}

/** Builds naming a `credential:` reference that does not exist fail; say so at start too. */
function warnMissingCredentials(
  vault: CredentialVault,
  references: Readonly<Record<string, string>>,
  log: (line: string) => void,
): void {
  for (const [name, id] of Object.entries(references))
    if (!vault.get(id))
      log(
        `slipway: WARNING: secrets.${name} refers to credential ${id}, which does not exist; builds naming ${name} end in error until it is created`,
      );
}
