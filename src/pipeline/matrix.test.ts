import { describe, expect, it } from 'vitest';
import { expandMatrix, variantName } from './matrix.ts';

describe('matrix expansion', () => {
  it('varies the first axis slowest', () => {
    const m = expandMatrix({ a: [1, 2], b: ['x', 'y'] });
    expect(m.combinations).toEqual([
      { a: 1, b: 'x' },
      { a: 1, b: 'y' },
      { a: 2, b: 'x' },
      { a: 2, b: 'y' },
    ]);
  });
  it('excludes partial matches and extends with include', () => {
    const m = expandMatrix({
      os: ['linux', 'mac'],
      node: [18, 20],
      exclude: [{ os: 'mac', node: 18 }],
      include: [
        { os: 'linux', coverage: true },
        { os: 'windows', node: 20 },
      ],
    });
    expect(m.combinations).toEqual([
      { os: 'linux', node: 18, coverage: true },
      { os: 'linux', node: 20, coverage: true },
      { os: 'mac', node: 20 },
      { os: 'windows', node: 20 },
    ]);
    expect(m.names).toEqual(['os', 'node', 'coverage']);
  });
  it('names variants by their values', () => {
    expect(variantName('test', { node: 20, os: 'linux' }, ['node', 'os'])).toBe(
      'test (node: 20, os: linux)',
    );
  });
});
