import { describe, expect, it } from 'vitest';
import {
  checkExpression,
  evaluate,
  parseExpression,
  parseTemplate,
  renderTemplate,
  type ExpressionValues,
} from './expressions.ts';

const values: ExpressionValues = {
  matrix: { node: 20, os: 'linux' },
  env: { APP: 'shop', EMPTY: '' },
  inputs: { level: 3, flag: false },
  build: { branch: 'release/2.0', sha: 'abc', event: 'push', number: 7, pr: null },
};

function run(source: string): unknown {
  const parsed = parseExpression(source);
  if (!parsed.ok) throw new Error(parsed.problem.message);
  return evaluate(parsed.expr, values);
}

describe('expressions', () => {
  it('compares numbers and numeric strings by value', () => {
    expect(run('matrix.node == 20')).toBe(true);
    expect(run("matrix.node == '20'")).toBe(true);
    expect(run('matrix.node >= 18 && matrix.node < 22')).toBe(true);
    expect(run("'10' < '9'")).toBe(true); // both strings: lexical, as written
  });

  it('returns operands from && and || for defaults', () => {
    expect(run("env.EMPTY || 'fallback'")).toBe('fallback');
    expect(run("inputs.level > 2 && 'high' || 'low'")).toBe('high');
    expect(run('!inputs.flag')).toBe(true);
  });

  it('has string functions', () => {
    expect(run("startsWith(build.branch, 'release/')")).toBe(true);
    expect(run("contains(env.APP, 'HO')")).toBe(true);
    expect(run("format('{0}-{1}-{0}', env.APP, build.number)")).toBe('shop-7-shop');
    expect(run("upper('a') == 'A'")).toBe(true);
  });

  it('parses quoted strings with doubled quotes', () => {
    expect(run("'it''s'")).toBe("it's");
    expect(run('"a}}b"')).toBe('a}}b');
  });

  it('reports syntax errors with their column', () => {
    const parsed = parseExpression("build.branch = 'main'");
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) {
      expect(parsed.problem.start).toBe(13);
      expect(parsed.problem.message).toContain('==');
    }
  });

  it('refuses deep nesting instead of overflowing', () => {
    const parsed = parseExpression('('.repeat(10_000) + '1' + ')'.repeat(10_000));
    expect(parsed.ok).toBe(false);
  });

  it('checks names against the scope', () => {
    const parsed = parseExpression('matrix.nod == env.APP && inputs.x');
    if (!parsed.ok) throw new Error('parse');
    const problems = checkExpression(parsed.expr, {
      matrix: new Set(['node']),
      env: new Set(['APP']),
      inputs: new Set(['level']),
    });
    expect(problems.map((p) => p.message)).toEqual([
      expect.stringContaining('did you mean "node"'),
      expect.stringContaining('there is no input "x"'),
    ]);
  });

  it('keeps run-time expressions as written when rendering', () => {
    const parts = parseTemplate("npm-${{ hashFiles('package-lock.json') }}-${{ build.branch }}");
    expect(renderTemplate(parts, values)).toBe(
      "npm-${{ hashFiles('package-lock.json') }}-release/2.0",
    );
    expect(renderTemplate(parts, { ...values, hashFiles: (p) => `h(${p.join(',')})` })).toBe(
      'npm-h(package-lock.json)-release/2.0',
    );
  });

  it('leaves shell variables alone', () => {
    const text = 'echo $HOME ${PATH} $(date) ${#x} ${a:-b}';
    expect(renderTemplate(parseTemplate(text), values)).toBe(text);
  });

  it('evaluates status functions only when statuses are known', () => {
    const parsed = parseExpression('failure() || always()');
    if (!parsed.ok) throw new Error('parse');
    expect(() => evaluate(parsed.expr, values)).toThrow();
    expect(
      evaluate(parsed.expr, {
        ...values,
        status: { success: true, failure: false, canceled: false },
      }),
    ).toBe(true);
  });
});
