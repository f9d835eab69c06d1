/**
 * What each command loads before it runs: the real `bin/slipway.js` with a hook that records
 * every file, and the bundle's metafile for the modules inside each file. Start-up time itself is measured by `npm run bench:cli-startup`, not here.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { slipway } from './support/cli.ts';
import { TEST_IMAGE } from './support/images.ts';
import { project } from './support/project.ts';

const ROOT = join(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'slipway-startup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What each file of the bundle holds (scripts/build-cli.mjs writes it next to the bundle). */
const meta = JSON.parse(readFileSync(join(ROOT, 'dist', 'bundle', 'meta.json'), 'utf8')) as {
  outputs: Record<string, { inputs: Record<string, unknown> }>;
};
const DIST = `${pathToFileURL(join(ROOT, 'dist')).href}/`;
const PACKAGE = /node_modules\/((?:@[^/]+\/)?[^/]+)/;

let runs = 0;
/**
 * The modules a command line loads: our sources (as paths under src/) and packages, both
 * those bundled into the files of dist/bundle/ it loads and those it loads from node_modules.
 */
async function loads(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ ours: string[]; packages: string[]; code: number | null }> {
  const file = join(dir, `trace-${runs++}.txt`);
  const result = await slipway(args, {
    nodeArgs: ['--import', join(ROOT, 'test', 'support', 'trace-imports.mjs')],
    env: { ...env, SLIPWAY_TRACE_IMPORTS: file },
    cwd: ROOT,
  });
  const lines = [...new Set(readFileSync(file, 'utf8').split('\n').filter(Boolean))];
  const modules = lines.filter((l) => l.includes('/node_modules/'));
  for (const line of lines.filter((l) => l.startsWith(DIST))) {
    const output = `dist/${line.slice(DIST.length)}`;
    const inputs = meta.outputs[output]?.inputs;
    if (!inputs) throw new Error(`${output} is not a file of the bundle (dist/bundle/meta.json)`);
    modules.push(...Object.keys(inputs));
  }
  const ours = modules.filter((m) => m.startsWith('src/')).map((m) => m.slice('src/'.length));
  const packages = [
    ...new Set(modules.filter((m) => PACKAGE.test(m)).map((m) => PACKAGE.exec(m)![1]!)),
  ];
  return { ours, packages, code: result.code };
}

const HEAVY = ['dockerode', 'fastify', 'kysely', 'better-sqlite3', 'prom-client', 'tar-stream'];

describe('slipway start-up loads only what the command needs', () => {
  it('--version and --help load commander and nothing of the commands', async () => {
    for (const args of [['--version'], ['--help']]) {
      const { ours, packages, code } = await loads(args);
      expect(code).toBe(0);
      expect(packages, args[0]).toEqual(['commander']);
      expect(ours.sort(), args[0]).toEqual([
        'cli/main.ts',
        'cli/output.ts',
        'cli/terminal-filter.ts',
        'errors/index.ts',
      ]);
    }
  });

  it('validate loads the compiler, not the engine client, the server or the store', async () => {
    const { ours, packages, code } = await loads(['validate', 'examples/node-app']);
    expect(code).toBe(0);
    expect(ours).toContain('pipeline/compile.ts');
    expect(packages.filter((p) => HEAVY.includes(p))).toEqual([]);
    expect(ours.filter((f) => /^(server|store|backends|runtime|agent|main)\//.test(f))).toEqual([]);
  });

  it('run loads the engine client without its BuildKit-session and SSH parts', async () => {
    // The engine client loads when the run first makes a container (the ping and the
    // listings before it do without), so this runs a one-step job on the real engine.
    const job = project({
      '.slipway.yml': `jobs:\n  hello:\n    image: ${TEST_IMAGE}\n    network: none\n    steps:\n      - "true"\n`,
    });
    const { packages, code } = await loads(['run', job, '--no-pull']);
    expect(code).toBe(0);
    expect(packages).toContain('dockerode');
    expect(
      packages.filter((p) =>
        ['ssh2', '@grpc/grpc-js', '@grpc/proto-loader', 'protobufjs'].includes(p),
      ),
    ).toEqual([]);
  });

  it('the client commands load no compiler, engine client, server or store', async () => {
    const { ours, packages } = await loads(['logs', '--help']);
    expect(packages).toEqual(['commander']);
    expect(ours).toContain('cli/client.ts');
    expect(ours).not.toContain('pipeline/compile.ts');
  });
});
