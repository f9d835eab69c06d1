/**
 * Golden fixtures for the compiler: each test/fixtures/pipelines/NAME.yml has NAME.json
 * holding the expected diagnostics and, when valid, the expected plan.
 *
 * A first line `# fixture: {...}` passes compile options (context, limits, maxVariants).
 * Regenerate after an intended change with `UPDATE_FIXTURES=1 npx vitest run test/pipeline-fixtures.test.ts`
 * and review the diff: the JSON files are the specification. A fixture without its JSON
 * fails (it is written only with UPDATE_FIXTURES=1).
 */
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compile, type CompileOptions } from '../src/pipeline/compile.ts';
import { DIAGNOSTIC_CODES } from '../src/pipeline/diagnostics.ts';
import { pipelineJsonSchema } from '../src/pipeline/schema.ts';

const dir = join(import.meta.dirname, 'fixtures', 'pipelines');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.yml'))
  .sort();
const update = process.env.UPDATE_FIXTURES === '1';

/**
 * Diagnostic codes the compiler never raises: the controller raises them when it triggers
 * a build (they depend on the server's credentials), so no fixture can. Each is covered by
 * the named test instead.
 */
const AT_TRIGGER: Record<string, string> = {
  'credential-out-of-scope': 'test/server/credentials-api.test.ts',
  'credential-missing': 'src/credentials/build-secrets.test.ts',
};

function optionsOf(text: string, name: string): CompileOptions {
  const header = /^# fixture: (.*)$/m.exec(text.split('\n')[0] ?? '');
  const options = header ? (JSON.parse(header[1]!) as CompileOptions) : {};
  return { ...options, file: name };
}

function run(name: string) {
  const text = readFileSync(join(dir, name), 'utf8');
  const result = compile(text, optionsOf(text, name));
  return {
    diagnostics: result.diagnostics.map((d) => ({
      severity: d.severity,
      code: d.code,
      at: `${d.file}:${d.line}:${d.column}`,
      path: d.path,
      message: d.message,
    })),
    plan: result.plan,
  };
}

describe('pipeline fixtures', () => {
  it('has at least 40 fixtures', () => {
    expect(files.length).toBeGreaterThanOrEqual(40);
  });

  for (const name of files) {
    it(name, () => {
      const actual = run(name);
      const expectedFile = join(dir, name.replace(/\.yml$/, '.json'));
      if (update) writeFileSync(expectedFile, `${JSON.stringify(actual, null, 2)}\n`);
      // A fixture without its golden file specifies nothing: writing one here would pass
      // whatever the compiler does.
      expect(
        existsSync(expectedFile),
        `${name} has no golden file; write it with UPDATE_FIXTURES=1 and review it`,
      ).toBe(true);
      const expected = JSON.parse(readFileSync(expectedFile, 'utf8')) as unknown;
      expect(actual).toEqual(expected);
    });
  }

  it('covers every diagnostic code', () => {
    const seen = new Set<string>();
    for (const name of files) for (const d of run(name).diagnostics) seen.add(d.code);
    const missing = Object.keys(DIAGNOSTIC_CODES).filter(
      (code) => !seen.has(code) && !(code in AT_TRIGGER),
    );
    expect(missing).toEqual([]);
  });

  it('covers the codes raised at trigger time in the tests of the code that raises them', () => {
    for (const [code, testFile] of Object.entries(AT_TRIGGER)) {
      expect(code in DIAGNOSTIC_CODES, code).toBe(true);
      expect(readFileSync(join(import.meta.dirname, '..', testFile), 'utf8')).toContain(
        `code: '${code}'`,
      );
    }
  });

  it('uses every key of the format somewhere', () => {
    const keys = new Set<string>();
    const walk = (schema: unknown): void => {
      if (Array.isArray(schema)) schema.forEach(walk);
      else if (schema !== null && typeof schema === 'object') {
        const props = (schema as { properties?: Record<string, unknown> }).properties;
        if (props) for (const key of Object.keys(props)) keys.add(key);
        Object.values(schema).forEach(walk);
      }
    };
    walk(pipelineJsonSchema());
    const corpus = files.map((f) => readFileSync(join(dir, f), 'utf8')).join('\n');
    const unused = [...keys].filter((key) => !new RegExp(`(^|[\\s{,-])${key}:`, 'm').test(corpus));
    expect(unused).toEqual([]);
  });
});
