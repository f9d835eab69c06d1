/**
 * Keeps V8's young generation at its initial size while the controller starts.
 *
 * Start-up allocates mostly objects that live for the whole process (modules, compiled
 * schemas, routes, prepared statements). Scavenges that find most objects surviving make
 * V8 double the young generation each time, up to its maximum (two 16 MiB semi-spaces
 * here), and an idle process never gives it back: about 10 MiB of a settled controller's
 * resident memory was young-generation space holding nothing (see docs/benchmarks.md,
 * idle-memory). While the growth factor is 1 the survivors go to the old generation
 * instead, where they belong; afterwards the default applies again, so a busy controller
 * grows its young generation as before.
 */
import { setFlagsFromString } from 'node:v8';

/** V8's default `--semi-space-growth-factor`. */
const DEFAULT_GROWTH_FACTOR = 2;

/**
 * Holds the young generation's size until the returned function is called (once the
 * server is up). A growth factor given on the command line is left alone.
 */
export function holdYoungGeneration(): () => void {
  if (process.execArgv.some((a) => a.startsWith('--semi-space-growth-factor'))) return () => {};
  setFlagsFromString('--semi-space-growth-factor=1');
  return () => setFlagsFromString(`--semi-space-growth-factor=${DEFAULT_GROWTH_FACTOR}`);
}
