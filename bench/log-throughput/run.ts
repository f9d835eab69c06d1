/**
 * bench/log-throughput: a step printing 1 GiB, end to end through the runtime (engine exec
 * stream → demux → secret masker with 20 secrets → events), next to the raw engine stream
 * (`docker exec ... | wc -c`) measured in the same run. Checks that no byte is lost
 * (sha256 of what arrived) and reports the runner's memory growth.
 * Run: npx tsx bench/log-throughput/run.ts [runs] [MiB]
 */
import { createHash } from 'node:crypto';
import { createDockerBackend } from '../../src/backends/docker/docker-backend.ts';
import { compile } from '../../src/pipeline/compile.ts';
import type { RunEvent } from '../../src/runtime/events.ts';
import { machine, median, run, saveResult, timeCommand, runBenchJob } from '../lib.ts';

const IMAGE = process.env.SLIPWAY_BENCH_IMAGE ?? 'slipway/busybox:1';
const RUNS = Number(process.argv[2] ?? 3);
const MIB = Number(process.argv[3] ?? 1024);
const LINE = 'slipway log line 0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ';
// 1 MiB of text lines made in the container, then written MIB times.
const SCRIPT = `yes '${LINE}' | head -c 1048576 > /tmp/block; i=0; while [ $i -lt ${MIB} ]; do cat /tmp/block; i=$((i+1)); done`;

function expectedHash(): string {
  const unit = `${LINE}\n`;
  const block = Buffer.from(unit.repeat(Math.ceil(1048576 / unit.length))).subarray(0, 1048576);
  const hash = createHash('sha256');
  for (let i = 0; i < MIB; i++) hash.update(block);
  return hash.digest('hex');
}

const secrets = Object.fromEntries(
  Array.from({ length: 20 }, (_, i) => [
    `SECRET_${i}`,
    `s3cret-value-${i}-${'x'.repeat(8 + i * 2)}`,
  ]),
);
// No checkout: the runtime is given no source here, and the bench is about output.
const yaml = `jobs:\n  bench:\n    image: ${IMAGE}\n    network: offline\n    checkout: false\n    steps:\n      - ${JSON.stringify(SCRIPT)}\n`;
const job = compile(yaml).plan!.jobs[0]!;
const backend = createDockerBackend();

async function throughRuntime(): Promise<{
  mibps: number;
  bytes: number;
  hash: string;
  rssGrowthMiB: number;
}> {
  globalThis.gc?.();
  const rssBefore = process.memoryUsage().rss;
  let peak = rssBefore;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  const hash = createHash('sha256');
  let bytes = 0;
  let started = 0;
  let ended = 0;
  const reporter = (e: RunEvent): void => {
    if (e.type === 'step.started') started = performance.now();
    if (e.type === 'step.finished') ended = performance.now();
    if (e.type === 'output' && e.stream === 'stdout') {
      bytes += e.data.length;
      hash.update(e.data);
    }
  };
  await runBenchJob(backend, job, reporter, secrets);
  clearInterval(sampler);
  return {
    mibps: bytes / 1048576 / ((ended - started) / 1000),
    bytes,
    hash: hash.digest('hex'),
    rssGrowthMiB: (peak - rssBefore) / 1048576,
  };
}

async function rawEngine(): Promise<number> {
  const { stdout } = await run('docker', [
    'run',
    '-d',
    '--init',
    '--network',
    'none',
    IMAGE,
    'sh',
    '-c',
    'while :; do sleep 3600; done',
  ]);
  const id = stdout.trim();
  try {
    const elapsed = await timeCommand('sh', [
      '-c',
      `docker exec ${id} sh -c ${JSON.stringify(SCRIPT).replace(/\$/g, '\\$')} | wc -c > /dev/null`,
    ]);
    return MIB / (elapsed / 1000);
  } finally {
    await run('docker', ['rm', '-f', id]);
  }
}

const expected = expectedHash();
const runtime: number[] = [];
const raw: number[] = [];
const growth: number[] = [];
let lost = false;
for (let i = 0; i < RUNS; i++) {
  raw.push(await rawEngine());
  const r = await throughRuntime();
  runtime.push(r.mibps);
  growth.push(r.rssGrowthMiB);
  if (r.bytes !== MIB * 1048576 || r.hash !== expected) lost = true;
  console.log(
    `run ${i + 1}: runtime ${r.mibps.toFixed(0)} MiB/s, raw engine ${raw.at(-1)!.toFixed(0)} MiB/s, rss +${r.rssGrowthMiB.toFixed(1)} MiB, ${r.bytes} bytes, checksum ${r.hash === expected ? 'ok' : 'MISMATCH'}`,
  );
}
const result = {
  bench: 'log-throughput',
  date: new Date().toISOString(),
  machine: await machine(),
  image: IMAGE,
  mib: MIB,
  runs: RUNS,
  secretsMasked: Object.keys(secrets).length,
  runtimeMiBps: median(runtime),
  rawEngineMiBps: median(raw),
  ratioToRaw: median(runtime) / median(raw),
  rssGrowthMiB: Math.max(...growth),
  bytesLost: lost,
  targets: { runtimeMiBps: 100, rssGrowthMiB: 64 },
};
saveResult('log-throughput', result);
console.log(
  `median: runtime ${result.runtimeMiBps.toFixed(0)} MiB/s (target >= 100), raw engine exec ${result.rawEngineMiBps.toFixed(0)} MiB/s, ratio ${result.ratioToRaw.toFixed(2)}; worst rss growth ${result.rssGrowthMiB.toFixed(1)} MiB (target <= 64); bytes lost: ${lost}`,
);
console.log(JSON.stringify(result));
