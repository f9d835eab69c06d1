/** Jobs for controller tests: defaults of a plain job, with what a test cares about. */
import type { JobInput } from '../../src/store/jobs.ts';

export function jobInput(name: string, repo: string, overrides: Partial<JobInput> = {}): JobInput {
  return {
    name,
    repo,
    branches: [],
    defaultBranch: 'main',
    pipelinePath: '.slipway.yml',
    concurrency: null,
    cancelOlder: false,
    schedules: [],
    webhookSecret: null,
    source: 'config',
    ...overrides,
  };
}
