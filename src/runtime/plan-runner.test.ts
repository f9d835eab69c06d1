import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_POLICY } from '../backends/backend.ts';
import {
  createFakeBackend,
  type FakeBackend,
  type FakeOptions,
} from '../backends/fake/fake-backend.ts';
import { compile } from '../pipeline/compile.ts';
import type { RunEvent } from './events.ts';
import { runPlan, type RunResult } from './plan-runner.ts';
import { localSource, type WorkspaceSource } from './workspace-source.ts';

/** A project with one file, for the checkout every job starts with. */
const projectDir = mkdtempSync(join(tmpdir(), 'slipway-plan-runner-'));
writeFileSync(join(projectDir, 'hello.txt'), 'hello\n');
afterAll(() => rmSync(projectDir, { recursive: true, force: true }));

function plan(yaml: string) {
  const result = compile(yaml);
  if (!result.plan) throw new Error(result.diagnostics.map((d) => d.message).join('\n'));
  return result.plan;
}

async function run(
  yaml: string,
  opts: {
    fake?: FakeOptions;
    secrets?: Record<string, string>;
    parallelism?: number;
    signal?: AbortSignal;
    source?: WorkspaceSource | null;
  } = {},
) {
  const backend: FakeBackend = createFakeBackend(opts.fake);
  const events: RunEvent[] = [];
  const p = plan(yaml);
  const result: RunResult = await runPlan(p, {
    backend,
    owner: { creator: 'test', creatorHost: 'h', creatorPid: 1, creatorStart: '0' },
    policy: DEFAULT_POLICY,
    pull: false,
    signal: opts.signal ?? new AbortController().signal,
    reporter: (e) => events.push(e),
    secrets: opts.secrets ?? {},
    graceMs: 50,
    cacheScope: 'test',
    ...(opts.source === null
      ? {}
      : { source: opts.source ?? localSource(projectDir, { listing: 'all' }) }),
    context: p.context,
    parallelism: opts.parallelism ?? 2,
  });
  // What the job's own steps printed (the checkout's report is not what these tests are about).
  const checkouts = (job: string): number[] =>
    p.jobs
      .find((j) => j.id === job)!
      .steps.filter((s) => s.kind === 'checkout')
      .map((s) => s.index);
  const output = (job: string): string =>
    events
      .filter(
        (e): e is Extract<RunEvent, { type: 'output' }> =>
          e.type === 'output' && e.job === job && !checkouts(job).includes(e.step),
      )
      .map((e) => e.data.toString())
      .join('');
  const job = (id: string) => result.jobs.find((j) => j.job === id)!;
  const steps = (id: string) =>
    job(id)
      .attempts.at(-1)!
      .steps.map((s) => `${s.name}: ${s.outcome}`);
  return { result, events, backend, output, job, steps };
}

describe('runPlan on the fake backend', () => {
  it('runs steps in order, streams output, and removes the pod', async () => {
    const r = await run(
      `jobs:\n  a:\n    image: x\n    steps: ["echo one", "echo two; echo-err warn"]\n`,
    );
    expect(r.result.outcome).toBe('success');
    expect(r.output('a')).toBe('one\ntwo\nwarn\n');
    expect(r.backend.live()).toBe(0);
  });

  it('fails the job at the first failing step and skips the rest, but runs failure and always steps', async () => {
    const r = await run(`jobs:
  a:
    image: x
    steps:
      - echo ok
      - name: breaks
        run: exit 3
      - name: after
        run: echo never
      - name: on-failure
        run: echo cleanup
        when: { status: failure }
      - name: via-if
        run: echo if
        if: failure()
      - name: always
        run: echo always
        when: { status: always }
`);
    const job = r.job('a');
    expect(job.outcome).toBe('failure');
    expect(job.reason).toBe('step 3 (breaks): exit code 3');
    expect(r.steps('a')).toEqual([
      'checkout: success',
      'echo ok: success',
      'breaks: failure',
      'after: skipped',
      'on-failure: success',
      'via-if: success',
      'always: success',
    ]);
    expect(r.result.outcome).toBe('failure');
  });

  it('lets an allowed failure pass', async () => {
    const r = await run(
      `jobs:\n  a:\n    image: x\n    steps:\n      - run: exit 1\n        allow_failure: true\n      - echo next\n`,
    );
    expect(r.job('a').outcome).toBe('success');
    expect(r.output('a')).toBe('next\n');
  });

  it('reports an OOM kill with the memory limit', async () => {
    const r = await run(
      `jobs:\n  a:\n    image: x\n    resources: { memory: 64MiB }\n    steps: [oom]\n`,
    );
    expect(r.job('a').outcome).toBe('oom_killed');
    expect(r.job('a').reason).toContain('out of memory (limit 64MiB)');
  });

  it('stops a step at its timeout and a job at its deadline', async () => {
    const step = await run(
      `jobs:\n  a:\n    image: x\n    steps:\n      - run: hang\n        timeout: 100ms\n      - echo never\n`,
    );
    expect(step.job('a').outcome).toBe('timeout');
    expect(step.job('a').reason).toContain('timed out after 100ms');
    const job = await run(
      `jobs:\n  a:\n    image: x\n    timeout: 150ms\n    steps: [hang, echo never]\n`,
    );
    expect(job.job('a').outcome).toBe('timeout');
    expect(job.steps('a')).toEqual(['checkout: success', 'hang: timeout', 'echo never: skipped']);
    expect(job.backend.live()).toBe(0);
  });

  it('keeps infrastructure errors apart from user failures', async () => {
    const vanish = await run(`jobs:\n  a:\n    image: x\n    steps: [vanish]\n`);
    expect(vanish.job('a').outcome).toBe('infra_error');
    expect(vanish.result.outcome).toBe('infra_error');
    const missing = await run(
      `jobs:\n  a:\n    image: fake/missing-image\n    steps: [echo hi]\n  b:\n    image: x\n    steps: [exit 1]\n`,
    );
    expect(missing.job('a').outcome).toBe('image_missing');
    expect(missing.job('a').reason).toContain('fake/missing-image');
    expect(missing.result.outcome).toBe('image_missing'); // infra wins over the user failure of b
    expect(missing.backend.live()).toBe(0);
  });

  it('says which service was not ready, as a timeout', async () => {
    const r = await run(
      `jobs:\n  a:\n    image: x\n    services:\n      db:\n        image: fake/never-ready\n        ready: { tcp: 5432, timeout: 100ms }\n    steps: [echo hi]\n`,
    );
    expect(r.job('a').outcome).toBe('timeout');
    expect(r.job('a').reason).toContain('service db');
  });

  it('retries only the failure classes in retry.on, in fresh pods', async () => {
    let calls = 0;
    const flaky: FakeOptions = {
      onExec: () =>
        ++calls === 1
          ? { kind: 'infra_error', message: 'node lost' }
          : { kind: 'exited', exitCode: 0 },
    };
    const r = await run(
      `jobs:\n  a:\n    image: x\n    retry: { max: 2, on: infra }\n    steps: [echo hi]\n`,
      { fake: flaky },
    );
    expect(r.job('a').outcome).toBe('success');
    expect(r.job('a').attempts.map((a) => a.outcome)).toEqual(['infra_error', 'success']);
    expect(new Set(r.backend.pods.map((p) => p.spec.id)).size).toBe(2);
    const user = await run(
      `jobs:\n  a:\n    image: x\n    retry: { max: 2, on: infra }\n    steps: [exit 1]\n`,
    );
    expect(user.job('a').attempts).toHaveLength(1);
    const any = await run(`jobs:\n  a:\n    image: x\n    retry: 2\n    steps: [exit 1]\n`);
    expect(any.job('a').attempts).toHaveLength(3);
  });

  it('runs the DAG in order, in parallel up to the limit', async () => {
    const yaml = `defaults: { image: x }\njobs:\n  a: { steps: [sleep 80] }\n  b: { steps: [sleep 80] }\n  c: { steps: [sleep 80] }\n  d:\n    needs: [a, b, c]\n    steps: [echo done]\n`;
    const timeline = async (parallelism: number) => {
      const r = await run(yaml, { parallelism });
      let running = 0;
      let peak = 0;
      for (const e of r.events) {
        if (e.type === 'job.started') peak = Math.max(peak, ++running);
        if (e.type === 'job.finished' && e.attempt > 0) running--;
      }
      const started = r.events
        .filter((e) => e.type === 'job.started')
        .map((e) => (e as { job: string }).job);
      return { peak, started };
    };
    const two = await timeline(2);
    expect(two.peak).toBe(2);
    expect(two.started.at(-1)).toBe('d');
    expect((await timeline(1)).peak).toBe(1);
  });

  it('decides when.status from the needs, and skips what depends on a failure', async () => {
    const r = await run(`defaults: { image: x }
jobs:
  build: { steps: [exit 1] }
  test: { needs: build, steps: [echo test] }
  notify: { needs: build, when: { status: failure }, steps: [echo notify] }
  cleanup: { needs: test, when: { status: always }, steps: [echo cleanup] }
  soft: { allow_failure: true, steps: [exit 1] }
  after-soft: { needs: soft, steps: [echo ok] }
`);
    expect(r.job('test').outcome).toBe('skipped');
    expect(r.job('test').reason).toBe('build did not succeed');
    expect(r.job('notify').outcome).toBe('success');
    expect(r.job('cleanup').outcome).toBe('success');
    expect(r.job('soft').allowedFailure).toBe(true);
    expect(r.job('after-soft').outcome).toBe('success');
    expect(r.result.outcome).toBe('failure');
  });

  it('cancels running jobs, never starts the rest, and removes every pod', async () => {
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 100);
    const r = await run(
      `defaults: { image: x }\njobs:\n  a: { steps: [hang] }\n  b: { needs: a, steps: [echo never] }\n`,
      { signal: abort.signal },
    );
    expect(r.result.outcome).toBe('canceled');
    expect(r.job('a').outcome).toBe('canceled');
    expect(r.job('b').outcome).toBe('canceled');
    expect(r.backend.live()).toBe(0);
  });

  it('masks secret values in output and injects only the secrets a job asks for', async () => {
    const r = await run(
      `jobs:\n  a:\n    image: x\n    secrets: [TOKEN]\n    steps: ["env TOKEN", "env OTHER", "echo the token is tok-123456"]\n`,
      {
        secrets: { TOKEN: 'tok-123456', OTHER: 'other-secret' },
      },
    );
    expect(r.output('a')).toBe('***\n\nthe token is ***\n');
  });

  it('checks the commit out before the first step of every job, unless told not to', async () => {
    const r = await run(
      `defaults: { image: x }\njobs:\n  a: { steps: [cat hello.txt] }\n  b: { checkout: false, steps: [cat hello.txt] }\n`,
    );
    expect(r.steps('a')).toEqual(['checkout: success', 'cat hello.txt: success']);
    expect(r.output('a')).toBe('hello\n');
    // Without a checkout the workspace is empty, and the job says so by failing.
    expect(r.steps('b')).toEqual(['cat hello.txt: failure']);
  });

  it('fails a job whose checkout has nothing to check out, instead of running it empty', async () => {
    const r = await run(`jobs:\n  a:\n    image: x\n    steps: [echo tests ran]\n`, {
      source: null,
    });
    expect(r.job('a').outcome).toBe('failure');
    expect(r.job('a').reason).toMatch(/step 1 \(checkout\): checkout has nothing to check out/);
    expect(r.output('a')).toBe('');
  });

  it('fails closed when a job needs a secret nobody gave', async () => {
    const r = await run(
      `jobs:\n  a:\n    image: x\n    secrets: [NPM_TOKEN]\n    steps: [echo hi]\n`,
    );
    expect(r.job('a').outcome).toBe('failure');
    expect(r.job('a').reason).toContain('--secret NPM_TOKEN=');
    expect(r.backend.pods).toHaveLength(0);
  });
});
