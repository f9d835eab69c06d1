/** Shared helpers for benchmarks: timing, medians, the engine CLI, and result files. */
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DEFAULT_POLICY, type Backend } from '../src/backends/backend.ts';
import { defaultContext } from '../src/pipeline/compile.ts';
import type { PlanJob } from '../src/pipeline/plan.ts';
import type { Reporter } from '../src/runtime/events.ts';
import { runJobAttempt, type JobResult } from '../src/runtime/job-runner.ts';
import { currentOwner } from '../src/runtime/owner.ts';
import { newRunId } from '../src/runtime/plan-runner.ts';

export const run = promisify(execFile);

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Wall time of a command, in milliseconds. */
export async function timeCommand(file: string, args: string[]): Promise<number> {
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(file, args, { stdio: 'ignore' });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`${file} ${args.join(' ')} exited ${code}`)),
    );
  });
  return performance.now() - started;
}

/** The load average and core count, printed with every result: this machine is shared. */
export async function machine(): Promise<{ load: string; cores: number; engine: string }> {
  const { stdout } = await run('sh', [
    '-c',
    'cat /proc/loadavg; nproc; docker version --format "{{.Server.Version}}"',
  ]);
  const [load = '', cores = '0', engine = ''] = stdout.trim().split('\n');
  return { load: load.split(' ').slice(0, 3).join(' '), cores: Number(cores), engine };
}

export function saveResult(name: string, result: unknown): void {
  const dir = join(import.meta.dirname, 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
}

export const ms = (v: number): string => `${v.toFixed(0)} ms`;

/** Runs one job attempt through the runtime as the benchmarks do; throws when it fails. */
export async function runBenchJob(
  backend: Backend,
  job: PlanJob,
  reporter: Reporter,
  secrets: Record<string, string> = {},
): Promise<JobResult> {
  const result = await runJobAttempt(job, {
    backend,
    runId: newRunId(),
    attempt: 1,
    owner: currentOwner('bench'),
    policy: DEFAULT_POLICY,
    pull: false,
    signal: new AbortController().signal,
    reporter,
    secrets,
    graceMs: 1000,
    cacheScope: 'bench',
    context: defaultContext(),
  });
  if (result.outcome !== 'success') throw new Error(`bench job failed: ${result.reason}`);
  return result;
}
