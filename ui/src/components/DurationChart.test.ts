import { describe, expect, it } from 'vitest';
import type { Build } from '../api.ts';
import { chartBars } from './DurationChart.tsx';

function build(id: number, startedAt: number | null, finishedAt: number | null): Build {
  return {
    id,
    job: 'app',
    number: id,
    status: finishedAt === null ? 'running' : 'success',
    reason: '',
    cause: 'api',
    causeDetail: '',
    event: 'manual',
    branch: 'main',
    tag: null,
    pr: null,
    prTargetBranch: null,
    prHeadBranch: null,
    prHeadRepo: null,
    ref: null,
    trust: 'trusted',
    trustReason: null,
    sha: 'a'.repeat(40),
    commitMessage: null,
    commitAuthor: null,
    inputs: {},
    createdAt: 0,
    startedAt,
    finishedAt,
  };
}

const finite = (bars: ReturnType<typeof chartBars>['bars']) =>
  bars.every((b) => [b.x, b.y, b.width, b.height].every(Number.isFinite));

describe('chartBars', () => {
  it('draws one bar of a normal width for a job with one build', () => {
    const { bars, max } = chartBars([build(1, 1000, 13_300)]);
    expect(bars).toHaveLength(1);
    expect(finite(bars)).toBe(true);
    expect(bars[0]!.width).toBeLessThan(20);
    expect(max).toBe(12_300);
    expect(bars[0]!.label).toBe('#1 success, 12.3 s');
  });

  it('never divides by zero: builds that took no time, or never started', () => {
    const { bars, max } = chartBars([build(2, 5, 5), build(1, null, null)]);
    expect(max).toBe(1000);
    expect(finite(bars)).toBe(true);
    expect(bars.map((b) => b.height)).toEqual([2, 2]);
  });

  it('puts the oldest build on the left and measures a running one until now', () => {
    const { bars } = chartBars([build(2, 0, null), build(1, 0, 1000)], 4000);
    expect(bars.map((b) => b.number)).toEqual([1, 2]);
    expect(bars[1]!.height).toBeGreaterThan(bars[0]!.height);
  });
});
