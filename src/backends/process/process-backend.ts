/**
 * The process backend: for machines without a container engine. Steps run as host
 * processes in a temporary workspace. It does NOT isolate anything — no image, no
 * resource limits, no network namespace — and says so on every pod. Services, tool
 * containers and per-step images are refused with a clear error.
 *
 * The runtime speaks in container paths (`/workspace`, `/.slipway/cache/N`). This backend
 * maps them to host directories in the structured fields it receives (working
 * directory, copy paths, env values) and never rewrites a script.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream } from 'node:fs';
import {
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  writeFile,
} from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pack } from 'tar-stream';
import { extractTar } from '../../archive/tar-extract.ts';
import {
  LABELS,
  PodError,
  type Backend,
  type CacheRef,
  type OwnerSelector,
  type Pod,
  type PodEvents,
  type PodRef,
  type PodSpec,
  type StepCommand,
  type StepExit,
  type StepIO,
} from '../backend.ts';

export interface ProcessBackendOptions {
  /** Where workspaces, pod records and caches live (default: the temp dir and ~/.cache/slipway). */
  rootDir?: string;
}

interface PodRecord {
  id: string;
  labels: Record<string, string>;
  workspace: string;
  pids: number[];
}

export function createProcessBackend(options: ProcessBackendOptions = {}): Backend {
  const root = options.rootDir ?? join(homedir(), '.cache', 'slipway', 'process');
  const podsDir = join(root, 'pods');
  const cachesDir = join(root, 'caches');

  const recordPath = (id: string): string => join(podsDir, `${id}.json`);
  const saveRecord = async (record: PodRecord): Promise<void> => {
    await mkdir(podsDir, { recursive: true });
    await writeFile(recordPath(record.id), JSON.stringify(record));
  };

  async function createPod(spec: PodSpec, signal: AbortSignal, events?: PodEvents): Promise<Pod> {
    const job = spec.owner.job;
    const use = ' Use --backend docker for jobs that need containers.';
    if (spec.services.length > 0) {
      throw new PodError(
        'policy',
        `job ${job} has services (${spec.services.map((s) => s.name).join(', ')}), which the process backend cannot start: it runs steps as host processes.${use}`,
      );
    }
    const extra = spec.containers.slice(1);
    if (extra.length > 0) {
      const what = extra
        .map((c) => (c.role === 'tool' ? `container ${c.name}` : `step image ${c.image}`))
        .join(', ');
      throw new PodError(
        'policy',
        `job ${job} uses ${what}, which the process backend cannot start: it runs steps as host processes.${use}`,
      );
    }
    if (signal.aborted) throw new PodError('canceled', 'canceled while the pod was starting');
    const primary = spec.containers[0];
    events?.onProgress?.(
      `process backend: steps run as host processes WITHOUT isolation; the image${primary ? ` (${primary.image})` : ''} is ignored and resource limits are not enforced`,
    );
    if (spec.network !== 'isolated' && spec.network !== 'offline') {
      events?.onProgress?.(`process backend: network: ${spec.network} is not enforced`);
    }
    await mkdir(root, { recursive: true });
    const workspace = await mkdtemp(join(options.rootDir ?? tmpdir(), 'slipway-ws-'));
    const caches = new Map(spec.caches.map((c) => [c.mountPath, join(cachesDir, c.volume)]));
    await Promise.all(
      spec.caches.map(async (c) => {
        await mkdir(join(cachesDir, c.volume), { recursive: true });
        await writeFile(
          join(cachesDir, `${c.volume}.json`),
          JSON.stringify({ volume: c.volume, key: c.key, scope: c.scope }),
        );
      }),
    );
    const record: PodRecord = {
      id: spec.id,
      labels: {
        [LABELS.managed]: '1',
        [LABELS.creator]: spec.owner.creator,
        [LABELS.creatorHost]: spec.owner.creatorHost,
        [LABELS.creatorPid]: String(spec.owner.creatorPid),
        [LABELS.creatorStart]: spec.owner.creatorStart,
        [LABELS.run]: spec.owner.runId,
        [LABELS.job]: spec.owner.job,
        [LABELS.attempt]: String(spec.owner.attempt),
        [LABELS.pod]: spec.id,
      },
      workspace,
      pids: [],
    };
    await saveRecord(record);
    return new ProcessPod(spec, record, caches, saveRecord, () =>
      rm(recordPath(spec.id), { force: true }),
    );
  }

  async function readRecords(): Promise<PodRecord[]> {
    const names = await readdir(podsDir).catch(() => [] as string[]);
    const records = await Promise.all(
      names
        .filter((n) => n.endsWith('.json'))
        .map(
          async (n) =>
            JSON.parse(
              await readFile(join(podsDir, n), 'utf8').catch(() => 'null'),
            ) as PodRecord | null,
        ),
    );
    return records.filter((r): r is PodRecord => r !== null);
  }

  return {
    name: 'process',
    available: () => Promise.resolve(true),
    createPod,
    // Host processes of a dead parent cannot be re-attached: their output pipes are gone.
    adopt: () => Promise.resolve(undefined),
    async list(selector: OwnerSelector) {
      const records = await readRecords();
      return records
        .filter((r) => Object.entries(selector).every(([k, v]) => r.labels[k] === v))
        .map((r): PodRef => ({
          id: r.id,
          labels: r.labels,
          resources: [`dir:${r.workspace}`, ...r.pids.map((p) => `pid:${p}`)],
        }));
    },
    async remove(ref: PodRef) {
      for (const resource of ref.resources) {
        if (resource.startsWith('pid:')) killGroup(Number(resource.slice(4)), 'SIGKILL');
        if (resource.startsWith('dir:'))
          await rm(resource.slice(4), { recursive: true, force: true });
      }
      await rm(recordPath(ref.id), { force: true });
    },
    async listCaches(scope?: string) {
      const names = await readdir(cachesDir).catch(() => [] as string[]);
      const refs = await Promise.all(
        names
          .filter((n) => n.endsWith('.json'))
          .map(
            async (n) =>
              JSON.parse(
                await readFile(join(cachesDir, n), 'utf8').catch(() => 'null'),
              ) as CacheRef | null,
          ),
      );
      return refs.filter(
        (r): r is CacheRef => r !== null && (scope === undefined || r.scope === scope),
      );
    },
    async removeCache(ref: CacheRef) {
      await rm(join(cachesDir, ref.volume), { recursive: true, force: true });
      await rm(join(cachesDir, `${ref.volume}.json`), { force: true });
    },
    close: () => Promise.resolve(),
  };
}

function killGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

class ProcessPod implements Pod {
  readonly id: string;
  private readonly running = new Set<ChildProcess>();
  private destroying: Promise<void> | undefined;

  constructor(
    private readonly spec: PodSpec,
    private readonly record: PodRecord,
    private readonly caches: Map<string, string>,
    private readonly save: (record: PodRecord) => Promise<void>,
    private readonly forget: () => Promise<void>,
  ) {
    this.id = spec.id;
  }

  /** Maps a container path (workspace or cache mount) to the host path behind it. */
  private map(path: string): string {
    const under = (prefix: string, host: string): string | undefined =>
      path === prefix
        ? host
        : path.startsWith(`${prefix}/`)
          ? join(host, path.slice(prefix.length + 1))
          : undefined;
    for (const [mount, host] of this.caches) {
      const mapped = under(mount, host);
      if (mapped) return mapped;
    }
    return under(this.spec.workspace, this.record.workspace) ?? path;
  }

  async exec(
    target: string,
    command: StepCommand,
    io: StepIO,
    signal: AbortSignal,
  ): Promise<StepExit> {
    if (target !== 'primary')
      return {
        kind: 'infra_error',
        message: `the process backend has only the host, not container "${target}"`,
      };
    if (this.destroying) return { kind: 'infra_error', message: 'the pod is being torn down' };
    if (command.user !== null && command.user !== String(process.getuid?.() ?? '')) {
      return {
        kind: 'infra_error',
        message: `the process backend cannot run steps as user ${command.user}; it runs them as the current user`,
      };
    }
    const cwd = this.map(command.workingDir);
    await mkdir(cwd, { recursive: true });
    const env: Record<string, string> = {};
    for (const key of ['PATH', 'HOME', 'LANG', 'TMPDIR', 'TERM'])
      if (process.env[key] !== undefined) env[key] = process.env[key]!;
    for (const [key, value] of Object.entries(command.env)) env[key] = this.map(value);
    env.SLIPWAY_WORKSPACE = this.record.workspace;
    const [file, ...args] = command.argv;
    if (file === undefined) return { kind: 'exited', exitCode: 0 };

    const child = spawn(file, args, {
      cwd,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.running.add(child);
    if (child.pid !== undefined) {
      this.record.pids.push(child.pid);
      void this.save(this.record).catch(() => undefined);
    }
    let stopped = false;
    let killTimer: NodeJS.Timeout | undefined;
    const stop = (): void => {
      if (stopped || child.pid === undefined) return;
      stopped = true;
      killGroup(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => killGroup(child.pid!, 'SIGKILL'), command.graceMs);
    };
    if (signal.aborted) stop();
    signal.addEventListener('abort', stop, { once: true });
    child.stdout.on('data', (chunk: Buffer) => io.stdout(chunk));
    child.stderr.on('data', (chunk: Buffer) => io.stderr(chunk));
    try {
      const exitCode = await new Promise<number>((resolveExit) => {
        child.once('error', (error: NodeJS.ErrnoException) => {
          io.stderr(Buffer.from(`slipway: cannot run ${file}: ${error.message}\n`));
          resolveExit(error.code === 'ENOENT' ? 127 : 126);
        });
        child.once('close', (code, sig) => resolveExit(code ?? 128 + signalNumber(sig)));
      });
      // Background children of the step go with it, as they do when a container exec ends.
      if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
      return stopped ? { kind: 'stopped', exitCode } : { kind: 'exited', exitCode };
    } finally {
      clearTimeout(killTimer);
      signal.removeEventListener('abort', stop);
      this.running.delete(child);
      this.record.pids = this.record.pids.filter((p) => p !== child.pid);
      void this.save(this.record).catch(() => undefined);
    }
  }

  async copyIn(_target: string, path: string, tar: NodeJS.ReadableStream): Promise<void> {
    // The workspace holds whatever the steps left there, links out of it included.
    await extractTar(tar, this.map(path));
  }

  async copyOut(_target: string, path: string): Promise<NodeJS.ReadableStream | undefined> {
    const source = this.map(path);
    const info = await lstat(source).catch(() => undefined);
    if (!info) return undefined;
    const archive = pack();
    const base = source.split(sep).pop() ?? 'root';
    void (async () => {
      try {
        const add = async (full: string, name: string): Promise<void> => {
          const stat = await lstat(full);
          if (stat.isDirectory()) {
            archive.entry({ name, type: 'directory', mode: stat.mode & 0o7777 });
            for (const child of (await readdir(full)).sort())
              await add(join(full, child), `${name}/${child}`);
          } else if (stat.isSymbolicLink()) {
            archive.entry({ name, type: 'symlink', linkname: await readlink(full) });
          } else if (stat.isFile()) {
            const entry = archive.entry({
              name,
              size: stat.size,
              mode: stat.mode & 0o7777,
              mtime: stat.mtime,
            });
            await pipeline(createReadStream(full), entry);
          }
        };
        await add(source, base);
        archive.finalize();
      } catch (error) {
        archive.destroy(error as Error);
      }
    })();
    return archive as unknown as NodeJS.ReadableStream;
  }

  destroy(): Promise<void> {
    this.destroying ??= (async () => {
      for (const child of this.running)
        if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
      await rm(this.record.workspace, { recursive: true, force: true }).catch(() => undefined);
      await this.forget().catch(() => undefined);
    })();
    return this.destroying;
  }
}

function signalNumber(signal: NodeJS.Signals | null): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGQUIT: 3,
    SIGKILL: 9,
    SIGSEGV: 11,
    SIGPIPE: 13,
    SIGTERM: 15,
  };
  return signal ? (numbers[signal] ?? 0) : 0;
}
