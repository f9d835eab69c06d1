/**
 * Caches: directories kept between builds in volumes keyed by the rendered cache key.
 * Restored into the workspace before the first step and saved after a successful job,
 * by copying inside the primary container, so every backend does it the same way.
 * The volume holds one directory per cache path (`0/`, `1/`, ...); a save replaces it
 * atomically (copy to `N.new`, then rename), so an interrupted save never leaves half a cache.
 */
import type { Pod, StepCommand } from '../backends/backend.ts';
import { parseTemplate, renderTemplate } from '../pipeline/expressions.ts';
import { buildValues } from '../pipeline/job-render.ts';
import type { BuildContext, PlanCache, PlanJob } from '../pipeline/plan.ts';
import { WORKSPACE_PATH } from '../pipeline/plan.ts';
import { resolvePosix } from '../pipeline/shell-words.ts';
import { cacheMountPath } from './pod-plan.ts';
import type { WorkspaceSource } from './workspace-source.ts';

/** Renders a cache key, evaluating `hashFiles()` over the checkout source. */
export async function renderCacheKey(
  cache: PlanCache,
  job: PlanJob,
  context: BuildContext,
  source: WorkspaceSource | undefined,
): Promise<string> {
  const parts = parseTemplate(cache.key);
  const hashes = new Map<string, string>();
  for (const part of parts) {
    if (
      part.kind !== 'expr' ||
      !part.expr ||
      part.expr.kind !== 'call' ||
      part.expr.name !== 'hashFiles'
    )
      continue;
    const patterns = part.expr.args.map((a) => (a.kind === 'literal' ? String(a.value) : ''));
    hashes.set(patterns.join('\0'), source ? await source.hashFiles(patterns) : '');
  }
  return renderTemplate(parts, {
    matrix: job.matrix,
    env: job.env,
    inputs: context.inputs,
    build: buildValues(context),
    hashFiles: (patterns) => hashes.get(patterns.join('\0')) ?? '',
  });
}

const RESTORE = `
cache="$1"; shift; i=0
for p in "$@"; do
  case "$p" in /*) dest="$p" ;; *) dest="$SLIPWAY_WORKSPACE/$p" ;; esac
  if [ -d "$cache/$i" ]; then mkdir -p "$dest" && cp -a "$cache/$i/." "$dest/" && echo "restored $p"; else echo "empty $p"; fi
  i=$((i+1))
done`;

const SAVE = `
cache="$1"; shift; i=0
for p in "$@"; do
  case "$p" in /*) src="$p" ;; *) src="$SLIPWAY_WORKSPACE/$p" ;; esac
  if [ -e "$src" ]; then
    rm -rf "$cache/$i.new" && mkdir -p "$cache/$i.new" && cp -a "$src/." "$cache/$i.new/" && rm -rf "$cache/$i" && mv "$cache/$i.new" "$cache/$i" && echo "saved $p"
  else echo "missing $p"; fi
  i=$((i+1))
done`;

/** Restores (`restore: true`) or saves a cache; returns the script's report lines. */
export async function transferCache(
  pod: Pod,
  cache: PlanCache,
  index: number,
  direction: 'restore' | 'save',
  asRoot: boolean,
  signal: AbortSignal,
): Promise<{ ok: boolean; lines: string[] }> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const command: StepCommand = {
    id: `cache-${direction}-${index}`,
    argv: [
      'sh',
      '-c',
      direction === 'restore' ? RESTORE : SAVE,
      'slipway-cache',
      cacheMountPath(index),
      ...cache.paths,
    ],
    directArgv: null,
    env: { SLIPWAY_WORKSPACE: WORKSPACE_PATH, SLIPWAY_CACHE_DIR: cacheMountPath(index) },
    workingDir: resolvePosix(WORKSPACE_PATH, '.'),
    user: asRoot ? '0' : null,
    graceMs: 5000,
  };
  const exit = await pod.exec(
    'primary',
    command,
    { stdout: (b) => out.push(Buffer.from(b)), stderr: (b) => err.push(Buffer.from(b)) },
    signal,
  );
  const lines = Buffer.concat([...out, ...err])
    .toString('utf8')
    .split('\n')
    .filter(Boolean);
  return { ok: exit.kind === 'exited' && exit.exitCode === 0, lines };
}
