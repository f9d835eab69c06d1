import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compile } from '../src/pipeline/compile.ts';

const root = join(import.meta.dirname, '..', 'examples');
const examples = readdirSync(root).filter((name) => existsSync(join(root, name, '.slipway.yml')));

describe('examples/', () => {
  it('has at least three example pipelines', () => {
    expect(examples.length).toBeGreaterThanOrEqual(3);
  });

  for (const name of examples) {
    it(`${name} validates with no diagnostics at all`, () => {
      const text = readFileSync(join(root, name, '.slipway.yml'), 'utf8');
      const result = compile(text, { file: `examples/${name}/.slipway.yml` });
      expect(result.diagnostics).toEqual([]);
      expect(result.plan?.jobs.length).toBeGreaterThan(0);
    });
  }
});
