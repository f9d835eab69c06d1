/**
 * bench/step-overhead: what running a step through Slipway costs, next to the engine.
 *
 * In one run, interleaved: raw `docker run --rm IMAGE true` (the baseline: a container per
 * step), a Slipway job of 1 step, and a job of 10 `true` steps, through the runtime with
 * the real Docker backend. Reports medians and ratios to the baseline:
 *   - time to the first step's first output byte (target <= 1.2x raw docker run)
 *   - each further step, the exec path (target <= 100 ms median, >= 3x cheaper than a container)
 * Run: npx tsx bench/step-overhead/run.ts [iterations]
 */
import { createDockerBackend } from '../../src/backends/docker/docker-backend.ts';
import { compile } from '../../src/pipeline/compile.ts';
import type { PlanJob } from '../../src/pipeline/plan.ts';
import type { RunEvent } from '../../src/runtime/events.ts';
import { machine, median, ms, saveResult, timeCommand, runBenchJob } from '../lib.ts';

const IMAGE = process.env.SLIPWAY_BENCH_IMAGE ?? 'slipway/busybox:1';
const ITERATIONS = Number(process.argv[2] ?? 7);
const backend = createDockerBackend();

function job(steps: string[]): PlanJob {
  // No checkout: the runtime is given no source here, and the bench times steps.
  const yaml = `jobs:\n  bench:\n    image: ${IMAGE}\n    network: offline\n    checkout: false\n    steps:\n${steps.map((s) => `      - ${JSON.stringify(s)}`).join('\n')}\n`;
  const plan = compile(yaml).plan;
  if (!plan) throw new Error('bench pipeline did not compile');
  return plan.jobs[0]!;
}

async function slipwayJob(
  plan: PlanJob,
): Promise<{ firstOutputMs: number; totalMs: number; stepMs: number[] }> {
  const started = performance.now();
  let firstOutputMs = NaN;
  const starts = new Map<number, number>();
  const stepMs: number[] = [];
  const reporter = (e: RunEvent): void => {
    if (e.type === 'output' && Number.isNaN(firstOutputMs))
      firstOutputMs = performance.now() - started;
    if (e.type === 'step.started') starts.set(e.step, performance.now());
    if (e.type === 'step.finished') stepMs.push(performance.now() - starts.get(e.step)!);
  };
  await runBenchJob(backend, plan, reporter);
  return { firstOutputMs, totalMs: performance.now() - started, stepMs };
}

const one = job(['echo first']);
const ten = job(['echo first', ...Array.from({ length: 9 }, () => 'true')]);
const raw: number[] = [];
const first: number[] = [];
const total1: number[] = [];
const total10: number[] = [];
const further: number[] = [];

// Warm up once: image layers, the engine's caches, JIT.
await timeCommand('docker', ['run', '--rm', '--network', 'none', IMAGE, 'true']);
await slipwayJob(one);
for (let i = 0; i < ITERATIONS; i++) {
  raw.push(await timeCommand('docker', ['run', '--rm', '--network', 'none', IMAGE, 'true']));
  const a = await slipwayJob(one);
  first.push(a.firstOutputMs);
  total1.push(a.totalMs);
  const b = await slipwayJob(ten);
  total10.push(b.totalMs);
  further.push(...b.stepMs.slice(1));
}

const rawMedian = median(raw);
const result = {
  bench: 'step-overhead',
  date: new Date().toISOString(),
  machine: await machine(),
  image: IMAGE,
  iterations: ITERATIONS,
  rawDockerRunMs: rawMedian,
  firstOutputMs: median(first),
  firstOutputRatio: median(first) / rawMedian,
  furtherStepMedianMs: median(further),
  containerPerStepRatio: rawMedian / median(further),
  job1TotalMs: median(total1),
  job10TotalMs: median(total10),
  targets: { firstOutputRatio: 1.2, furtherStepMs: 100, containerPerStepRatio: 3 },
};
saveResult('step-overhead', result);
console.log(`raw docker run --rm ${IMAGE} true      ${ms(rawMedian)} (median of ${ITERATIONS})`);
console.log(
  `slipway: first step's first output    ${ms(result.firstOutputMs)}  = ${result.firstOutputRatio.toFixed(2)}x raw (target <= 1.2x)`,
);
console.log(
  `slipway: each further step (exec)     ${ms(result.furtherStepMedianMs)} (target <= 100 ms); a container per step costs ${result.containerPerStepRatio.toFixed(1)}x more (target >= 3x)`,
);
console.log(
  `slipway: whole job, 1 step / 10 steps ${ms(result.job1TotalMs)} / ${ms(result.job10TotalMs)} (including pod teardown)`,
);
console.log(JSON.stringify(result));
