import { describe, expect, it } from 'vitest';
import {
  BUILD_STATUSES,
  OUTCOMES,
  buildStatusOf,
  isBuildStatus,
  isFinished,
  isOutcome,
  statusOf,
} from './status.ts';

describe('outcomes and statuses', () => {
  it('shows the infrastructure failures as error and the user failures as failure', () => {
    const table = Object.fromEntries(OUTCOMES.map((o) => [o, statusOf(o)]));
    expect(table).toEqual({
      success: 'success',
      failure: 'failure',
      oom_killed: 'failure',
      timeout: 'failure',
      canceled: 'canceled',
      image_pull: 'error',
      image_missing: 'error',
      infra_error: 'error',
      skipped: 'skipped',
    });
  });

  it('every ending status is finished, and a build never shows skipped', () => {
    for (const outcome of OUTCOMES) {
      expect(isFinished(statusOf(outcome))).toBe(true);
      expect(BUILD_STATUSES).toContain(buildStatusOf(outcome));
    }
    expect(isFinished('queued')).toBe(false);
    expect(isFinished('running')).toBe(false);
    expect(isFinished('waiting')).toBe(false);
  });

  it('recognises its own words and nothing else', () => {
    expect(isOutcome('oom_killed')).toBe(true);
    expect(isOutcome('error')).toBe(false);
    expect(isOutcome(3)).toBe(false);
    expect(isBuildStatus('canceled')).toBe(true);
    expect(isBuildStatus('skipped')).toBe(false);
  });
});
