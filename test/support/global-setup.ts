/**
 * Runs once around the whole suite.
 * - Before: builds dist/ (and the UI into dist-ui/) when any source file is newer, so tests that spawn the real
 *   `slipway` binary (bin/slipway.js) test the code as it is now.
 * - After: asserts that the suite left ZERO Slipway containers and volumes on the engine
 *   (zero orphans is a feature); anything left is listed, removed, and fails the run.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function newest(dir: string): number {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

function leftovers(): { containers: string[]; volumes: string[] } {
  const list = (args: string[]): string[] => {
    try {
      return execFileSync('docker', args, { encoding: 'utf8' }).split('\n').filter(Boolean);
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
      '{{.Names}} ({{.Image}}, {{.Status}})',
    ]),
    volumes: list([
      'volume',
      'ls',
      '--filter',
      'label=dev.slipway.managed=1',
      '--format',
      '{{.Name}}',
    ]),
  };
}

export default function setup(): () => void {
  const marker = 'dist/cli/main.js';
  if (!existsSync(marker) || statSync(marker).mtimeMs < newest('src')) {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  }
  const ui = 'dist-ui/index.html';
  if (!existsSync(ui) || statSync(ui).mtimeMs < newest('ui')) {
    execFileSync('npm', ['run', '--silent', 'build:ui'], { stdio: 'inherit' });
  }
  return () => {
    const left = leftovers();
    if (left.containers.length === 0 && left.volumes.length === 0) {
      console.log('zero orphans: no Slipway container or volume is left on the engine');
      return;
    }
    execFileSync(
      'sh',
      [
        '-c',
        'docker ps -aq --filter label=dev.slipway.managed=1 | xargs -r docker rm -f; docker volume ls -q --filter label=dev.slipway.managed=1 | xargs -r docker volume rm',
      ],
      { stdio: 'ignore' },
    );
    throw new Error(
      `the test suite left ${left.containers.length} container(s) and ${left.volumes.length} volume(s) behind (now removed):\n` +
        [...left.containers, ...left.volumes].map((x) => `  ${x}`).join('\n'),
    );
  };
}
