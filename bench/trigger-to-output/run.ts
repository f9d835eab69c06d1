/**
 * bench/trigger-to-output: API trigger → the first byte of the first step's output at a
 * following client (SSE), through a real controller (in this process, with its embedded
 * agent on the real Docker engine) and a real git repository, on a warm image. Next to
 * it, interleaved, the baseline: raw `docker run --rm IMAGE echo hi`.
 *
 * The controller's own share is measured from its events: trigger accepted → attempt
 * claimed and assigned (queue, match, dispatch), plus agent output stored → the client
 * has it (log fan-out). Target: p50 ≤ 1.3× raw docker run; the controller's share ≤ 20 ms p99.
 * Run: npm run bench:trigger-to-output [-- BUILDS]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../../src/main/server.ts';
import { machine, median, percentile, saveResult, timeCommand } from '../lib.ts';

const IMAGE = process.env.SLIPWAY_BENCH_IMAGE ?? 'slipway/busybox:1';
const BUILDS = Number(process.argv[2] ?? 50);
const TOKEN = 'bench-token';

const root = mkdtempSync(join(tmpdir(), 'slipway-bench-t2o-'));
const repo = join(root, 'repo');
execFileSync('sh', ['-c', `mkdir -p ${repo} && cd ${repo} && git init -q -b main`]);
writeFileSync(
  join(repo, '.slipway.yml'),
  // No checkout: the baseline is a bare `docker run echo hi`, so the build is one echo too.
  `jobs:\n  hello:\n    image: ${IMAGE}\n    network: offline\n    checkout: false\n    steps:\n      - echo hi\n`,
);
execFileSync('sh', [
  '-c',
  `cd ${repo} && git add -A && git -c user.name=b -c user.email=b@b commit -qm bench`,
]);
writeFileSync(
  join(root, 'server.yml'),
  `listen: 127.0.0.1:0\nagent:\n  executors: 2\njobs:\n  hello:\n    repo: ${repo}\n`,
);

const server = await startServer({
  configFile: join(root, 'server.yml'),
  dataDir: join(root, 'data'),
  version: 'bench',
  log: () => undefined,
  env: { ...process.env, SLIPWAY_ADMIN_TOKEN: TOKEN },
});
const headers = { authorization: `Bearer ${TOKEN}` };

// Controller-side timestamps, by build id.
const stored = new Map<number, number>(); // first output chunk stored
server.controller.events.on('log', (buildId: number, step: number) => {
  // The first output of a step, not the agent's own progress lines (step -1).
  if (step >= 0 && !stored.has(buildId)) stored.set(buildId, performance.now());
});

async function oneBuild(): Promise<{
  total: number;
  accept: number;
  dispatch: number;
  fanout: number;
}> {
  const t0 = performance.now();
  const response = await fetch(`${server.url}/api/v1/jobs/hello/builds`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: '{}',
  });
  const build = (await response.json()) as { id: number };
  const accepted = performance.now();
  const stream = await fetch(`${server.url}/api/v1/builds/${build.id}/logs?follow=1`, { headers });
  const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = '';
  let firstByte = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    // The first output of a step (step >= 0), not the agent's own progress lines.
    if (/"step":\d/.test(text)) {
      firstByte = performance.now();
      break;
    }
  }
  await reader.cancel();
  const detail = (await (
    await fetch(`${server.url}/api/v1/builds/${build.id}`, { headers })
  ).json()) as {
    createdAt: number;
    jobRuns: { attempts: { queuedAt: number; startedAt: number }[] }[];
  };
  const attempt = detail.jobRuns[0]!.attempts[0]!;
  // Wait for the build to end so builds do not overlap.
  for (;;) {
    const b = (await (
      await fetch(`${server.url}/api/v1/builds/${build.id}`, { headers })
    ).json()) as { status: string };
    if (['success', 'failure', 'error', 'canceled'].includes(b.status)) break;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return {
    total: firstByte - t0,
    // The API call: git fetch of the mirror, compile, one transaction.
    accept: accepted - t0,
    // Queued → claimed and assigned (ms resolution, from the store): queue + match + dispatch.
    dispatch: Math.max(0, attempt.startedAt - attempt.queuedAt),
    fanout: Math.max(0, firstByte - (stored.get(build.id) ?? firstByte)),
  };
}

const totals: number[] = [];
const shares: number[] = [];
const accepts: number[] = [];
const raw: number[] = [];
// Warm up: image cache, git mirror, first compile.
await oneBuild();
await timeCommand('docker', ['run', '--rm', '--network', 'none', IMAGE, 'echo', 'hi']);
for (let i = 0; i < BUILDS; i++) {
  const r = await oneBuild();
  totals.push(r.total);
  shares.push(r.dispatch + r.fanout);
  accepts.push(r.accept);
  if (i % 2 === 0)
    raw.push(
      await timeCommand('docker', ['run', '--rm', '--network', 'none', IMAGE, 'echo', 'hi']),
    );
}
await server.stop();
rmSync(root, { recursive: true, force: true });

const result = {
  bench: 'trigger-to-output',
  date: new Date().toISOString(),
  machine: await machine(),
  image: IMAGE,
  builds: BUILDS,
  rawDockerRunP50Ms: median(raw),
  triggerToOutputP50Ms: median(totals),
  triggerToOutputP99Ms: percentile(totals, 99),
  ratioP50: median(totals) / median(raw),
  controllerShareP50Ms: median(shares),
  controllerShareP99Ms: percentile(shares, 99),
  triggerAcceptP50Ms: median(accepts),
  triggerAcceptP99Ms: percentile(accepts, 99),
  targets: { ratioP50: 1.3, controllerShareP99Ms: 20 },
};
console.log(
  `raw docker run --rm ${IMAGE} echo hi    p50 ${result.rawDockerRunP50Ms.toFixed(0)} ms`,
);
console.log(
  `trigger → first output at the client     p50 ${result.triggerToOutputP50Ms.toFixed(0)} ms, p99 ${result.triggerToOutputP99Ms.toFixed(0)} ms = ${result.ratioP50.toFixed(2)}x raw (target <= 1.3x)`,
);
console.log(
  `controller's share (dispatch + fan-out)  p50 ${result.controllerShareP50Ms.toFixed(1)} ms, p99 ${result.controllerShareP99Ms.toFixed(1)} ms (target <= 20 ms p99)`,
);
console.log(
  `the trigger call itself (fetch, compile, commit) p50 ${result.triggerAcceptP50Ms.toFixed(1)} ms, p99 ${result.triggerAcceptP99Ms.toFixed(1)} ms`,
);
saveResult('trigger-to-output', result);
