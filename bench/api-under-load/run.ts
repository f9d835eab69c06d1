/**
 * bench/api-under-load: 200 builds queued at once on a real `slipway server` process (its
 * embedded agent on the process backend), and while they run, API latency measured from
 * this separate process: the dashboard's calls (jobs, builds, queue, one build) from 8
 * concurrent clients. Baseline in the same run: the same calls against the idle controller.
 * Reports p50/p99 and the controller's peak RSS. Target: p99 ≤ 100 ms under load.
 * Run: npm run bench:api-under-load [-- BUILDS]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServerProcess, TOKEN } from '../harness.ts';
import { machine, median, percentile, saveResult } from '../lib.ts';

// At most 200: the API pages builds by 200.
const BUILDS = Math.min(200, Number(process.argv[2] ?? 200));
const CLIENTS = 8;

const root = mkdtempSync(join(tmpdir(), 'slipway-bench-load-'));
const repo = join(root, 'repo');
execFileSync('sh', ['-c', `mkdir -p ${repo} && cd ${repo} && git init -q -b main`]);
writeFileSync(
  join(repo, '.slipway.yml'),
  // The process backend runs steps on the host; the image is not used there.
  // No checkout, so the figures stay comparable with those measured before jobs had one.
  'jobs:\n  a:\n    image: host\n    checkout: false\n    steps: [echo a; sleep 0.2]\n  b:\n    image: host\n    checkout: false\n    needs: [a]\n    steps: [seq 1 200]\n',
);
execFileSync('sh', [
  '-c',
  `cd ${repo} && git add -A && git -c user.name=b -c user.email=b@b commit -qm bench`,
]);
const server = await startServerProcess(
  root,
  `listen: 127.0.0.1:0\nagent:\n  backend: process\n  executors: 4\njobs:\n  load:\n    repo: ${repo}\n`,
);
const { url } = server;
const headers = { authorization: `Bearer ${TOKEN}` };

const rssMiB = (): number => server.rssMiB();

async function timed(path: string): Promise<number> {
  const t0 = performance.now();
  const response = await fetch(`${url}${path}`, { headers });
  await response.arrayBuffer();
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return performance.now() - t0;
}

const PATHS = ['/api/v1/jobs', '/api/v1/builds?limit=50', '/api/v1/queue', '/api/v1/builds/1'];

async function measure(until: () => boolean, minRequests: number): Promise<number[]> {
  const latencies: number[] = [];
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, c) => {
      for (let i = c; until() || latencies.length < minRequests; i++)
        latencies.push(await timed(PATHS[i % PATHS.length]!));
    }),
  );
  return latencies;
}

// Idle baseline, with one finished build in the store so /builds/1 exists.
await fetch(`${url}/api/v1/jobs/load/builds`, {
  method: 'POST',
  headers: { ...headers, 'content-type': 'application/json' },
  body: '{}',
});
await new Promise((resolve) => setTimeout(resolve, 2000));
const idle = await measure(() => false, 400);

const t0 = performance.now();
const triggers = await Promise.all(
  Array.from({ length: BUILDS }, async () => {
    const started = performance.now();
    const response = await fetch(`${url}/api/v1/jobs/load/builds`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: '{}',
    });
    if (response.status !== 201)
      throw new Error(`trigger: ${response.status} ${await response.text()}`);
    return performance.now() - started;
  }),
);
const queuedInMs = performance.now() - t0;
let peakRss = rssMiB();
let running = true;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssMiB())), 100);
const watcher = (async () => {
  for (;;) {
    const builds = (await (
      await fetch(`${url}/api/v1/builds?limit=${BUILDS}`, { headers })
    ).json()) as { status: string; reason: string }[];
    const done = builds.filter((b) =>
      ['success', 'failure', 'error', 'canceled'].includes(b.status),
    );
    const bad = done.find((b) => b.status !== 'success');
    if (bad) {
      running = false;
      throw new Error(`a bench build did not succeed: ${bad.status}: ${bad.reason}`);
    }
    if (done.length >= BUILDS) break; // the newest BUILDS builds: the ones queued at once
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  running = false;
})();
const loaded = await measure(() => running, 0);
await watcher;
const allDoneMs = performance.now() - t0;
clearInterval(sampler);
await server.stop();
rmSync(root, { recursive: true, force: true });

const result = {
  bench: 'api-under-load',
  date: new Date().toISOString(),
  machine: await machine(),
  builds: BUILDS,
  clients: CLIENTS,
  triggerAllMs: queuedInMs,
  triggerP99Ms: percentile(triggers, 99),
  allBuildsDoneMs: allDoneMs,
  idleP50Ms: median(idle),
  idleP99Ms: percentile(idle, 99),
  loadedRequests: loaded.length,
  loadedP50Ms: median(loaded),
  loadedP99Ms: percentile(loaded, 99),
  peakRssMiB: peakRss,
  targets: { loadedP99Ms: 100 },
};
console.log(
  `${BUILDS} builds triggered at once: all accepted in ${queuedInMs.toFixed(0)} ms (p99 per call ${result.triggerP99Ms.toFixed(0)} ms); all done in ${(allDoneMs / 1000).toFixed(1)} s`,
);
console.log(
  `API idle:       p50 ${result.idleP50Ms.toFixed(1)} ms, p99 ${result.idleP99Ms.toFixed(1)} ms`,
);
console.log(
  `API under load: p50 ${result.loadedP50Ms.toFixed(1)} ms, p99 ${result.loadedP99Ms.toFixed(1)} ms over ${loaded.length} requests (target p99 <= 100 ms)`,
);
console.log(`controller peak RSS ${peakRss.toFixed(0)} MiB`);
saveResult('api-under-load', result);
