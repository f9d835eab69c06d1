/**
 * Dependency direction of DESIGN.md §4, enforced (`npm run deps`).
 *
 * The layer rules are an allow list generated on every run from the table "Layers and the
 * direction of dependencies" in docs/architecture.md (scripts/layer-rules.cjs): change the
 * table, not this file, to change what a layer may import. The rules below are the ones the
 * table does not express. test/layering.test.ts proves every rule refuses what it should.
 */
const { layerRulesOf } = require('./scripts/layer-rules.cjs');

const layers = layerRulesOf(__dirname);

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...layers.forbidden,
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Import cycles make start-up order and testing fragile.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'pipeline-is-pure',
      severity: 'error',
      comment: 'src/pipeline does no I/O: no node: built-ins.',
      from: { path: '^src/pipeline/', pathNot: '\\.test\\.ts$' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'no-dev-deps-in-src',
      severity: 'error',
      comment: 'Dev dependencies are not installed with the package: only tests may use them.',
      from: { path: '^src/', pathNot: '(\\.test\\.ts$|/test-support/)' },
      to: { dependencyTypes: ['npm-dev'] },
    },
    {
      name: 'src-stays-in-src',
      severity: 'error',
      comment:
        'Code under src/ imports only src/, npm packages and node: built-ins (unit tests may also use test/ support files).',
      from: { path: '^src/', pathNot: '\\.test\\.ts$' },
      to: { dependencyTypes: ['local'], pathNot: '^src/' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  required: layers.required,
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.json'] },
  },
};
