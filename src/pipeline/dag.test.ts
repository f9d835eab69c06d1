import { describe, expect, it } from 'vitest';
import { findCycles, stages } from './dag.ts';

const graph = (edges: Record<string, string[]>) => new Map(Object.entries(edges));

describe('job graph', () => {
  it('names each cycle once', () => {
    const cycles = findCycles(
      ['a', 'b', 'c', 'd'],
      graph({ a: ['b'], b: ['c'], c: ['a'], d: ['d'] }),
    );
    expect(cycles).toEqual([['a', 'b', 'c'], ['d']]);
  });
  it('puts a job one stage after its deepest need', () => {
    const s = stages(['a', 'b', 'c', 'd'], graph({ a: [], b: ['a'], c: ['a', 'b'], d: [] }));
    expect(Object.fromEntries(s)).toEqual({ a: 0, b: 1, c: 2, d: 0 });
  });
  it('handles a chain of 50,000 jobs without recursion', () => {
    const names = Array.from({ length: 50_000 }, (_, i) => `j${i}`);
    const edges = graph(Object.fromEntries(names.map((n, i) => [n, i === 0 ? [] : [`j${i - 1}`]])));
    expect(findCycles(names, edges)).toEqual([]);
    expect(stages(names, edges).get('j49999')).toBe(49_999);
  });
});
