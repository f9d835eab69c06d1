/**
 * bench/idle-build: one one-step build (`true`) on an idle `slipway server` process, from
 * the trigger call to the client being told it ended (the log stream's `end` event, what
 * `slipway trigger --follow` waits for), against raw `docker run --rm IMAGE true` in the
 * same run, interleaved. Jobs use the defaults (network, checkout); a second job with
 * `checkout: false` shows what the checkout adds.
 *
 * Reports where the time goes: trigger accepted, claimed and assigned, pod primary
 * started (engine events), step started, step finished, attempt finished, build finished,
 * client told; and how long after that the pod was gone. Target: ≤ 1.2× raw.
 * Run: npm run bench:idle-build [-- BUILDS]   (uses dist/: npm run build:server first)
 */
import { machine, median, saveResult, timeCommand } from '../lib.ts';
import {
  api,
  benchRepo,
  engineEvents,
  engineEventsReady,
  followToEnd,
  phaseMedians,
  PHASES,
  removeRoot,
  runLabel,
  startServerProcess,
  timelineOf,
  type BuildDetail,
  type Timeline,
} from '../harness.ts';

const IMAGE = process.env.SLIPWAY_BENCH_IMAGE ?? 'slipway/busybox:1';
const BUILDS = Number(process.argv[2] ?? 15);

const { root, repo } = benchRepo(
  'idle',
  `jobs:\n  one:\n    image: ${IMAGE}\n    steps:\n      - "true"\n`,
);
const { root: rootNc, repo: repoNc } = benchRepo(
  'idle-nc',
  `jobs:\n  one:\n    image: ${IMAGE}\n    checkout: false\n    steps:\n      - "true"\n`,
);
const server = await startServerProcess(
  root,
  `listen: 127.0.0.1:0\njobs:\n  idle:\n    repo: ${repo}\n  idle-nc:\n    repo: ${repoNc}\n`,
);
const events = engineEvents();
await engineEventsReady(events, IMAGE);

async function oneBuild(job: string): Promise<Timeline> {
  const sent = Date.now();
  const build = await api<{ id: number; number: number }>(
    server.url,
    `/api/v1/jobs/${job}/builds`,
    {},
  );
  const accepted = Date.now();
  const told = await followToEnd(server.url, build.id);
  const detail = await api<BuildDetail>(server.url, `/api/v1/builds/${build.id}`);
  if (detail.status !== 'success') throw new Error(`build ${build.id} ended ${detail.status}`);
  const run = runLabel(server.id, job, build.number);
  const creator = `controller:${server.id}`;
  const pod = (): ReturnType<typeof events.lives>[number] | undefined =>
    events.lives(
      (l) =>
        l['dev.slipway.creator'] === creator &&
        l['dev.slipway.role'] === 'primary' &&
        l['dev.slipway.run'] === run,
    )[0];
  // The next build starts on a quiet engine: after this one's teardown.
  for (let i = 0; i < 100 && pod()?.destroy === undefined; i++)
    await new Promise((resolve) => setTimeout(resolve, 50));
  return timelineOf(detail, sent, accepted, told, pod());
}

/** Raw `docker run --rm`, with where its time went (the engine's events). */
const rawPhases: Record<string, number>[] = [];
async function rawRun(): Promise<number> {
  const label = `slipway-bench-idle=${process.pid}-${rawPhases.length}`;
  const sent = Date.now();
  const ms = await timeCommand('docker', ['run', '--rm', '--label', label, IMAGE, 'true']);
  const exited = Date.now();
  await new Promise((resolve) => setTimeout(resolve, 300));
  const [key, value] = label.split('=') as [string, string];
  const life = events.lives((l) => l[key] === value)[0];
  if (life)
    rawPhases.push({
      created: life.create! - sent,
      started: life.start! - life.create!,
      ran: life.die! - life.start!,
      removed: life.destroy! - life.die!,
      clientExited: exited - life.destroy!,
    });
  return ms;
}
const raw: number[] = [];
const checkout: Timeline[] = [];
const noCheckout: Timeline[] = [];
const loads: string[] = [];
// Warm up: image, mirrors, JIT, the commits' exported trees.
await oneBuild('idle');
await oneBuild('idle-nc');
await rawRun();
for (let i = 0; i < BUILDS; i++) {
  if (i % 5 === 0) loads.push((await machine()).load);
  raw.push(await rawRun());
  checkout.push(await oneBuild('idle'));
  noCheckout.push(await oneBuild('idle-nc'));
}
events.stop();
await server.stop();
removeRoot(root);
removeRoot(rootNc);

const rawMs = median(raw);
const summary = (timelines: Timeline[]): Record<string, unknown> => {
  const phases = phaseMedians(timelines);
  return { totalMs: phases.total, ratio: phases.total! / rawMs, phasesMs: phases };
};
const result = {
  bench: 'idle-build',
  date: new Date().toISOString(),
  machine: await machine(),
  loadDuringRuns: loads,
  image: IMAGE,
  builds: BUILDS,
  rawDockerRunMs: rawMs,
  rawPhasesMs: Object.fromEntries(
    Object.keys(rawPhases[0] ?? {}).map((k) => [k, median(rawPhases.map((p) => p[k]!))]),
  ),
  checkout: summary(checkout),
  noCheckout: summary(noCheckout),
  targets: { ratio: 1.2 },
};
saveResult('idle-build', result);
console.log(`raw docker run --rm ${IMAGE} true: ${rawMs.toFixed(0)} ms (median of ${BUILDS})`);
console.log(`  ${JSON.stringify(result.rawPhasesMs)}`);
for (const [name, timelines] of [
  ['default (checkout)', checkout],
  ['checkout: false', noCheckout],
] as const) {
  const s = phaseMedians(timelines);
  console.log(
    `${name}: trigger → client told ${s.total!.toFixed(0)} ms = ${(s.total! / rawMs).toFixed(2)}x raw (target <= 1.2x)`,
  );
  for (const [key, label] of PHASES)
    console.log(`  ${s[key]!.toFixed(0).padStart(6)} ms  ${label}`);
  console.log(`  pod gone ${s.podRemovedAfterTold!.toFixed(0)} ms after the client was told`);
}
