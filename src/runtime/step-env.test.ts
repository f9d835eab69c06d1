/**
 * docs/pipeline.md lists the variables every step gets; this keeps the table and the
 * runtime's stepEnv in step, both ways.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultContext } from '../pipeline/compile.ts';
import type { PlanJob, PlanStep } from '../pipeline/plan.ts';
import { stepEnv, type JobRunOptions } from './job-runner.ts';

const doc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'pipeline.md'), 'utf8');

/** The variable names in the table of the "Environment variables" section. */
function documented(): string[] {
  const section = doc.split(/^## Environment variables$/m)[1]?.split(/^## /m)[0] ?? '';
  return [...section.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]!);
}

describe('built-in environment variables', () => {
  it('docs/pipeline.md documents exactly the variables stepEnv gives every step', () => {
    const step = { index: 2, name: 'unit tests', env: {} } as unknown as PlanStep;
    const job = { id: 'test (node: 20)', env: {}, secrets: [] } as unknown as PlanJob;
    const options = {
      runId: '3f9c2a1b',
      attempt: 1,
      secrets: {},
      context: defaultContext(),
    } as unknown as JobRunOptions;
    const given = Object.keys(stepEnv(step, job, options));
    expect(documented().sort()).toEqual(given.sort());
    expect(given.length).toBeGreaterThan(10);
  });

  it('gives SLIPWAY_STEP the id the Docker backend marks the step with, on every backend', () => {
    const step = { index: 2, name: 'unit tests', env: {} } as unknown as PlanStep;
    const job = { id: 'a', env: {}, secrets: [] } as unknown as PlanJob;
    const env = stepEnv(step, job, {
      runId: 'run1',
      attempt: 3,
      secrets: {},
      context: defaultContext(),
    } as unknown as JobRunOptions);
    expect(env.SLIPWAY_STEP).toBe('run1-3-2');
    expect(env.SLIPWAY_STEP_NAME).toBe('unit tests');
  });
});
