/**
 * Dependency direction of DESIGN.md §4, enforced (`npm run deps`).
 * Each rule names the layer and what it may not reach.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Import cycles make start-up order and testing fragile.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'pipeline-is-a-leaf',
      severity: 'error',
      comment: 'src/pipeline is pure and depends on nothing of ours.',
      from: { path: '^src/pipeline/' },
      to: { path: '^src/', pathNot: '^src/pipeline/' },
    },
    {
      name: 'pipeline-is-pure',
      severity: 'error',
      comment: 'src/pipeline does no I/O: no node: built-ins.',
      from: { path: '^src/pipeline/', pathNot: '\\.test\\.ts$' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'archive-is-a-leaf',
      severity: 'error',
      comment:
        'src/archive (the one safe tar extractor) is shared by backends and runtime, so it depends on nothing of ours.',
      from: { path: '^src/archive/' },
      to: { path: '^src/', pathNot: '^src/archive/' },
    },
    {
      name: 'backends-stay-low',
      severity: 'error',
      comment: 'Backends know pipeline types, never the controller, store, scheduler or agent.',
      from: { path: '^src/backends/' },
      to: { path: '^src/(server|store|scheduler|agent|cli|main|clouds|config)/' },
    },
    {
      name: 'runtime-stays-low',
      severity: 'error',
      comment: 'The runtime runs one attempt on one backend; it does not know the controller.',
      from: { path: '^src/runtime/' },
      to: { path: '^src/(server|store|scheduler|agent|cli|main|clouds|config)/' },
    },
    {
      name: 'server-reaches-agents-through-protocol',
      severity: 'error',
      comment:
        'The server never imports backends, runtime or agent; it reaches them through protocol. ' +
        'Exception: the pure rule modules every layer shares (outcome classes, DAG decisions).',
      from: { path: '^src/server/' },
      to: {
        path: '^src/(backends|runtime|agent|cli|main)/',
        pathNot: '^src/runtime/(outcome|decisions)\\.ts$',
      },
    },
    {
      name: 'agent-does-not-know-the-controller',
      severity: 'error',
      from: { path: '^src/agent/' },
      to: { path: '^src/(server|store|scheduler|cli|main)/' },
    },
    {
      name: 'protocol-is-shared-wire-types',
      severity: 'error',
      from: { path: '^src/protocol/' },
      to: { path: '^src/', pathNot: '^src/(protocol|pipeline)/' },
    },
    {
      name: 'store-is-storage-only',
      severity: 'error',
      from: { path: '^src/store/' },
      to: { path: '^src/(server|backends|runtime|agent|cli|main|scheduler)/' },
    },
    {
      name: 'cli-uses-the-http-client',
      severity: 'error',
      comment:
        'CLI commands talk to a controller over HTTP; only `slipway run` uses runtime + backends, and wiring lives in main/.',
      from: { path: '^src/cli/', pathNot: '^src/cli/(run|run-[^/]+)\\.ts$' },
      to: { path: '^src/(runtime|backends|server|store|scheduler|agent)/' },
    },
    {
      name: 'only-cli-imports-main',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(cli|main)/' },
      to: { path: '^src/main/' },
    },
    {
      name: 'no-dev-deps-in-src',
      severity: 'error',
      from: { path: '^src/', pathNot: '(\\.test\\.ts$|/test-support/)' },
      to: { dependencyTypes: ['npm-dev'] },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.json'] },
  },
};
