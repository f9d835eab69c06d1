/**
 * The fake backend: scriptable from tests, fast, no processes. A step's script (the last
 * argv element) is read as a tiny command language so runtime tests are real pipelines:
 *
 *   echo TEXT        TEXT and a newline to stdout      echo-err TEXT   ... to stderr
 *   exit N           end with exit code N               sleep MS        wait (stops early when stopped)
 *   oom              killed for memory (exit 137)       vanish          the container disappears (infra error)
 *   hang             runs until stopped (exit 143)      hang-hard       ignores SIGTERM; killed after the grace period
 *   bytes N          N bytes of binary output           env NAME        prints the value of env NAME
 *   write PATH TEXT  writes a workspace file             cat PATH        prints a workspace file
 *   pwd              prints the working directory
 *
 * Statements are separated by `;` or newlines. Images choose pod-level behaviour:
 * `fake/missing*` → image_missing, `fake/unpullable*` → image_pull, `fake/slow:<ms>` →
 * slow to start; a service image `fake/never-ready` → service_not_ready after its timeout.
 */
import { pack } from 'tar-stream';
import { readTar } from '../../archive/tar-extract.ts';
import {
  LABELS,
  PodError,
  type Backend,
  type OwnerSelector,
  type Pod,
  type PodEvents,
  type PodRef,
  type PodSpec,
  type StepCommand,
  type StepExit,
  type StepIO,
} from '../backend.ts';

export interface FakeExecCall {
  pod: string;
  target: string;
  command: StepCommand;
}

export interface FakePodRecord {
  spec: PodSpec;
  destroyed: boolean;
  execs: FakeExecCall[];
  files: Map<string, Buffer>;
}

export interface FakeOptions {
  /** Overrides any step: return a result to skip the command language. */
  onExec?: (call: FakeExecCall) => StepExit | undefined;
  /** Called by a pod's teardown, which ends when this resolves (a slow engine, in tests). */
  onDestroy?: (record: FakePodRecord) => Promise<void>;
}

export interface FakeBackend extends Backend {
  readonly pods: FakePodRecord[];
  /** Pods created and not destroyed. */
  live(): number;
}

/** The labels a fake pod would carry. */
function labelsOf(spec: PodSpec): Record<string, string> {
  return {
    [LABELS.managed]: '1',
    [LABELS.pod]: spec.id,
    [LABELS.creator]: spec.owner.creator,
    [LABELS.run]: spec.owner.runId,
    [LABELS.job]: spec.owner.job,
  };
}

export function createFakeBackend(options: FakeOptions = {}): FakeBackend {
  const pods: FakePodRecord[] = [];

  async function createPod(spec: PodSpec, signal: AbortSignal, events?: PodEvents): Promise<Pod> {
    const images = [...spec.containers.map((c) => c.image), ...spec.services.map((s) => s.image)];
    for (const image of images) {
      if (image.startsWith('fake/missing'))
        throw new PodError(
          'image_missing',
          `image "${image}" is not on this machine and pulling is turned off`,
        );
      if (image.startsWith('fake/unpullable'))
        throw new PodError(
          'image_pull',
          `image "${image}" is not on this machine and could not be pulled: no registry`,
        );
      const slow = /^fake\/slow:(\d+)/.exec(image);
      if (slow) await wait(Number(slow[1]), signal);
      if (signal.aborted) throw new PodError('canceled', 'canceled while the pod was starting');
    }
    for (const service of spec.services) {
      events?.onProgress?.(`starting service ${service.name} (${service.image})`);
      if (service.image === 'fake/never-ready' && service.ready.kind !== 'none') {
        await wait(service.ready.timeoutMs, signal);
        if (signal.aborted)
          throw new PodError('canceled', `canceled while waiting for service ${service.name}`);
        throw new PodError(
          'service_not_ready',
          `service ${service.name} (${service.image}) was not ready after ${Math.round(service.ready.timeoutMs / 1000)}s`,
        );
      }
    }
    const record: FakePodRecord = { spec, destroyed: false, execs: [], files: new Map() };
    pods.push(record);
    return new FakePod(record, options);
  }

  return {
    name: 'fake',
    pods,
    live: () => pods.filter((p) => !p.destroyed).length,
    available: () => Promise.resolve(true),
    createPod,
    adopt: (id, owner: OwnerSelector = {}) => {
      const record = pods.find(
        (p) =>
          p.spec.id === id &&
          !p.destroyed &&
          Object.entries(owner).every(([k, v]) => labelsOf(p.spec)[k] === v),
      );
      return Promise.resolve(record ? new FakePod(record, options) : undefined);
    },
    list(selector: OwnerSelector) {
      const refs = pods
        .filter((p) => !p.destroyed)
        .map((p): PodRef => ({
          id: p.spec.id,
          labels: labelsOf(p.spec),
          resources: [`fake:${p.spec.id}`],
        }))
        .filter((r) => Object.entries(selector).every(([k, v]) => r.labels[k] === v));
      return Promise.resolve(refs);
    },
    remove(ref: PodRef) {
      for (const p of pods) if (p.spec.id === ref.id) p.destroyed = true;
      return Promise.resolve();
    },
    listCaches: () => Promise.resolve([]),
    removeCache: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
}

class FakePod implements Pod {
  readonly id: string;

  constructor(
    private readonly record: FakePodRecord,
    private readonly options: FakeOptions,
  ) {
    this.id = record.spec.id;
  }

  async exec(
    target: string,
    command: StepCommand,
    io: StepIO,
    signal: AbortSignal,
  ): Promise<StepExit> {
    if (this.record.destroyed)
      return { kind: 'infra_error', message: 'the pod is being torn down' };
    const call = { pod: this.id, target, command };
    this.record.execs.push(call);
    const override = this.options.onExec?.(call);
    if (override) return override;
    const script = command.argv[command.argv.length - 1] ?? '';
    for (const statement of script
      .split(/[;\n]/)
      .map((s) => s.trim())
      .filter(Boolean)) {
      if (signal.aborted) return { kind: 'stopped', exitCode: 143 };
      const [word = '', ...rest] = statement.split(/\s+/);
      const arg = rest.join(' ');
      switch (word) {
        case 'echo':
          io.stdout(Buffer.from(`${arg}\n`));
          break;
        case 'echo-err':
          io.stderr(Buffer.from(`${arg}\n`));
          break;
        case 'exit':
          return { kind: 'exited', exitCode: Number(arg) || 0 };
        case 'sleep':
          await wait(Number(arg), signal);
          if (signal.aborted) return { kind: 'stopped', exitCode: 143 };
          break;
        case 'oom':
          return {
            kind: 'oom_killed',
            exitCode: 137,
            limitBytes: this.record.spec.resources.memoryBytes,
          };
        case 'vanish':
          return { kind: 'infra_error', message: 'the container vanished while the step ran' };
        case 'hang':
          await wait(Infinity, signal);
          return { kind: 'stopped', exitCode: 143 };
        case 'hang-hard':
          await wait(Infinity, signal);
          await wait(command.graceMs, new AbortController().signal);
          return { kind: 'stopped', exitCode: 137 };
        case 'bytes': {
          let left = Number(arg);
          // 0..255 repeated, in 64 KiB chunks (a multiple of 256, so each chunk starts at 0).
          const block = Buffer.alloc(65536);
          for (let i = 0; i < block.length; i++) block[i] = i % 256;
          while (left > 0) {
            const size = Math.min(left, block.length);
            io.stdout(Buffer.from(block.subarray(0, size)));
            left -= size;
          }
          break;
        }
        case 'env':
          io.stdout(Buffer.from(`${command.env[arg] ?? ''}\n`));
          break;
        case 'write': {
          const [path = '', ...text] = rest;
          this.record.files.set(
            this.resolve(command.workingDir, path),
            Buffer.from(text.join(' ')),
          );
          break;
        }
        case 'cat': {
          const content = this.record.files.get(this.resolve(command.workingDir, arg));
          if (!content) {
            io.stderr(Buffer.from(`cat: ${arg}: No such file\n`));
            return { kind: 'exited', exitCode: 1 };
          }
          io.stdout(content);
          break;
        }
        case 'pwd':
          io.stdout(Buffer.from(`${command.workingDir}\n`));
          break;
        default:
          io.stderr(Buffer.from(`fake: unknown command ${word}\n`));
          return { kind: 'exited', exitCode: 127 };
      }
    }
    return { kind: 'exited', exitCode: 0 };
  }

  private resolve(cwd: string, path: string): string {
    return (path.startsWith('/') ? path : `${cwd}/${path}`).replace(/\/+/g, '/');
  }

  async copyIn(_target: string, path: string, tar: NodeJS.ReadableStream): Promise<void> {
    await readTar(tar, async (entry, body) => {
      if (entry.type !== 'file') return;
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(chunk as Buffer);
      this.record.files.set(`${path}/${entry.path}`.replace(/\/+/g, '/'), Buffer.concat(chunks));
    });
  }

  copyOut(_target: string, path: string): Promise<NodeJS.ReadableStream | undefined> {
    const prefix = path.replace(/\/$/, '');
    const matches = [...this.record.files].filter(
      ([name]) => name === prefix || name.startsWith(`${prefix}/`),
    );
    if (matches.length === 0) return Promise.resolve(undefined);
    const base = prefix.split('/').pop() ?? '';
    const archive = pack();
    for (const [name, content] of matches)
      archive.entry({ name: `${base}${name.slice(prefix.length)}` }, content);
    archive.finalize();
    return Promise.resolve(archive as unknown as NodeJS.ReadableStream);
  }

  async destroy(): Promise<void> {
    await this.options.onDestroy?.(this.record);
    this.record.destroyed = true;
  }
}

function wait(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = Number.isFinite(ms) ? setTimeout(done, ms) : undefined;
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
