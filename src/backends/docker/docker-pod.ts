import type Docker from 'dockerode';
import type { Pod, PodSpec, StepCommand, StepExit, StepIO, StreamOffsets } from '../backend.ts';
import {
  OOM_COUNTER_COMMAND,
  STEP_MARKER_ENV,
  parseOomKills,
  signalStepScript,
  spoolExitScript,
  spoolFollowScript,
  stepContainerOptions,
  stepWrapper,
  workspaceVolumeName,
} from './container-spec.ts';
import { StreamDemuxer } from './demux.ts';
import { describeDockerError, isGone, withDeadline } from './docker-errors.ts';

/** A container of the pod that steps can target. */
export interface PodMember {
  name: string;
  role: 'primary' | 'tool' | 'step-image';
  image: string;
  /** Container id, or undefined for members run as one container per step (no shell). */
  containerId: string | undefined;
  /** The image's default user, used when a step does not name one. */
  defaultUser: string;
  env: Record<string, string>;
}

/** How long teardown may take before it gives up (leftovers are swept later). */
const TEARDOWN_DEADLINE_MS = 60_000;
const EXEC_SETTLE_POLL_MS = 10;
/** How long an unexplained SIGKILL is watched for the container going away. */
const UNEXPLAINED_KILL_WATCH_MS = 2500;

/**
 * A pod on a Docker engine: long-lived containers that steps are exec'd into, services,
 * and a workspace volume. See backend.ts for the contract.
 */
export class DockerPod implements Pod {
  private readonly oomKills = new Map<string, number>();
  private readonly extraContainers = new Set<string>();
  private destroying: Promise<void> | undefined;
  private stepSerial = 0;

  constructor(
    private readonly docker: Docker,
    readonly id: string,
    private readonly spec: PodSpec | undefined,
    private readonly members: Map<string, PodMember>,
    private readonly serviceIds: string[],
    private readonly volumes: string[],
  ) {}

  /** Container ids of everything the pod owns, for sweeps and tests. */
  resources(): string[] {
    return [
      ...[...this.members.values()].flatMap((m) => (m.containerId ? [m.containerId] : [])),
      ...this.serviceIds,
      ...this.extraContainers,
    ];
  }

  async exec(
    target: string,
    command: StepCommand,
    io: StepIO,
    signal: AbortSignal,
  ): Promise<StepExit> {
    const member = this.members.get(target);
    if (!member) return { kind: 'infra_error', message: `the pod has no container "${target}"` };
    if (this.destroying) return { kind: 'infra_error', message: 'the pod is being torn down' };
    try {
      if (member.containerId === undefined)
        return await this.runStepContainer(member, command, io, signal);
      return await this.execInContainer(member, member.containerId, command, io, signal);
    } catch (error) {
      if (member.containerId !== undefined && (await this.exitedWithoutShell(member.containerId))) {
        if (member.role === 'primary') {
          return {
            kind: 'infra_error',
            message: `image ${member.image} has no shell (sh), so it cannot be a job's primary image: steps run inside it. Use an image with sh, and run commands of shell-less images with \`image:\` on a step`,
          };
        }
        // The image has no shell to keep a container alive: run each step as its own container.
        await removeContainer(this.docker, member.containerId).catch(() => undefined);
        member.containerId = undefined;
        return this.runStepContainer(member, command, io, signal).catch((e: unknown) => ({
          kind: 'infra_error' as const,
          message: `step could not run in ${member.image}: ${describeDockerError(e)}`,
        }));
      }
      return {
        kind: 'infra_error',
        message: `step could not run in ${member.image}: ${describeDockerError(error)}`,
      };
    }
  }

  /**
   * True when a long-lived container has already exited because its keepalive could not
   * start: the engine's init starts fine, then `sh` is not found (exit 127).
   */
  private async exitedWithoutShell(containerId: string): Promise<boolean> {
    try {
      const info = await this.docker.getContainer(containerId).inspect();
      return !info.State.Running && info.State.ExitCode === 127;
    } catch {
      return false;
    }
  }

  private async execInContainer(
    member: PodMember,
    containerId: string,
    command: StepCommand,
    io: StepIO,
    signal: AbortSignal,
  ): Promise<StepExit> {
    const container = this.docker.getContainer(containerId);
    const exec = await container.exec({
      Cmd: stepWrapper(command.workingDir, command.argv, command.spool === true),
      Env: Object.entries({ ...command.env, [STEP_MARKER_ENV]: command.id }).map(
        ([k, v]) => `${k}=${v}`,
      ),
      User: command.user ?? member.defaultUser,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
    });
    let stopped = false;
    const stop = (): void => {
      if (stopped) return;
      stopped = true;
      void this.stopStep(containerId, command, exec);
    };
    if (signal.aborted) stop();
    signal.addEventListener('abort', stop, { once: true });
    try {
      const stream = await exec.start({ hijack: true, stdin: false });
      await pump(stream, io);
      const info = await settle(exec);
      const exitCode = info.ExitCode ?? -1;
      if (stopped) return { kind: 'stopped', exitCode };
      if (exitCode > 128) {
        // Killed by a signal: by the kernel for memory, by the user's own script, or because
        // the container went away under it (engine stopped, container removed). A container
        // that can no longer run a probe is gone: that is the infrastructure's doing.
        const probe = await this.oomProbe(containerId);
        if (probe === undefined) {
          return {
            kind: 'infra_error',
            message: `the container of ${member.name} (${member.image}) stopped while the step ran (exit ${exitCode}); the engine was stopped or the container removed`,
          };
        }
        if (exitCode === 137 && probe) {
          return {
            kind: 'oom_killed',
            exitCode,
            limitBytes: this.spec?.resources.memoryBytes ?? null,
          };
        }
        // A SIGKILL nobody explains: a stopping engine kills exec'd processes first and its
        // containers a moment later. If the container goes within a short while, it was that.
        if (exitCode === 137 && (await this.goesAway(containerId, UNEXPLAINED_KILL_WATCH_MS))) {
          return {
            kind: 'infra_error',
            message: `the step of ${member.name} (${member.image}) was killed as its container went away; the engine was stopped or the container removed`,
          };
        }
      }
      return { kind: 'exited', exitCode };
    } catch (error) {
      if (isGone(error)) {
        return {
          kind: 'infra_error',
          message: `the container of ${member.name} (${member.image}) vanished while the step ran`,
        };
      }
      throw error;
    } finally {
      signal.removeEventListener('abort', stop);
    }
  }

  async resume(
    target: string,
    command: StepCommand,
    offsets: StreamOffsets,
    io: StepIO,
    signal: AbortSignal,
  ): Promise<StepExit> {
    const containerId = this.members.get(target)?.containerId;
    if (!containerId)
      return { kind: 'infra_error', message: `the pod has no container "${target}" to resume in` };
    const container = this.docker.getContainer(containerId);
    let stopped = false;
    try {
      // Follow the spool live from the raw offsets until the step ends (its wrapper writes
      // the exit status), stoppable as usual. The follower has a marker of its own: a step
      // killed with its wrapper leaves no exit status, and then the follower is ended too.
      const followerId = `${command.id}.follow`;
      const follower = await container.exec({
        Cmd: spoolFollowScript(command.id, offsets),
        Env: [`${STEP_MARKER_ENV}=${followerId}`],
        User: '0',
        AttachStdout: true,
        AttachStderr: true,
      });
      const stop = (): void => {
        if (stopped) return;
        stopped = true;
        void this.stopStep(containerId, command, follower).then(() =>
          this.captureRoot(containerId, signalStepScript(followerId, 'KILL')).catch(() => ''),
        );
      };
      if (signal.aborted) stop();
      signal.addEventListener('abort', stop, { once: true });
      try {
        await pump(await follower.start({ hijack: true, stdin: false }), io);
      } finally {
        signal.removeEventListener('abort', stop);
      }
      const status = (await this.captureRoot(containerId, spoolExitScript(command.id))).trim();
      const exitCode = /^\d+$/.test(status) ? Number(status) : null;
      if (stopped) return { kind: 'stopped', exitCode };
      if (exitCode === null)
        return {
          kind: 'infra_error',
          message: `the resumed step left no exit status (${status || 'none'})`,
        };
      if (exitCode === 137 && (await this.oomProbe(containerId)))
        return {
          kind: 'oom_killed',
          exitCode,
          limitBytes: this.spec?.resources.memoryBytes ?? null,
        };
      return { kind: 'exited', exitCode };
    } catch (error) {
      if (isGone(error))
        return { kind: 'infra_error', message: `the container of the resumed step vanished` };
      return {
        kind: 'infra_error',
        message: `could not resume the step: ${describeDockerError(error)}`,
      };
    }
  }

  /** SIGTERM to the step's process tree, SIGKILL after the grace period. */
  private async stopStep(
    containerId: string,
    command: StepCommand,
    exec: Docker.Exec,
  ): Promise<void> {
    const container = this.docker.getContainer(containerId);
    const signalTree = async (sig: 'TERM' | 'KILL'): Promise<void> => {
      try {
        const killer = await container.exec({
          Cmd: signalStepScript(command.id, sig),
          User: '0',
          AttachStdout: true,
          AttachStderr: true,
        });
        const stream = await killer.start({ hijack: true, stdin: false });
        stream.resume();
        await new Promise((resolve) =>
          stream.once('end', resolve).once('close', resolve).once('error', resolve),
        );
      } catch {
        // The container may be gone already; teardown follows anyway.
      }
    };
    await signalTree('TERM');
    const deadline = Date.now() + command.graceMs;
    while (Date.now() < deadline) {
      const info = await exec.inspect().catch(() => undefined);
      if (!info?.Running) return;
      await sleep(100);
    }
    await signalTree('KILL');
  }

  /** True when the container stops, or the engine stops answering, within `ms`. */
  private async goesAway(containerId: string, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      await sleep(250);
      try {
        if (!(await this.docker.getContainer(containerId).inspect()).State.Running) return true;
      } catch {
        return true;
      }
    }
    return false;
  }

  /**
   * Reads the container's OOM-kill counter: true when it rose since the last read, false
   * when not, undefined when the container cannot run a probe any more (it is gone).
   */
  private async oomProbe(containerId: string): Promise<boolean | undefined> {
    let text: string;
    try {
      text = await this.captureRoot(containerId, OOM_COUNTER_COMMAND);
    } catch {
      return undefined;
    }
    const count = parseOomKills(text);
    const before = this.oomKills.get(containerId) ?? 0;
    this.oomKills.set(containerId, count);
    return this.spec?.resources.memoryBytes !== null && count > before;
  }

  /** Runs a command as root in a container and returns its stdout (for probes). */
  async captureRoot(containerId: string, cmd: string[]): Promise<string> {
    const exec = await this.docker
      .getContainer(containerId)
      .exec({ Cmd: cmd, User: '0', AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({ hijack: true, stdin: false });
    const out: Buffer[] = [];
    await pump(stream, { stdout: (b) => out.push(Buffer.from(b)), stderr: () => undefined });
    return Buffer.concat(out).toString('utf8');
  }

  /** A step in an image without a shell: its own container, sharing workspace and network. */
  private async runStepContainer(
    member: PodMember,
    command: StepCommand,
    io: StepIO,
    signal: AbortSignal,
  ): Promise<StepExit> {
    const spec = this.spec;
    if (!spec)
      return { kind: 'infra_error', message: 'an adopted pod cannot start new step containers' };
    if (!command.directArgv || command.directArgv.length === 0) {
      return {
        kind: 'infra_error',
        message: `image ${member.image} has no shell, and this step's script needs one (it uses shell syntax); use a single command, or an image with sh`,
      };
    }
    const primary = this.members.get('primary')?.containerId;
    const options = stepContainerOptions(
      spec,
      { name: member.name, role: member.role, image: member.image, env: member.env, user: null },
      command.directArgv,
      { ...command.env, [STEP_MARKER_ENV]: command.id },
      command.workingDir,
      command.user ?? (member.defaultUser || null),
      primary,
      ++this.stepSerial,
    );
    const container = await this.docker.createContainer(options);
    this.extraContainers.add(container.id);
    let stopped = false;
    const stop = (): void => {
      if (stopped) return;
      stopped = true;
      void (async () => {
        await container.kill({ signal: 'SIGTERM' }).catch(() => undefined);
        await sleep(command.graceMs);
        await container.kill({ signal: 'SIGKILL' }).catch(() => undefined);
      })();
    };
    try {
      const stream = await container.attach({
        stream: true,
        stdout: true,
        stderr: true,
        logs: true,
      });
      const pumped = pump(stream, io);
      await container.start();
      if (signal.aborted) stop();
      signal.addEventListener('abort', stop, { once: true });
      const result = (await container.wait({ condition: 'not-running' })) as { StatusCode: number };
      await pumped;
      if (stopped) return { kind: 'stopped', exitCode: result.StatusCode };
      const info = await container.inspect();
      if (info.State.OOMKilled)
        return {
          kind: 'oom_killed',
          exitCode: result.StatusCode,
          limitBytes: spec.resources.memoryBytes,
        };
      return { kind: 'exited', exitCode: result.StatusCode };
    } finally {
      signal.removeEventListener('abort', stop);
      await container.remove({ force: true, v: true }).catch(() => undefined);
      this.extraContainers.delete(container.id);
    }
  }

  async copyIn(target: string, path: string, tar: NodeJS.ReadableStream): Promise<void> {
    const containerId = this.anyContainer(target);
    if (path !== this.spec?.workspace) {
      await this.captureRoot(containerId, ['mkdir', '-p', path]);
    }
    await this.docker.getContainer(containerId).putArchive(tar, { path });
  }

  async copyOut(target: string, path: string): Promise<NodeJS.ReadableStream | undefined> {
    const containerId = this.anyContainer(target);
    try {
      return await this.docker.getContainer(containerId).getArchive({ path });
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return undefined;
      throw error;
    }
  }

  /** The container to use for file transfers: the target's, or the primary's. */
  private anyContainer(target: string): string {
    const id = this.members.get(target)?.containerId ?? this.members.get('primary')?.containerId;
    if (!id) throw new Error(`the pod has no running container for ${target}`);
    return id;
  }

  destroy(): Promise<void> {
    this.destroying ??= withDeadline(
      this.teardown(),
      TEARDOWN_DEADLINE_MS,
      `tearing down pod ${this.id}`,
    ).catch(() => undefined);
    return this.destroying;
  }

  private async teardown(): Promise<void> {
    const ids = this.resources();
    await Promise.all(ids.map((id) => removeContainer(this.docker, id)));
    const volumes = this.volumes.length > 0 ? this.volumes : [workspaceVolumeName(this.id)];
    await Promise.all(volumes.map((name) => removeVolume(this.docker, name)));
  }
}

/** Removes a container, tolerating "already gone" and "removal in progress". */
export async function removeContainer(docker: Docker, id: string): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await docker.getContainer(id).remove({ force: true, v: true });
      return;
    } catch (error) {
      const status = (error as { statusCode?: number }).statusCode;
      if (status === 404) return;
      if (status !== 409 || attempt === 4) throw error;
      await sleep(200 * (attempt + 1));
    }
  }
}

/** Removes a volume, retrying while a just-removed container still holds it. */
export async function removeVolume(docker: Docker, name: string): Promise<void> {
  for (let attempt = 0; attempt < 10; attempt++) {
    try {
      await docker.getVolume(name).remove();
      return;
    } catch (error) {
      const status = (error as { statusCode?: number }).statusCode;
      if (status === 404) return;
      if (status !== 409 || attempt === 9) throw error;
      await sleep(200 * (attempt + 1));
    }
  }
}

/** Feeds a multiplexed stream to io; resolves when the stream has ended. */
function pump(stream: NodeJS.ReadableStream, io: StepIO): Promise<void> {
  const demux = new StreamDemuxer(
    (b) => io.stdout(b),
    (b) => io.stderr(b),
  );
  return new Promise((resolve, reject) => {
    stream.on('data', (chunk: Buffer) => demux.push(chunk));
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', reject);
  });
}

/** Waits until an exec has really finished: its stream can end before its exit code is set. */
async function settle(exec: Docker.Exec): Promise<Docker.ExecInspectInfo> {
  let info = await exec.inspect();
  for (let i = 0; info.Running && i < 500; i++) {
    await sleep(EXEC_SETTLE_POLL_MS);
    info = await exec.inspect();
  }
  return info;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
