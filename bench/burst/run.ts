/**
 * bench/burst: 20 one-step builds triggered at once through a real `slipway server`
 * process whose embedded agent has 8 executors, on the real engine, against the baseline
 * measured in the same run: 20 raw `docker run --rm IMAGE true`, 8 at a time. The two
 * alternate, several rounds; medians. The jobs use the defaults (network, checkout), and
 * a second job with `checkout: false` shows what the checkout adds.
 *
 * Reports the burst's wall time (first trigger sent → the client told the last build
 * ended, over the dashboard's event stream), the peak number of attempts running at once
 * (claimed → finished) and of pod primary containers running at once (the engine's
 * events), and the median phases of one build. Target: burst ≤ 1.15× raw.
 * Run: npm run bench:burst [-- ROUNDS BUILDS]   (uses dist/: npm run build:server first)
 */
import { spawn } from 'node:child_process';
import { machine, median, saveResult } from '../lib.ts';
import {
  api,
  benchRepo,
  engineEvents,
  engineEventsReady,
  peakOverlap,
  phaseMedians,
  removeRoot,
  runLabel,
  startServerProcess,
  timelineOf,
  watchEvents,
  type BuildDetail,
  type Timeline,
} from '../harness.ts';

const IMAGE = process.env.SLIPWAY_BENCH_IMAGE ?? 'slipway/busybox:1';
const ROUNDS = Number(process.argv[2] ?? 3);
const BUILDS = Number(process.argv[3] ?? 20);
const EXECUTORS = Number(process.env.SLIPWAY_BENCH_EXECUTORS ?? 8);

const { root, repo } = benchRepo(
  'burst',
  `jobs:\n  one:\n    image: ${IMAGE}\n    steps:\n      - "true"\n`,
);
const { repo: repoNoCheckout } = benchRepo(
  'burst-nc',
  `jobs:\n  one:\n    image: ${IMAGE}\n    checkout: false\n    steps:\n      - "true"\n`,
);
const server = await startServerProcess(
  root,
  `listen: 127.0.0.1:0\nagent:\n  executors: ${EXECUTORS}\njobs:\n  burst:\n    repo: ${repo}\n  burst-nc:\n    repo: ${repoNoCheckout}\n`,
);
const events = engineEvents();
await engineEventsReady(events, IMAGE);
const live = await watchEvents(server.url);

/** 20 raw containers, 8 at a time; returns the wall time and the peak running at once. */
async function rawBurst(round: number): Promise<{ ms: number; peak: number }> {
  const label = `slipway-bench-burst=${process.pid}-${round}`;
  let next = 0;
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: EXECUTORS }, async () => {
      while (next < BUILDS) {
        next++;
        await new Promise<void>((resolve, reject) => {
          const child = spawn('docker', ['run', '--rm', '--label', label, IMAGE, 'true'], {
            stdio: 'ignore',
          });
          child.on('error', reject);
          child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`exit ${code}`))));
        });
      }
    }),
  );
  const ms = Date.now() - t0;
  await new Promise((resolve) => setTimeout(resolve, 500));
  const [key, value] = label.split('=') as [string, string];
  const lives = events.lives((l) => l[key] === value);
  return {
    ms,
    peak: peakOverlap(lives.map((l) => ({ from: l.start ?? NaN, to: l.die ?? NaN }))),
  };
}

interface SlipwayBurst {
  ms: number;
  peakAttempts: number;
  peakPods: number;
  timelines: Timeline[];
}

async function slipwayBurst(job: string): Promise<SlipwayBurst> {
  const t0 = Date.now();
  const triggered = await Promise.all(
    Array.from({ length: BUILDS }, async () => {
      const sent = Date.now();
      const build = await api<{ id: number; number: number }>(
        server.url,
        `/api/v1/jobs/${job}/builds`,
        {},
      );
      return { ...build, sent, accepted: Date.now() };
    }),
  );
  const told = await Promise.all(triggered.map((b) => live.finished(b.id)));
  const ms = Math.max(...told) - t0;
  // Wait for the pods' teardown (after the builds were reported) before reading the engine.
  const details = await Promise.all(
    triggered.map((b) => api<BuildDetail>(server.url, `/api/v1/builds/${b.id}`)),
  );
  for (const d of details)
    if (d.status !== 'success') throw new Error(`build ${d.id} ended ${d.status}`);
  const creator = `controller:${server.id}`;
  const primaries = (): ReturnType<typeof events.lives> =>
    events.lives(
      (l) =>
        l['dev.slipway.creator'] === creator &&
        l['dev.slipway.role'] === 'primary' &&
        triggered.some((b) => l['dev.slipway.run'] === runLabel(server.id, job, b.number)),
    );
  for (let i = 0; i < 100 && primaries().some((p) => p.destroy === undefined); i++)
    await new Promise((resolve) => setTimeout(resolve, 100));
  const pods = primaries();
  const timelines = triggered.map((b, i) =>
    timelineOf(
      details[i]!,
      b.sent,
      b.accepted,
      told[i]!,
      pods.find((p) => p.labels['dev.slipway.run'] === runLabel(server.id, job, b.number)),
    ),
  );
  const attempts = details.map((d) => d.jobRuns[0]!.attempts.at(-1)!);
  return {
    ms,
    peakAttempts: peakOverlap(
      attempts.map((a) => ({ from: a.startedAt ?? NaN, to: a.finishedAt ?? NaN })),
    ),
    peakPods: peakOverlap(pods.map((p) => ({ from: p.start ?? NaN, to: p.die ?? NaN }))),
    timelines,
  };
}

const loads: string[] = [];
const raw: { ms: number; peak: number }[] = [];
const withCheckout: SlipwayBurst[] = [];
const withoutCheckout: SlipwayBurst[] = [];
// Warm up: image, mirrors, JIT, the commits' exported trees.
await slipwayBurst('burst');
await slipwayBurst('burst-nc');
await rawBurst(-1);
for (let round = 0; round < ROUNDS; round++) {
  loads.push((await machine()).load);
  // Alternate the order, so neither side always runs on a warmer (or busier) engine.
  const order = round % 2 === 0 ? ['raw', 'burst', 'burst-nc'] : ['burst-nc', 'burst', 'raw'];
  for (const what of order) {
    if (what === 'raw') raw.push(await rawBurst(round));
    else if (what === 'burst') withCheckout.push(await slipwayBurst('burst'));
    else withoutCheckout.push(await slipwayBurst('burst-nc'));
    console.log(
      `round ${round + 1} ${what}: ${(what === 'raw' ? raw.at(-1)!.ms : (what === 'burst' ? withCheckout : withoutCheckout).at(-1)!.ms).toFixed(0)} ms`,
    );
  }
}
live.close();
events.stop();
await server.stop();
removeRoot(root);
removeRoot(repoNoCheckout.replace(/\/repo$/, ''));

const summary = (runs: SlipwayBurst[]): Record<string, unknown> => ({
  burstMs: median(runs.map((r) => r.ms)),
  ratio: median(runs.map((r) => r.ms)) / median(raw.map((r) => r.ms)),
  peakAttemptsRunning: Math.max(...runs.map((r) => r.peakAttempts)),
  peakPodsRunning: Math.max(...runs.map((r) => r.peakPods)),
  phasesMs: phaseMedians(runs.flatMap((r) => r.timelines)),
  runsMs: runs.map((r) => r.ms),
});
const result = {
  bench: 'burst',
  date: new Date().toISOString(),
  machine: await machine(),
  loadDuringRounds: loads,
  image: IMAGE,
  builds: BUILDS,
  executors: EXECUTORS,
  rounds: ROUNDS,
  rawBurstMs: median(raw.map((r) => r.ms)),
  rawRunsMs: raw.map((r) => r.ms),
  rawPeakRunning: Math.max(...raw.map((r) => r.peak)),
  checkout: summary(withCheckout),
  noCheckout: summary(withoutCheckout),
  targets: { ratio: 1.15 },
};
saveResult('burst', result);
console.log(JSON.stringify(result, null, 2));
