#!/usr/bin/env node
// Bundles the `slipway` command into dist/bundle/ (run by `npm run build:server`, after tsc).
//
// Why: Node resolves, reads and compiles each ES module on its own, and `slipway validate`
// loaded about 150 of them (95 of zod's). One entry file plus one chunk per lazily loaded
// command (esbuild's code splitting keeps main.ts's `import()`s lazy) starts faster; see
// docs/benchmarks.md (cli-startup).
//
// What stays a package import, loaded from node_modules as before: native modules
// (better-sqlite3), packages loaded through createRequire on purpose (dockerode, whose
// BuildKit and SSH parts src/backends/docker/dockerode.ts defers; fastify's schema
// compilers), and the server-only packages, which gain nothing from bundling.
//
// The output sits two directories below the repository root, like dist/cli/main.js, so
// the `new URL('../../…', import.meta.url)` paths (package.json, dist-ui) stay right.
// dist/bundle/meta.json says which sources and packages each output file holds (the start-up
// test reads it to tell what a command loads).
import { rmSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';

const OUT = 'dist/bundle';

/** Packages that are imported at run time instead of bundled (see above for why). */
export const EXTERNAL = [
  'better-sqlite3',
  'dockerode',
  'fastify',
  '@fastify/static',
  'kysely',
  'prom-client',
  'tar-stream',
  'croner',
];

rmSync(OUT, { recursive: true, force: true });
const result = await build({
  entryPoints: { slipway: 'src/cli/main.ts' },
  outdir: OUT,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: 'chunk-[hash]',
  external: EXTERNAL,
  // Bundled CommonJS packages (commander) call require() for Node's built-ins; an ES module
  // has no require of its own.
  banner: {
    js: "import { createRequire as __slipwayRequire } from 'node:module'; const require = __slipwayRequire(import.meta.url);",
  },
  // Less source for V8 to scan at start (a few per cent of start-up's instructions); names
  // are kept, so stack traces stay readable, and `node --enable-source-maps` maps them back.
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: 'linked',
  metafile: true,
  logLevel: 'warning',
});
writeFileSync(`${OUT}/meta.json`, JSON.stringify(result.metafile));
