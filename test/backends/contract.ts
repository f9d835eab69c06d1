/**
 * The backend contract suite (backend.ts), run against every backend: fake, process and
 * the real Docker engine. Steps are written as abstract actions that each backend's test
 * file translates into its own script language, so one suite covers all three.
 */
import { createHash } from 'node:crypto';
import { text as streamText } from 'node:stream/consumers';
import { afterEach, describe, expect, it } from 'vitest';
import { extract, pack } from 'tar-stream';
import {
  DEFAULT_POLICY,
  LABELS,
  PodError,
  type Backend,
  type Pod,
  type PodSpec,
  type ServiceSpec,
  type StepCommand,
  type StepExit,
} from '../../src/backends/backend.ts';

/** What a contract step can do; each backend test file turns these into a script. */
export type Action =
  | { do: 'echo'; text: string }
  | { do: 'echo-err'; text: string }
  | { do: 'exit'; code: number }
  | { do: 'env'; name: string }
  | { do: 'pwd' }
  | { do: 'write'; path: string; text: string }
  | { do: 'cat'; path: string }
  | { do: 'bytes'; count: number }
  | { do: 'wait-for-term'; trap: boolean };

export interface ContractCaps {
  /** Translates actions into a step script for this backend. */
  script(actions: Action[]): string;
  /** The shell prefix of step commands. */
  shell: string[];
  /** The image to use. */
  image: string;
  /** Services, tool containers and per-step images. */
  containers: boolean;
  /** Memory and process limits. */
  limits: boolean;
  /** Refuses services and extra containers (the process backend). */
  refusesContainers: boolean;
  /** Real processes: the whole process tree of a stopped step must go. */
  processTree: boolean;
  /** Counts the step processes still alive in a pod (processTree backends). */
  countSleepers?(pod: Pod): Promise<number>;
}

let serial = 0;

export function podSpec(caps: ContractCaps, extra: Partial<PodSpec> = {}): PodSpec {
  const id = `contract-${process.pid}-${++serial}`;
  return {
    id,
    owner: {
      creator: 'test:contract',
      creatorHost: 'test',
      creatorPid: process.pid,
      creatorStart: '0',
      runId: 'contract',
      job: 'job',
      attempt: 1,
    },
    workspace: '/workspace',
    network: 'offline',
    containers: [
      {
        name: 'primary',
        role: 'primary',
        image: caps.image,
        env: { FROM_POD: 'pod-env' },
        user: null,
      },
    ],
    services: [],
    resources: { cpus: null, memoryBytes: null, pids: 512 },
    caches: [],
    policy: DEFAULT_POLICY,
    pull: false,
    ...extra,
  };
}

export function command(
  caps: ContractCaps,
  actions: Action[],
  extra: Partial<StepCommand> = {},
): StepCommand {
  return {
    id: `step-${++serial}`,
    argv: [...caps.shell, caps.script(actions)],
    directArgv: null,
    env: {},
    workingDir: '/workspace',
    user: null,
    graceMs: 1000,
    ...extra,
  };
}

export async function exec(
  pod: Pod,
  cmd: StepCommand,
  signal = new AbortController().signal,
  target = 'primary',
) {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const exit = await pod.exec(
    target,
    cmd,
    { stdout: (b) => out.push(Buffer.from(b)), stderr: (b) => err.push(Buffer.from(b)) },
    signal,
  );
  return { exit, stdout: Buffer.concat(out), stderr: Buffer.concat(err) };
}

function tarOf(files: Record<string, string>): NodeJS.ReadableStream {
  const archive = pack();
  for (const [name, content] of Object.entries(files))
    archive.entry({ name, mode: 0o666 }, content);
  archive.finalize();
  return archive as unknown as NodeJS.ReadableStream;
}

async function untar(stream: NodeJS.ReadableStream): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  const parser = extract();
  parser.on('entry', (header, entry, next) => {
    void streamText(entry).then((content) => {
      if (header.type === 'file') files[header.name] = content;
      next();
    });
  });
  await new Promise<void>((resolve, reject) => {
    parser.once('finish', resolve).once('error', reject);
    stream.pipe(parser);
  });
  return files;
}

export function describeBackendContract(
  name: string,
  make: () => Backend,
  caps: ContractCaps,
): void {
  describe(`backend contract: ${name}`, () => {
    const backend = make();
    const pods: Pod[] = [];
    const create = async (spec: PodSpec = podSpec(caps)): Promise<Pod> => {
      const pod = await backend.createPod(spec, new AbortController().signal);
      pods.push(pod);
      return pod;
    };
    afterEach(async () => {
      await Promise.all(pods.splice(0).map((p) => p.destroy()));
      const left = await backend.list({ [LABELS.creator]: 'test:contract' });
      expect(left, 'pods left behind').toEqual([]);
    });

    it('runs a step: stdout and stderr apart, the exit code, env, and a created working dir', async () => {
      const pod = await create();
      const r = await exec(
        pod,
        command(
          caps,
          [
            { do: 'echo', text: 'out' },
            { do: 'echo-err', text: 'err' },
            { do: 'env', name: 'GREETING' },
            { do: 'pwd' },
            { do: 'exit', code: 3 },
          ],
          {
            env: { GREETING: 'hello from env' },
            workingDir: '/workspace/a/b',
          },
        ),
      );
      expect(r.exit).toEqual({ kind: 'exited', exitCode: 3 });
      expect(r.stdout.toString()).toMatch(/^out\nhello from env\n.*\/a\/b\n$/);
      expect(r.stderr.toString()).toBe('err\n');
    });

    it('keeps the workspace between steps', async () => {
      const pod = await create();
      await exec(pod, command(caps, [{ do: 'write', path: 'note.txt', text: 'kept' }]));
      const r = await exec(pod, command(caps, [{ do: 'cat', path: 'note.txt' }]));
      expect(r.exit).toEqual({ kind: 'exited', exitCode: 0 });
      expect(r.stdout.toString().trim()).toBe('kept');
    });

    it('delivers binary output and 10 MB byte for byte', async () => {
      const pod = await create();
      const r = await exec(pod, command(caps, [{ do: 'bytes', count: 10 * 1024 * 1024 }]));
      expect(r.exit.kind).toBe('exited');
      expect(r.stdout.length).toBe(10 * 1024 * 1024);
      const expected = expectedBytes(caps, 10 * 1024 * 1024);
      expect(createHash('sha256').update(r.stdout).digest('hex')).toBe(
        createHash('sha256').update(expected).digest('hex'),
      );
    });

    it('stops a step: promptly when it handles SIGTERM, after the grace period when it ignores it', async () => {
      const pod = await create();
      for (const trap of [true, false]) {
        const abort = new AbortController();
        const started = Date.now();
        setTimeout(() => abort.abort(), 300);
        const r = await exec(
          pod,
          command(caps, [{ do: 'wait-for-term', trap }], { graceMs: 1000 }),
          abort.signal,
        );
        const took = Date.now() - started;
        expect(r.exit.kind).toBe('stopped');
        if (trap) expect(took).toBeLessThan(3000);
        else expect(took).toBeGreaterThanOrEqual(1200);
        expect(took).toBeLessThan(6000);
      }
      if (caps.processTree && caps.countSleepers) expect(await caps.countSleepers(pod)).toBe(0);
    });

    if (caps.processTree) {
      it("treats a step that SIGKILLs itself as the step's own exit, not the infrastructure's", async () => {
        const pod = await create();
        const r = await exec(pod, {
          ...command(caps, []),
          argv: ['sh', '-c', 'echo before; kill -9 $$'],
        });
        expect(r.exit).toEqual({ kind: 'exited', exitCode: 137 });
        expect(r.stdout.toString()).toBe('before\n');
      });
    }

    it('copies files in and out of the workspace', async () => {
      const pod = await create();
      await pod.copyIn(
        'primary',
        '/workspace/in',
        tarOf({ 'top.txt': 'top', 'dir/nested.txt': 'nested' }),
      );
      const r = await exec(pod, command(caps, [{ do: 'cat', path: 'in/dir/nested.txt' }]));
      expect(r.stdout.toString().trim()).toBe('nested');
      const archive = await pod.copyOut('primary', '/workspace/in');
      expect(archive).toBeDefined();
      const files = await untar(archive!);
      expect(files['in/top.txt']).toBe('top');
      expect(files['in/dir/nested.txt']).toBe('nested');
      expect(await pod.copyOut('primary', '/workspace/no-such-thing')).toBeUndefined();
    });

    it('destroys idempotently, even concurrently, leaving nothing listed', async () => {
      const spec = podSpec(caps);
      const pod = await create(spec);
      await Promise.all([pod.destroy(), pod.destroy()]);
      await pod.destroy();
      expect(await backend.list({ [LABELS.pod]: spec.id })).toEqual([]);
    });

    it('keeps the workspaces of two pods apart', async () => {
      const [a, b] = await Promise.all([create(), create()]);
      await exec(a, command(caps, [{ do: 'write', path: 'mine.txt', text: 'a' }]));
      const r = await exec(b, command(caps, [{ do: 'cat', path: 'mine.txt' }]));
      expect(r.exit).toEqual({ kind: 'exited', exitCode: 1 });
    });

    if (caps.refusesContainers) {
      it('refuses services, naming the job and the docker backend', async () => {
        const service: ServiceSpec = {
          name: 'db',
          image: caps.image,
          env: {},
          command: null,
          entrypoint: null,
          ready: { kind: 'none' },
        };
        await expect(
          backend.createPod(podSpec(caps, { services: [service] }), new AbortController().signal),
        ).rejects.toThrow(/services \(db\).*--backend docker/);
      });
    }

    if (caps.containers) {
      it('starts a service that answers on localhost, after its readiness check', async () => {
        const service: ServiceSpec = {
          name: 'echo',
          image: caps.image,
          env: {},
          command: ['sh', '-c', 'sleep 0.3; exec nc -ll -p 8080 -e echo pong'],
          entrypoint: null,
          ready: { kind: 'tcp', port: 8080, timeoutMs: 10_000, intervalMs: 100 },
        };
        const pod = await create(podSpec(caps, { services: [service] }));
        const r = await exec(pod, command(caps, []), undefined);
        expect(r.exit.kind).toBe('exited');
        const reply = await exec(pod, {
          ...command(caps, []),
          argv: ['sh', '-c', 'nc localhost 8080 </dev/null'],
        });
        expect(reply.stdout.toString().trim()).toBe('pong');
      });

      it('fails with service_not_ready when a service dies, and leaves nothing behind', async () => {
        const spec = podSpec(caps, {
          services: [
            {
              name: 'crashy',
              image: caps.image,
              env: {},
              command: ['sh', '-c', 'echo boom >&2; exit 4'],
              entrypoint: null,
              ready: { kind: 'tcp', port: 9, timeoutMs: 10_000, intervalMs: 100 },
            },
          ],
        });
        const error = await backend
          .createPod(spec, new AbortController().signal)
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(PodError);
        expect((error as PodError).failure).toBe('service_not_ready');
        expect((error as PodError).message).toMatch(/service crashy .*exited with code 4.*boom/s);
        expect(await backend.list({ [LABELS.pod]: spec.id })).toEqual([]);
      });

      it('shares the workspace with tool containers', async () => {
        const pod = await create(
          podSpec(caps, {
            containers: [
              ...podSpec(caps).containers,
              { name: 'tool', role: 'tool', image: caps.image, env: {}, user: '1000' },
            ],
          }),
        );
        await exec(pod, command(caps, [{ do: 'write', path: 'shared.txt', text: 'from primary' }]));
        const r = await exec(
          pod,
          command(
            caps,
            [
              { do: 'cat', path: 'shared.txt' },
              { do: 'write', path: 'shared.txt', text: 'tool wrote' },
            ],
            { user: '1000' },
          ),
          undefined,
          'tool',
        );
        expect(r.exit).toEqual({ kind: 'exited', exitCode: 0 });
        expect(r.stdout.toString().trim()).toBe('from primary');
      });

      it('fails with image_missing or image_pull naming a missing image, leaving nothing behind', async () => {
        const spec = podSpec(caps, {
          containers: [
            {
              name: 'primary',
              role: 'primary',
              // A registry on a closed loopback port: a pull never leaves the machine.
              image: '127.0.0.1:9/slipway-test/does-not-exist:1',
              env: {},
              user: null,
            },
          ],
        });
        const error = await backend
          .createPod(spec, new AbortController().signal)
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(PodError);
        expect(['image_missing', 'image_pull']).toContain((error as PodError).failure);
        expect((error as PodError).message).toContain('127.0.0.1:9/slipway-test/does-not-exist:1');
        expect(await backend.list({ [LABELS.pod]: spec.id })).toEqual([]);
      });
    }

    if (caps.limits) {
      it('reports an out-of-memory kill with its limit', async () => {
        const pod = await create(
          podSpec(caps, { resources: { cpus: null, memoryBytes: 64 * 1024 * 1024, pids: 512 } }),
        );
        const r = await exec(pod, {
          ...command(caps, []),
          argv: ['sh', '-c', 'x=$(head -c 300000000 /dev/zero | tr "\\0" a); echo survived'],
        });
        expect(r.exit).toEqual({ kind: 'oom_killed', exitCode: 137, limitBytes: 64 * 1024 * 1024 });
      });

      it('contains a fork bomb under the process limit', async () => {
        const pod = await create(
          podSpec(caps, { resources: { cpus: 0.5, memoryBytes: 128 * 1024 * 1024, pids: 64 } }),
        );
        const abort = new AbortController();
        const timer = setTimeout(() => abort.abort(), 5000);
        const r = await exec(
          pod,
          {
            ...command(caps, []),
            argv: ['sh', '-c', 'bomb() { bomb | bomb & }; bomb; sleep 30'],
            graceMs: 500,
          },
          abort.signal,
        );
        clearTimeout(timer);
        const exit = r.exit as Exclude<StepExit, { kind: 'infra_error' }>;
        expect(exit.exitCode).not.toBe(0);
        if (exit.kind === 'stopped' && exit.message) {
          // Every pid taken, so the stop could not get into the container (its exec hung):
          // the container was killed from outside, and the pod still goes cleanly.
          expect(exit.message).toMatch(/killed from outside/);
          return;
        }
        // The pod still answers, and is destroyed cleanly (afterEach checks nothing is left).
        const after = await exec(pod, command(caps, [{ do: 'echo', text: 'alive' }]));
        expect(after.stdout.toString()).toContain('alive');
      });
    }
  });
}

/** The bytes the `bytes` action produces: 0..255 repeated. */
export function expectedBytes(_caps: ContractCaps, count: number): Buffer {
  const buf = Buffer.alloc(count);
  for (let i = 0; i < count; i++) buf[i] = i % 256;
  return buf;
}
