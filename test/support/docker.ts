/** Reading the real engine's state in tests: what Slipway left behind. */
import { execFileSync } from 'node:child_process';

/** Containers and volumes carrying the given label (default: everything Slipway made). */
export function slipwayResources(label = 'dev.slipway.managed=1'): {
  containers: string[];
  volumes: string[];
} {
  const list = (args: string[]): string[] =>
    execFileSync('docker', args, { encoding: 'utf8' })
      .split('\n')
      .map((s) => s.trim())
      .filter(Boolean);
  return {
    containers: list(['ps', '-aq', '--filter', `label=${label}`]),
    volumes: list(['volume', 'ls', '-q', '--filter', `label=${label}`]),
  };
}
