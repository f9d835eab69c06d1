/**
 * `npm run deps` refuses what the layer table of docs/architecture.md forbids, and only that.
 *
 * One dependency-cruiser run, with the real `.dependency-cruiser.cjs`, over a small tree laid
 * out like the repository: for every row of the table, a module that imports every layer and
 * package (the allowed ones must pass, the others must be reported under the row's rule), and
 * one import each for the rules the table does not express. The expected verdicts come from
 * the table read plainly here, not from the generated regular expressions they check.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { cruise, type ICruiseResult, type IConfiguration } from 'dependency-cruiser';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** A row of the table as scripts/layer-rules.cjs reads it. */
interface LayerRow {
  id: string;
  dir: string;
  glob: string | undefined;
  layers: 'everything' | string[];
  modules: string[];
  packages: string[];
  line: number;
}

interface LayerRulesModule {
  parseLayerTable: (markdown: string) => LayerRow[];
  DOC: string;
}

const root = join(import.meta.dirname, '..');
const require = createRequire(import.meta.url);
const config = require('../.dependency-cruiser.cjs') as IConfiguration;
const { parseLayerTable, DOC } = require('../scripts/layer-rules.cjs') as LayerRulesModule;
const doc = readFileSync(join(root, DOC), 'utf8');
const rows = parseLayerTable(doc);
const layerRows = rows.filter((r) => r.glob === undefined);
const dirs = layerRows.map((r) => r.dir);

/** A directory under src/ that no row names. */
const UNLISTED = 'zz-unlisted';
const UNLISTED_PACKAGE = 'unlisted-package';
const DEV_PACKAGE = 'dev-only-package';

function globMatches(glob: string, file: string): boolean {
  const parts = glob.split('*').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('[^/]*')}$`).test(file);
}

/** The row that governs a file of a layer: the glob row that matches it, else the layer's. */
function rowOf(dir: string, file: string): LayerRow | undefined {
  return (
    rows.find((r) => r.dir === dir && r.glob !== undefined && globMatches(r.glob, file)) ??
    layerRows.find((r) => r.dir === dir)
  );
}

/** What the table says about `row` importing `src/<path>`, read plainly. */
function mayImport(row: LayerRow, path: string): boolean {
  const layer = path.split('/')[0]!;
  if (!dirs.includes(layer)) return false;
  if (layer === row.dir || row.layers === 'everything' || row.layers.includes(layer)) return true;
  return row.modules.includes(path);
}

/** The fixture tree, and the rules each import (`from → to`) or module must break. */
class Fixture {
  readonly files = new Map<string, string>();
  readonly expected = new Map<string, string[]>();

  file(path: string, text: string): void {
    if (this.files.has(path) && this.files.get(path) !== text) throw new Error(`${path} twice`);
    this.files.set(path, text);
  }

  /** `from` imports `to` with `statement`; the cruise must report exactly `rules` for it. */
  import(from: string, to: string, statement: string, rules: string[]): void {
    this.files.set(from, `${this.files.get(from) ?? ''}${statement}\n`);
    this.expected.set(`${from} → ${to}`, rules);
  }

  /** A module that must break exactly `rules` by itself (rules about modules, not imports). */
  module(path: string, text: string, rules: string[]): void {
    this.file(path, text);
    this.expected.set(path, rules);
  }
}

function cycleKey(modules: string[]): string {
  return `cycle of ${[...new Set(modules)].sort().join(', ')}`;
}

const TARGET = 'export const value = 1;\nexport type Value = number;\n';

function build(): Fixture {
  const f = new Fixture();
  const packages = [...new Set(rows.flatMap((r) => r.packages)), UNLISTED_PACKAGE];
  for (const dir of [...dirs, UNLISTED]) {
    for (const name of ['target.ts', 'typed.ts', 'dynamic.ts']) {
      const row = rowOf(dir, name);
      if (row?.glob !== undefined)
        throw new Error(`src/${dir}/${name} falls under ${row.glob}: rename the fixture files`);
      f.file(`src/${dir}/${name}`, TARGET);
    }
  }
  for (const row of rows) for (const m of row.modules) f.file(`src/${m}`, TARGET);

  let n = 0;
  for (const row of rows) {
    // A module the row governs: named after its glob, or plainly for a directory row.
    const file = row.glob === undefined ? 'probe.ts' : row.glob.replace('*', '-probe');
    if (rowOf(row.dir, file) !== row) throw new Error(`no probe name for the row of ${row.id}`);
    const from = `src/${row.dir}/${file}`;
    const layerRule = `layer-${row.id}`;
    const targets = [...dirs, UNLISTED].map((d) => `${d}/target.ts`);
    for (const target of [...targets, ...row.modules]) {
      if (target === `${row.dir}/${file}`) continue;
      const rel = target.startsWith(`${row.dir}/`)
        ? `./${target.slice(row.dir.length + 1)}`
        : `../${target}`;
      f.import(
        from,
        `src/${target}`,
        `import { value as v${n++} } from '${rel}';\nexport { v${n - 1} };`,
        mayImport(row, target) ? [] : [layerRule],
      );
    }
    // A type-only import and a lazy import are imports too.
    const refused = [...dirs, UNLISTED].find((d) => !mayImport(row, `${d}/typed.ts`))!;
    f.import(
      from,
      `src/${refused}/typed.ts`,
      `import type { Value as T${n} } from '../${refused}/typed.ts';\nexport type U${n++} = T${n - 1};`,
      [layerRule],
    );
    f.import(
      from,
      `src/${refused}/dynamic.ts`,
      `export const load${n++} = () => import('../${refused}/dynamic.ts');`,
      [layerRule],
    );
    for (const pkg of packages)
      f.import(
        from,
        `node_modules/${pkg}/index.js`,
        `import p${n++} from '${pkg}';\nexport { p${n - 1} };`,
        row.packages.includes(pkg) ? [] : [`packages-${row.id}`],
      );
  }

  // The rules the table does not express, each with an import it must let through.
  const plain = layerRows.find((r) => r.dir !== 'pipeline')!.dir;
  // dependency-cruiser names a built-in without its node: prefix.
  f.import('src/pipeline/pure.ts', 'fs', "import 'node:fs';", ['pipeline-is-pure']);
  f.import('src/pipeline/pure.test.ts', 'fs', "import 'node:fs';", []);
  f.import(`src/${plain}/io.ts`, 'fs', "import 'node:fs';", []);
  f.import(
    `src/${plain}/dev.ts`,
    `node_modules/${DEV_PACKAGE}/index.js`,
    `import '${DEV_PACKAGE}';`,
    ['no-dev-deps-in-src'],
  );
  f.import(
    `src/${plain}/dev.test.ts`,
    `node_modules/${DEV_PACKAGE}/index.js`,
    `import '${DEV_PACKAGE}';`,
    [],
  );
  f.file('test/support/helper.ts', TARGET);
  const helper = "import '../../test/support/helper.ts';";
  f.import(`src/${plain}/outside.ts`, 'test/support/helper.ts', helper, ['src-stays-in-src']);
  f.import(`src/${plain}/outside.test.ts`, 'test/support/helper.ts', helper, []);
  f.import(`src/${plain}/unresolved.ts`, './missing.ts', "import './missing.ts';", [
    'not-to-unresolvable',
  ]);
  // A cycle is reported once, whichever of its imports dependency-cruiser meets first.
  f.import(`src/${plain}/cycle-a.ts`, `src/${plain}/cycle-b.ts`, "import './cycle-b.ts';", []);
  f.import(`src/${plain}/cycle-b.ts`, `src/${plain}/cycle-a.ts`, "import './cycle-a.ts';", []);
  f.expected.set(cycleKey([`src/${plain}/cycle-a.ts`, `src/${plain}/cycle-b.ts`]), ['no-circular']);
  // A directory without a row fails module by module, even with nothing to import.
  f.expected.set(`src/${UNLISTED}/target.ts`, ['layer-has-a-row']);
  f.expected.set(`src/${UNLISTED}/typed.ts`, ['layer-has-a-row']);
  f.expected.set(`src/${UNLISTED}/dynamic.ts`, ['layer-has-a-row']);
  f.module('src/loose.ts', TARGET, ['layer-has-a-row']);

  // Stub packages: production ones (every name in the table and one in none), one dev one.
  const manifest = {
    name: 'layering-fixture',
    type: 'module',
    dependencies: Object.fromEntries(packages.map((p) => [p, '1.0.0'])),
    devDependencies: { [DEV_PACKAGE]: '1.0.0' },
  };
  f.file('package.json', JSON.stringify(manifest));
  for (const pkg of [...packages, DEV_PACKAGE]) {
    f.file(`node_modules/${pkg}/package.json`, JSON.stringify({ name: pkg, main: 'index.js' }));
    f.file(`node_modules/${pkg}/index.js`, 'module.exports = {};\n');
  }
  return f;
}

let dir: string;
let fixture: Fixture;
let result: ICruiseResult;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'slipway-layering-'));
  fixture = build();
  for (const [path, text] of fixture.files) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  const { tsConfig: _file, ...options } = config.options ?? {};
  const out = await cruise(
    ['src'],
    {
      ...options,
      baseDir: dir,
      validate: true,
      ruleSet: { forbidden: config.forbidden ?? [], required: config.required ?? [] },
    },
    {},
    { tsConfig: extractTSConfig(join(root, 'tsconfig.json')) },
  );
  result = out.output as ICruiseResult;
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('the dependency rules of npm run deps', () => {
  it('report every forbidden import under its rule, and no allowed import', () => {
    // Every import the fixture means to check was seen: no verdict passes by being absent.
    const seen = new Set(
      result.modules.flatMap((m) => [
        m.source,
        ...m.dependencies.map((d) => `${m.source} → ${d.resolved}`),
      ]),
    );
    const unseen = [...fixture.expected.keys()].filter(
      (k) => !k.startsWith('cycle of') && !seen.has(k),
    );
    expect(unseen).toEqual([]);

    const actual = new Map<string, string[]>([...fixture.expected.keys()].map((k) => [k, []]));
    for (const v of result.summary.violations) {
      const key =
        v.type === 'module'
          ? v.from
          : v.rule.name === 'no-circular'
            ? cycleKey([v.from, ...(v.cycle ?? []).map((c) => c.name)])
            : `${v.from} → ${v.to}`;
      actual.set(key, [...(actual.get(key) ?? []), v.rule.name].sort());
    }
    expect(Object.fromEntries(actual)).toEqual(Object.fromEntries(fixture.expected));
  });

  it('are each proven by an import above', () => {
    const names = [...(config.forbidden ?? []), ...(config.required ?? [])].map((r) => r.name);
    const proven = new Set([...fixture.expected.values()].flat());
    expect(names.filter((name) => !proven.has(name!))).toEqual([]);
    // One allow list per row of the table, and one rule for directories without a row.
    for (const row of rows) expect(names).toContain(`layer-${row.id}`);
    expect(names).toContain('layer-has-a-row');
  });
});

describe('the layer table', () => {
  const table = (...body: string[]) =>
    [
      '# Architecture',
      '',
      '## Layers and the direction of dependencies',
      '',
      '| directory | what it is | may depend on | npm packages |',
      '| --- | --- | --- | --- |',
      '| `src/errors/` | errors | nothing | none |',
      ...body,
    ].join('\n');

  it('is read into layers, single modules, packages and file rows', () => {
    const read = parseLayerTable(
      table(
        '| `src/runtime/` | runtime | `errors` (types) | `tar-stream` |',
        '| `src/server/` | server | `errors`, `runtime/outcome.ts` | `fastify`, `@fastify/static` |',
        '| `src/server/run*.ts` | runs | `runtime` | none |',
        '| `src/main/` | wiring | everything | none |',
        '| `ui/` | the web app | the HTTP API only | `react` |',
      ),
    );
    expect(read.map((r) => [r.id, r.layers, r.modules, r.packages, r.line])).toEqual([
      ['errors', [], [], [], 7],
      ['runtime', ['errors'], [], ['tar-stream'], 8],
      ['server', ['errors'], ['runtime/outcome.ts'], ['fastify', '@fastify/static'], 9],
      ['server-run', ['runtime'], [], [], 10],
      ['main', 'everything', [], [], 11],
    ]);
  });

  // A misread row would silently allow or forbid the wrong imports: each is refused, by line.
  it.each([
    [
      'a name that is not a layer',
      '| `src/vcs/` | git | `store` | none |',
      /:8: .*"store" is not a layer/,
    ],
    [
      'prose between names',
      '| `src/vcs/` | git | `errors` unless slow | none |',
      /:8: .*cannot read "may depend on"/,
    ],
    [
      'a package without backticks',
      '| `src/vcs/` | git | nothing | simple-git |',
      /:8: .*cannot read "npm packages"/,
    ],
    [
      'a file row without its directory row',
      '| `src/vcs/x*.ts` | git | nothing | none |',
      /:8: .*has no row for its directory/,
    ],
    [
      'a directory not in src/<dir>/ form',
      '| `src/vcs/sub/` | git | nothing | none |',
      /:8: .*neither src\/<dir>\//,
    ],
    ['a row with a missing cell', '| `src/vcs/` | git | nothing |', /:8: .*the row has 3 cells/],
    [
      'two rows for one directory',
      '| `src/errors/` | again | nothing | none |',
      /:8: .*two rows for src\/errors\//,
    ],
  ])('refuses %s', (_what, row, message) => {
    expect(() => parseLayerTable(table(row))).toThrow(message);
  });

  it('refuses a document without the table or its columns', () => {
    expect(() => parseLayerTable('# Architecture\n')).toThrow(/no heading/);
    expect(() => parseLayerTable(table().replace(' npm packages |', ' packages |'))).toThrow(
      /:5: .*no column "npm packages"/,
    );
  });

  it('names only modules that exist', () => {
    for (const row of rows)
      for (const m of row.modules)
        expect(existsSync(join(root, 'src', m)), `src/${m} (row of ${row.id})`).toBe(true);
  });
});
