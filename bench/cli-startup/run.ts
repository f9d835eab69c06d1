/**
 * bench/cli-startup: how long the `slipway` command takes before it does its work.
 *
 * In one run, interleaved, each a fresh process of the built CLI (`bin/slipway.js`, dist/):
 *   - `node -e 0`, the baseline: Node's own start on this machine today
 *   - `slipway --version`, `slipway --help`, `slipway validate examples/node-app`
 *   - `slipway run` of a one-step pipeline: from the spawn to its first request to the
 *     Docker engine, seen by a small proxy on a unix socket given as DOCKER_HOST that
 *     timestamps the first bytes it receives and forwards everything to the real engine
 *     (the run goes on to its end through it, and cleans up after itself)
 * Medians, their ratios to the baseline, and each one's peak RSS (one extra run under
 * /usr/bin/time). Targets (for a machine where Node starts in 50 ms): --version and
 * validate ≤ 120 ms, run → first engine call ≤ 200 ms; the figures are also given scaled
 * to a 50 ms Node start, since this machine's speed changes by the hour.
 *
 * `--compare DIR` measures the same commands with another checkout's build (DIR/bin/slipway.js,
 * its dist/ built) in the same run, e.g. the commit before a change.
 * Run: npm run bench:cli-startup [-- ITERATIONS] [--compare DIR]
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { machine, median, ms, saveResult } from '../lib.ts';

const args = process.argv.slice(2);
const compareAt = args.indexOf('--compare');
const compareDir = compareAt >= 0 ? resolve(args[compareAt + 1] ?? '') : undefined;
const ITERATIONS = Number(
  args.find((a, i) => /^\d+$/.test(a) && args[i - 1] !== '--compare') ?? 15,
);
const IMAGE = process.env.SLIPWAY_BENCH_IMAGE ?? 'slipway/busybox:1';
const ENGINE = '/var/run/docker.sock';
const ROOT = resolve(import.meta.dirname, '..', '..');
const EXAMPLE = join(ROOT, 'examples', 'node-app');

const work = mkdtempSync(join(tmpdir(), 'slipway-bench-startup-'));
const project = join(work, 'project');
execFileSync('sh', ['-c', `mkdir -p ${project} && cd ${project} && git init -q -b main`]);
writeFileSync(
  join(project, '.slipway.yml'),
  `jobs:\n  hello:\n    image: ${IMAGE}\n    network: none\n    steps:\n      - "true"\n`,
);
execFileSync('sh', [
  '-c',
  `cd ${project} && git add -A && git -c user.name=b -c user.email=b@b commit -qm bench`,
]);

// The engine proxy: resolves `firstRequest` at the first bytes of the first connection.
let onFirst: ((at: number) => void) | undefined;
const sockets = new Set<Socket>();
const proxy = createServer((client) => {
  sockets.add(client);
  const engine = connect(ENGINE);
  sockets.add(engine);
  client.once('data', () => {
    const at = performance.now();
    onFirst?.(at);
    onFirst = undefined;
  });
  client.pipe(engine).pipe(client);
  const close = (): void => {
    client.destroy();
    engine.destroy();
    sockets.delete(client);
    sockets.delete(engine);
  };
  client.on('error', close).on('close', close);
  engine.on('error', close).on('close', close);
});
const proxyPath = join(work, 'engine.sock');
await new Promise<void>((done) => proxy.listen(proxyPath, done));

interface Timed {
  ms: number;
  code: number | null;
}

function time(command: string[], env: NodeJS.ProcessEnv = {}): Promise<Timed> {
  return new Promise((done, fail) => {
    const started = performance.now();
    const child = spawn(process.execPath, command, {
      cwd: ROOT,
      stdio: 'ignore',
      env: { ...process.env, NO_COLOR: '1', ...env },
    });
    child.on('error', fail);
    child.on('close', (code) => done({ ms: performance.now() - started, code }));
  });
}

/** Spawn → first engine request, and spawn → exit, of one `slipway run`. */
async function runToEngine(bin: string): Promise<{ first: number; total: number }> {
  const first = new Promise<number>((done) => (onFirst = done));
  const started = performance.now();
  const exited = time([bin, 'run', project, '--no-pull'], {
    DOCKER_HOST: `unix://${proxyPath}`,
  });
  const [at, end] = await Promise.all([first, exited]);
  if (end.code !== 0) throw new Error(`slipway run exited ${end.code}`);
  return { first: at - started, total: end.ms };
}

/** Peak RSS of one run of a command, in MiB, from /usr/bin/time. */
function peakRss(command: string[]): number {
  const { stderr } = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, ...command], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
    encoding: 'utf8',
  });
  return Number(stderr.trim().split('\n').at(-1)) / 1024;
}

interface Build {
  name: string;
  bin: string;
}
const builds: Build[] = [{ name: 'this', bin: join(ROOT, 'bin', 'slipway.js') }];
if (compareDir) builds.push({ name: 'compare', bin: join(compareDir, 'bin', 'slipway.js') });

const commands = (bin: string): Record<string, string[]> => ({
  version: [bin, '--version'],
  help: [bin, '--help'],
  validate: [bin, 'validate', EXAMPLE],
});

const samples: Record<string, number[]> = { node: [] };
const add = (key: string, value: number): void => void (samples[key] ??= []).push(value);

try {
  // Warm up once: the file cache, the image, the engine.
  await time(['-e', '0']);
  for (const build of builds) {
    for (const command of Object.values(commands(build.bin))) await time(command);
    await runToEngine(build.bin);
  }
  for (let i = 0; i < ITERATIONS; i++) {
    add('node', (await time(['-e', '0'])).ms);
    for (const build of builds) {
      for (const [name, command] of Object.entries(commands(build.bin))) {
        const result = await time(command);
        if (result.code !== 0) throw new Error(`${command.join(' ')} exited ${result.code}`);
        add(`${build.name}.${name}`, result.ms);
      }
      const run = await runToEngine(build.bin);
      add(`${build.name}.runFirstEngineCall`, run.first);
      add(`${build.name}.runTotal`, run.total);
    }
  }

  const node = median(samples.node!);
  const figures: Record<string, { medianMs: number; ratio: number; scaledMs: number }> = {};
  for (const [key, values] of Object.entries(samples)) {
    const value = median(values);
    figures[key] = { medianMs: value, ratio: value / node, scaledMs: (value / node) * 50 };
  }
  const rss: Record<string, number> = { node: peakRss(['-e', '0']) };
  for (const build of builds)
    for (const [name, command] of Object.entries(commands(build.bin)))
      rss[`${build.name}.${name}`] = peakRss(command);

  const result = {
    bench: 'cli-startup',
    date: new Date().toISOString(),
    machine: await machine(),
    iterations: ITERATIONS,
    compare: compareDir ?? null,
    nodeMs: node,
    figures,
    peakRssMiB: rss,
    targets: { versionMs: 120, validateMs: 120, runFirstEngineCallMs: 200, atNodeStartMs: 50 },
  };
  saveResult('cli-startup', result);
  console.log(
    `node -e 0 (baseline)               ${ms(node)} (median of ${ITERATIONS}), ${rss.node!.toFixed(0)} MiB`,
  );
  for (const build of builds) {
    if (compareDir) console.log(`-- ${build.name === 'this' ? 'this build' : compareDir}`);
    for (const name of ['version', 'help', 'validate', 'runFirstEngineCall', 'runTotal']) {
      const f = figures[`${build.name}.${name}`]!;
      const memory = rss[`${build.name}.${name}`];
      console.log(
        `${name.padEnd(34)} ${ms(f.medianMs).padStart(7)} = ${f.ratio.toFixed(2)}x node, ${ms(f.scaledMs)} at a 50 ms node start` +
          (memory ? `, ${memory.toFixed(0)} MiB` : ''),
      );
    }
  }
  console.log(JSON.stringify(result));
} finally {
  for (const socket of sockets) socket.destroy();
  proxy.close();
  rmSync(work, { recursive: true, force: true });
}
