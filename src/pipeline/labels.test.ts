import { describe, expect, it } from 'vitest';
import { formatLabelExpression, matchLabels, parseLabelExpression } from './labels.ts';

function matches(expression: string, labels: string[]): boolean {
  const parsed = parseLabelExpression(expression);
  if (!parsed.ok) throw new Error(parsed.error.message);
  return matchLabels(parsed.expr, new Set(labels));
}

describe('label expressions', () => {
  it('matches agents by their labels', () => {
    expect(matches('linux && !arm64', ['linux', 'x86_64'])).toBe(true);
    expect(matches('linux && !arm64', ['linux', 'arm64'])).toBe(false);
    expect(matches('(docker || podman) && gpu', ['podman', 'gpu'])).toBe(true);
    expect(matches('(docker || podman) && gpu', ['docker'])).toBe(false);
    expect(matches('', [])).toBe(true);
  });

  it('binds && tighter than ||', () => {
    expect(matches('a || b && c', ['a'])).toBe(true);
    expect(matches('a || b && c', ['b'])).toBe(false);
  });

  it('prints a canonical form that parses to the same meaning', () => {
    const parsed = parseLabelExpression('  (a||b)&&!( c && d )');
    if (!parsed.ok) throw new Error('parse');
    const text = formatLabelExpression(parsed.expr);
    expect(text).toBe('(a || b) && !(c && d)');
    const again = parseLabelExpression(text);
    expect(again.ok && formatLabelExpression(again.expr)).toBe(text);
  });

  it('says where a broken expression breaks', () => {
    const parsed = parseLabelExpression('linux && && arm');
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error.column).toBe(9);
  });
});
