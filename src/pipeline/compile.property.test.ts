/**
 * Property tests: the compiler never throws and never hangs, whatever it is given,
 * and the plans it makes keep the DAG invariants the runtime relies on.
 */
import fc from 'fast-check';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { compile } from './compile.ts';
import { findCycles } from './dag.ts';

const KEYS = [
  'jobs',
  'image',
  'steps',
  'run',
  'needs',
  'matrix',
  'include',
  'exclude',
  'env',
  'when',
  'branch',
  'timeout',
  'retry',
  'max',
  'on',
  'resources',
  'memory',
  'cpus',
  'labels',
  'services',
  'ready',
  'tcp',
  'containers',
  'container',
  'cache',
  'key',
  'paths',
  'artifacts',
  'if',
  'defaults',
  'name',
  'checkout',
];
const SCALARS = [
  'debian:12',
  'make',
  '10m',
  '512MiB',
  'a && !b',
  '${{ matrix.x }}',
  '${{ env.A',
  '*',
  '',
  'build',
  1,
  0.5,
  true,
  null,
];

const yamlish = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        ...KEYS.map((k) => `${k}:`),
        '- ',
        '  ',
        '\n',
        '[',
        ']',
        '{',
        '}',
        ',',
        '&a ',
        '*a',
        '<<: ',
        '${{ ',
        ' }}',
        '"',
        "'",
        '#',
        '|',
        '---',
        '\t',
        ': ',
      ),
      fc.string({ maxLength: 6 }),
    ),
    { maxLength: 80 },
  )
  .map((parts) => parts.join(''));

const structured = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constantFrom(...SCALARS),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.constantFrom(...KEYS), tie('value'), { maxKeys: 5 }),
  ),
})).value;

function neverThrows(text: string): void {
  const result = compile(text);
  expect(Array.isArray(result.diagnostics)).toBe(true);
  if (result.plan === null)
    expect(result.diagnostics.some((d) => d.severity === 'error')).toBe(true);
  for (const d of result.diagnostics) {
    expect(d.line).toBeGreaterThanOrEqual(1);
    expect(d.column).toBeGreaterThanOrEqual(1);
    expect(d.message.length).toBeGreaterThan(10);
  }
}

describe('compiler properties', () => {
  it('never throws on arbitrary text', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), neverThrows), {
      numRuns: 400,
    });
  });

  it('never throws on YAML-like token soup', () => {
    fc.assert(fc.property(yamlish, neverThrows), { numRuns: 1500 });
  });

  it("never throws on random documents made of the format's own words", () => {
    fc.assert(
      fc.property(structured, (value) => neverThrows(stringify({ jobs: value }))),
      { numRuns: 1500 },
    );
  });

  it('plans random DAGs in dependency order, or names their cycles', () => {
    const graph = fc
      .integer({ min: 1, max: 12 })
      .chain((n) =>
        fc.tuple(
          fc.constant(n),
          fc.array(fc.tuple(fc.nat(n - 1), fc.nat(n - 1)), { maxLength: n * 2 }),
        ),
      );
    fc.assert(
      fc.property(graph, ([n, edges]) => {
        const needs = new Map<string, string[]>();
        for (let i = 0; i < n; i++) needs.set(`j${i}`, []);
        for (const [from, to] of edges) {
          if (from !== to && !needs.get(`j${from}`)!.includes(`j${to}`))
            needs.get(`j${from}`)!.push(`j${to}`);
        }
        const jobs = Object.fromEntries(
          [...needs].map(([name, list]) => [name, { image: 'x', needs: list, steps: ['true'] }]),
        );
        const result = compile(stringify({ jobs }));
        const cycles = findCycles([...needs.keys()], needs);
        if (cycles.length > 0) {
          expect(result.plan).toBeNull();
          expect(result.diagnostics.some((d) => d.code === 'needs-cycle')).toBe(true);
          return;
        }
        expect(result.diagnostics).toEqual([]);
        const plan = result.plan!;
        const position = new Map(plan.jobs.map((j, i) => [j.id, i]));
        const stageOf = new Map(plan.jobs.map((j) => [j.id, j.stage]));
        for (const job of plan.jobs) {
          for (const need of job.needs) {
            expect(position.get(need)!).toBeLessThan(position.get(job.id)!);
            expect(stageOf.get(need)!).toBeLessThan(job.stage);
          }
          const deepest = Math.max(-1, ...job.needs.map((need) => stageOf.get(need)!));
          expect(job.stage).toBe(deepest + 1);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('refuses hostile documents quickly instead of hanging', () => {
    const hostile = [
      'jobs: ' + '['.repeat(100_000),
      Array.from({ length: 5000 }, (_, i) => ' '.repeat(i) + 'a:').join('\n'),
      '- '.repeat(100_000) + 'x',
      'a: &a [' +
        '0,'.repeat(1000) +
        '0]\n' +
        Array.from(
          { length: 20 },
          (_, i) =>
            `b${i}: &b${i} [${Array(20)
              .fill(i === 0 ? '*a' : `*b${i - 1}`)
              .join(',')}]`,
        ).join('\n') +
        '\njobs: *b19\n',
      'jobs:\n  x:\n    image: a\n    steps: ["${{ ' + '('.repeat(50_000) + ' }}"]\n',
    ];
    for (const text of hostile) {
      const result = compile(text);
      expect(result.plan).toBeNull();
      expect(result.diagnostics.length).toBeGreaterThan(0);
    }
  });
});
