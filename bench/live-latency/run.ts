/**
 * bench/live-latency: how long a line takes from the moment a step writes it to the
 * moment a following client (SSE) has it, through a real controller (in this process, its
 * embedded agent on the real Docker engine), with 20 secrets configured (every line goes
 * through the masker) and, as the baseline in the same run, the same controller without
 * secrets. The step writes a line without any secret, then sleeps, several times: the
 * masker must release it at once, not when more output comes.
 *
 * The step stamps each line with the wall clock (busybox `adjtimex`, microseconds; the
 * container shares the host's clock); the client compares on arrival.
 * Run: npm run bench:live-latency [-- BUILDS]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../src/main/server.ts';
import { machine, median, percentile, saveResult } from '../lib.ts';

const IMAGE = process.env.SLIPWAY_BENCH_IMAGE ?? 'slipway/busybox:1';
const BUILDS = Number(process.argv[2] ?? 5);
const LINES = 8;
const TOKEN = 'bench-token';

const root = mkdtempSync(join(tmpdir(), 'slipway-bench-live-'));
const repo = join(root, 'repo');
execFileSync('sh', ['-c', `mkdir -p ${repo} && cd ${repo} && git init -q -b main`]);
const stamp = `$(adjtimex | awk '/tv_sec/{s=$2} /tv_usec/{u=$2} END{printf "%d%06d", s, u}')`;
writeFileSync(
  join(repo, '.slipway.yml'),
  `jobs:\n  live:\n    image: ${IMAGE}\n    network: offline\n    steps:\n      - |\n` +
    `        for i in $(seq 1 ${LINES}); do t=${stamp}; echo "line $i at $t connecting to db:5432"; sleep 0.4; done\n`,
);
execFileSync('sh', [
  '-c',
  `cd ${repo} && git add -A && git -c user.name=b -c user.email=b@b commit -qm bench`,
]);

const secrets = Array.from({ length: 20 }, (_, i) => [
  `SECRET_${i}`,
  `s3cret-value-${i}-${'x'.repeat(8 + i * 2)}`,
]);

async function controller(name: string, withSecrets: boolean): Promise<RunningServer> {
  const config = join(root, `${name}.yml`);
  writeFileSync(
    config,
    `listen: 127.0.0.1:0\n` +
      (withSecrets
        ? `secrets:\n${secrets.map(([k]) => `  ${k}: env:BENCH_${k}`).join('\n')}\n`
        : '') +
      `agent:\n  pull: false\njobs:\n  live:\n    repo: ${repo}\n`,
  );
  return startServer({
    configFile: config,
    dataDir: join(root, name),
    version: 'bench',
    log: () => undefined,
    env: {
      ...process.env,
      SLIPWAY_ADMIN_TOKEN: TOKEN,
      ...Object.fromEntries(secrets.map(([k, v]) => [`BENCH_${k}`, v])),
    },
  });
}

const headers = { authorization: `Bearer ${TOKEN}` };
const nowUs = (): number => Math.round((performance.timeOrigin + performance.now()) * 1000);

/** One build: the latency (ms) of each of its lines, written → at the SSE client. */
async function oneBuild(server: RunningServer): Promise<number[]> {
  const response = await fetch(`${server.url}/api/v1/jobs/live/builds`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: '{}',
  });
  const { id } = (await response.json()) as { id: number };
  const stream = await fetch(`${server.url}/api/v1/builds/${id}/logs?follow=1`, { headers });
  const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  const latencies: number[] = [];
  let buffer = '';
  let output = '';
  while (latencies.length < LINES) {
    const { value, done } = await reader.read();
    if (done) break;
    const arrived = nowUs();
    buffer += decoder.decode(value, { stream: true });
    for (let at = buffer.indexOf('\n\n'); at >= 0; at = buffer.indexOf('\n\n')) {
      const data = /^data: (.*)$/m.exec(buffer.slice(0, at))?.[1];
      buffer = buffer.slice(at + 2);
      const chunk = data ? (JSON.parse(data) as { step?: number; b64?: string }) : {};
      if (chunk.step !== 0 || !chunk.b64) continue;
      output += Buffer.from(chunk.b64, 'base64').toString();
      for (let nl = output.indexOf('\n'); nl >= 0; nl = output.indexOf('\n')) {
        const written = /^line \d+ at (\d+) /.exec(output.slice(0, nl))?.[1];
        output = output.slice(nl + 1);
        if (written) latencies.push((arrived - Number(written)) / 1000);
      }
    }
  }
  await reader.cancel();
  for (;;) {
    const build = (await (
      await fetch(`${server.url}/api/v1/builds/${id}`, { headers })
    ).json()) as { status: string };
    if (['success', 'failure', 'error', 'canceled'].includes(build.status)) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return latencies;
}

const masked = await controller('secrets', true);
const plain = await controller('plain', false);
const withSecrets: number[] = [];
const baseline: number[] = [];
// Warm up both: image cache, git mirror, first compile.
await oneBuild(masked);
await oneBuild(plain);
for (let i = 0; i < BUILDS; i++) {
  withSecrets.push(...(await oneBuild(masked)));
  baseline.push(...(await oneBuild(plain)));
}
await masked.stop();
await plain.stop();
rmSync(root, { recursive: true, force: true });

const result = {
  bench: 'live-latency',
  date: new Date().toISOString(),
  machine: await machine(),
  image: IMAGE,
  builds: BUILDS,
  linesPerBuild: LINES,
  secretsMasked: secrets.length,
  withSecretsP50Ms: median(withSecrets),
  withSecretsP99Ms: percentile(withSecrets, 99),
  withSecretsMaxMs: Math.max(...withSecrets),
  baselineP50Ms: median(baseline),
  baselineP99Ms: percentile(baseline, 99),
  extraP50Ms: median(withSecrets) - median(baseline),
  targets: { withSecretsP99Ms: 250 },
};
console.log(
  `without secrets (baseline): p50 ${result.baselineP50Ms.toFixed(1)} ms, p99 ${result.baselineP99Ms.toFixed(1)} ms (${baseline.length} lines)`,
);
console.log(
  `with ${secrets.length} secrets:            p50 ${result.withSecretsP50Ms.toFixed(1)} ms, p99 ${result.withSecretsP99Ms.toFixed(1)} ms, max ${result.withSecretsMaxMs.toFixed(1)} ms (${withSecrets.length} lines; target p99 <= 250 ms)`,
);
saveResult('live-latency', result);
