/**
 * Runs once around the whole suite.
 * - Before: builds dist/ (and the UI into dist-ui/) when any source file is newer, so tests that spawn the real
 *   `slipway` binary (bin/slipway.js) test the code as it is now.
 * - After: asserts that the suite left ZERO Slipway containers and volumes on the engine,
 *   and that the engine's docker0 bridge survived it
 *   (zero orphans is a feature); anything left is listed, removed, and fails the run.
 *   With SLIPWAY_TEST_SHARED_ENGINE=1 (several test runs sharing one engine at once, as
 *   parallel development worktrees do) leftovers are only listed: another run's live pods
 *   would look like ours, and removing them would break that run.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ownerAlive } from '../../src/runtime/owner.ts';

function newest(dir: string): number {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

interface Resource {
  id: string;
  description: string;
  creator: string;
  /** Its labels, for telling whether the process that made it still runs. */
  labels: Record<string, string>;
}

/**
 * Slipway's containers and volumes on the engine. Benchmarks (creator `bench`) and
 * whatever existed before the suite started (a quickstart controller, a run in another
 * terminal) are not the suite's: only what the suite made counts, and only that is removed.
 */
function managed(): { containers: Resource[]; volumes: Resource[] } {
  const list = (args: string[]): Resource[] => {
    try {
      return execFileSync('docker', args, { encoding: 'utf8' })
        .split('\n')
        .filter(Boolean)
        .map((line) => {
          const [id = '', creator = '', labels = '', ...rest] = line.split('\t');
          return {
            id,
            creator,
            labels: Object.fromEntries(
              labels
                .split(',')
                .map((pair) => [
                  pair.slice(0, pair.indexOf('=')),
                  pair.slice(pair.indexOf('=') + 1),
                ]),
            ),
            description: rest.join(' '),
          };
        });
    } catch {
      return []; // no engine: nothing can be left on it
    }
  };
  return {
    containers: list([
      'ps',
      '-a',
      '--filter',
      'label=dev.slipway.managed=1',
      '--format',
      '{{.ID}}\t{{.Label "dev.slipway.creator"}}\t{{.Labels}}\t{{.Names}} ({{.Image}}, {{.Status}})',
    ]),
    volumes: list([
      'volume',
      'ls',
      '--filter',
      'label=dev.slipway.managed=1',
      '--format',
      '{{.Name}}\t{{.Label "dev.slipway.creator"}}\t{{.Labels}}\t{{.Name}}',
    ]),
  };
}

export default function setup(): () => void {
  // bin/slipway.js runs the bundle that `build:server` makes after tsc (scripts/build-cli.mjs).
  const marker = 'dist/bundle/slipway.js';
  if (!existsSync(marker) || statSync(marker).mtimeMs < newest('src')) {
    execFileSync('npm', ['run', '--silent', 'build:server'], { stdio: 'inherit' });
  }
  const ui = 'dist-ui/index.html';
  if (!existsSync(ui) || statSync(ui).mtimeMs < newest('ui')) {
    execFileSync('npm', ['run', '--silent', 'build:ui'], { stdio: 'inherit' });
  }
  const before = managed();
  // What was there before the suite is not its own, unless the process that made it is
  // gone from this machine: then it is an earlier run's leftover (a test that failed in
  // shared-engine mode, which only lists what it leaves) and no one's live work. Outside
  // shared-engine mode those are removed now, said, and do not count against this run.
  if (process.env.SLIPWAY_TEST_SHARED_ENGINE !== '1') {
    const stale = [...before.containers, ...before.volumes].filter((r) => !ownerAlive(r.labels));
    const ids = (list: Resource[]): string[] =>
      list.filter((r) => stale.includes(r)).map((r) => r.id);
    if (ids(before.containers).length > 0)
      execFileSync('docker', ['rm', '-f', ...ids(before.containers)], { stdio: 'ignore' });
    if (ids(before.volumes).length > 0)
      execFileSync('docker', ['volume', 'rm', '-f', ...ids(before.volumes)], { stdio: 'ignore' });
    if (stale.length > 0)
      console.warn(
        `removed ${stale.length} Slipway resource(s) an earlier run left behind (their creator is gone):\n` +
          stale.map((r) => `  ${r.description}`).join('\n'),
      );
  }
  const existed = new Set([...before.containers, ...before.volumes].map((r) => r.id));
  const ours = (r: Resource): boolean => !existed.has(r.id) && r.creator !== 'bench';
  // The machine's engine must work after the suite as before it: its bridge included.
  const bridge = '/sys/class/net/docker0';
  const hadBridge = existsSync(bridge);
  return () => {
    if (hadBridge && !existsSync(bridge))
      throw new Error(
        "the test suite deleted the engine's docker0 bridge; containers with a bridge network no longer start",
      );
    const now = managed();
    const containers = now.containers.filter(ours);
    const volumes = now.volumes.filter(ours);
    if (containers.length === 0 && volumes.length === 0) {
      console.log('zero orphans: the suite left no Slipway container or volume on the engine');
      return;
    }
    if (process.env.SLIPWAY_TEST_SHARED_ENGINE === '1') {
      console.warn(
        `shared engine: ${containers.length} container(s) and ${volumes.length} volume(s) made since the start are still there (maybe another run's); not removed:\n` +
          [...containers, ...volumes].map((r) => `  ${r.description}`).join('\n'),
      );
      return;
    }
    const remove = (args: string[], ids: string[]): void => {
      if (ids.length > 0) execFileSync('docker', [...args, ...ids], { stdio: 'ignore' });
    };
    remove(
      ['rm', '-f'],
      containers.map((r) => r.id),
    );
    remove(
      ['volume', 'rm', '-f'],
      volumes.map((r) => r.id),
    );
    throw new Error(
      `the test suite left ${containers.length} container(s) and ${volumes.length} volume(s) behind (now removed):\n` +
        [...containers, ...volumes].map((r) => `  ${r.description}`).join('\n'),
    );
  };
}
