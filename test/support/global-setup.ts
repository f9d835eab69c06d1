/**
 * Runs once before the suite: builds dist/ when any source file is newer, so tests that
 * spawn the real `slipway` binary (bin/slipway.js) test the code as it is now.
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

export default function setup(): void {
  const marker = 'dist/cli/main.js';
  if (!existsSync(marker) || statSync(marker).mtimeMs < newest('src')) {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  }
}
