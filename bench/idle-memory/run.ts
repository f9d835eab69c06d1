/**
 * bench/idle-memory: the resident memory of a fresh `slipway server` process (embedded
 * agent on the real engine, the built UI, two jobs) once it has started and settled, and
 * again after 20 one-step builds have run and it has settled. Baseline in the same run:
 * a bare `node` process that only waits (the floor every Node server starts from).
 * Several fresh servers; medians. Target: idle below 80 MiB.
 * Run: npm run bench:idle-memory [-- SERVERS]   (uses dist/: npm run build first)
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { machine, median, saveResult } from '../lib.ts';
import { api, benchRepo, removeRoot, startServerProcess, watchEvents } from '../harness.ts';

const IMAGE = process.env.SLIPWAY_BENCH_IMAGE ?? 'slipway/busybox:1';
const SERVERS = Number(process.argv[2] ?? 3);
const BUILDS = 20;
const SETTLE_MS = 8000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

/** RSS after `ms` of quiet: the median of the samples in the last second. */
async function settledRss(pid: number, ms: number): Promise<number> {
  const samples: number[] = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    await sleep(250);
    samples.push(rssOf(pid));
  }
  return median(samples.slice(-4));
}

async function bareNode(): Promise<number> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], {
    stdio: 'ignore',
  });
  const rss = await settledRss(child.pid!, 3000);
  child.kill();
  return rss;
}

const runs: { bare: number; idle: number; afterBuilds: number; peak: number }[] = [];
const loads: string[] = [];
for (let i = 0; i < SERVERS; i++) {
  loads.push((await machine()).load);
  const bare = await bareNode();
  const { root, repo } = benchRepo(
    'mem',
    `jobs:\n  one:\n    image: ${IMAGE}\n    steps: ["true"]\n`,
  );
  const server = await startServerProcess(
    root,
    `listen: 127.0.0.1:0\njobs:\n  app:\n    repo: ${repo}\n  other:\n    repo: ${repo}\n`,
  );
  const pid = server.child.pid!;
  const idle = await settledRss(pid, SETTLE_MS);
  let peak = idle;
  const sampler = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 100);
  const live = await watchEvents(server.url);
  const ids = await Promise.all(
    Array.from(
      { length: BUILDS },
      async () => (await api<{ id: number }>(server.url, '/api/v1/jobs/app/builds', {})).id,
    ),
  );
  await Promise.all(ids.map((id) => live.finished(id)));
  live.close();
  const afterBuilds = await settledRss(pid, SETTLE_MS);
  clearInterval(sampler);
  await server.stop();
  removeRoot(root);
  runs.push({ bare, idle, afterBuilds, peak });
  console.log(
    `server ${i + 1}: bare node ${bare.toFixed(1)} MiB, idle ${idle.toFixed(1)} MiB, after ${BUILDS} builds ${afterBuilds.toFixed(1)} MiB (peak ${peak.toFixed(1)})`,
  );
}

const result = {
  bench: 'idle-memory',
  date: new Date().toISOString(),
  machine: await machine(),
  loadDuringRuns: loads,
  servers: SERVERS,
  builds: BUILDS,
  settleMs: SETTLE_MS,
  bareNodeMiB: median(runs.map((r) => r.bare)),
  idleMiB: median(runs.map((r) => r.idle)),
  afterBuildsMiB: median(runs.map((r) => r.afterBuilds)),
  peakMiB: median(runs.map((r) => r.peak)),
  runs,
  targets: { idleMiB: 80 },
};
saveResult('idle-memory', result);
console.log(
  `bare node ${result.bareNodeMiB.toFixed(1)} MiB; slipway server idle ${result.idleMiB.toFixed(1)} MiB (target < 80), after ${BUILDS} builds ${result.afterBuildsMiB.toFixed(1)} MiB, peak ${result.peakMiB.toFixed(1)} MiB`,
);
