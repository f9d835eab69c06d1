/**
 * What each command loads before it runs: the real `bin/slipway.js` with a hook that records
 * every module. Start-up time itself is measured by `npm run bench:cli-startup`, not here.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { slipway } from './support/cli.ts';

const ROOT = join(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'slipway-startup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let runs = 0;
/** The modules (our files under dist/, and packages) a command line loads. */
async function loads(
  args: string[],
): Promise<{ ours: string[]; packages: string[]; code: number | null }> {
  const file = join(dir, `trace-${runs++}.txt`);
  const result = await slipway(args, {
    nodeArgs: ['--import', join(ROOT, 'test', 'support', 'trace-imports.mjs')],
    env: { SLIPWAY_TRACE_IMPORTS: file },
    cwd: ROOT,
  });
  const lines = [...new Set(readFileSync(file, 'utf8').split('\n').filter(Boolean))];
  const ours = lines
    .filter((l) => l.includes('/dist/'))
    .map((l) => l.slice(l.indexOf('/dist/') + '/dist/'.length));
  const packages = [
    ...new Set(
      lines
        .filter((l) => l.includes('/node_modules/'))
        .map((l) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(l)![1]!),
    ),
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
        'cli/main.js',
        'cli/output.js',
        'cli/terminal-filter.js',
        'errors/index.js',
      ]);
    }
  });

  it('validate loads the compiler, not the engine client, the server or the store', async () => {
    const { ours, packages, code } = await loads(['validate', 'examples/node-app']);
    expect(code).toBe(0);
    expect(ours).toContain('pipeline/compile.js');
    expect(packages.filter((p) => HEAVY.includes(p))).toEqual([]);
    expect(ours.filter((f) => /^(server|store|backends|runtime|agent|main)\//.test(f))).toEqual([]);
  });

  it('run loads the engine client without its BuildKit-session and SSH parts', async () => {
    const { packages, code } = await loads(['run', '--help']);
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
    expect(ours).toContain('cli/client.js');
    expect(ours).not.toContain('pipeline/compile.js');
  });
});
