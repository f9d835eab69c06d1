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
/** After the in-container SIGKILL: how long the step gets to end before the container is killed from outside. */
const KILL_SETTLE_MS = 3000;
/** Each engine call of a stop may take this long (a frozen container can make execs hang). */
const STOP_CALL_MS = 3000;
/** After the container was killed from outside: how long its exec stream gets to end. */
const OUTSIDE_KILL_SETTLE_MS = 5000;

/** How a stop went: set when the step had to be ended by killing its container from outside. */
interface StopReport {
  outside?: string;
}

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
    const report: StopReport = {};
    let stream: NodeJS.ReadableStream | undefined;
    const stop = (): void => {
      if (stopped) return;
      stopped = true;
      void this.stopStep(member, containerId, command, exec, report, () =>
        (stream as { destroy?: () => void } | undefined)?.destroy?.(),
      );
    };
    if (signal.aborted) stop();
    signal.addEventListener('abort', stop, { once: true });
    try {
      stream = await exec.start({ hijack: true, stdin: false });
      await pump(stream, io);
      // A stopped step's exec may belong to a container killed from outside: its exit code
      // is read on a deadline, and not having it does not change how the step ended.
      if (stopped) {
        const info = await withDeadline(settle(exec), STOP_CALL_MS * 3, 'reading the exit').catch(
          () => undefined,
        );
        return stoppedExit(info?.ExitCode ?? -1, report);
      }
      const info = await settle(exec);
      const exitCode = info.ExitCode ?? -1;
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
    const member = this.members.get(target);
    const containerId = member?.containerId;
    if (!member || !containerId)
      return { kind: 'infra_error', message: `the pod has no container "${target}" to resume in` };
    const report: StopReport = {};
    let stream: NodeJS.ReadableStream | undefined;
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
        void this.stopStep(member, containerId, command, follower, report, () =>
          (stream as { destroy?: () => void } | undefined)?.destroy?.(),
        ).then(() =>
          this.captureRoot(containerId, signalStepScript(followerId, 'KILL')).catch(() => ''),
        );
      };
      if (signal.aborted) stop();
      signal.addEventListener('abort', stop, { once: true });
      try {
        stream = await follower.start({ hijack: true, stdin: false });
        await pump(stream, io);
      } finally {
        signal.removeEventListener('abort', stop);
      }
      // Killed from outside: the container is gone with the step's spool.
      if (report.outside) return stoppedExit(null, report);
      const status = (await this.captureRoot(containerId, spoolExitScript(command.id))).trim();
      const exitCode = /^\d+$/.test(status) ? Number(status) : null;
      if (stopped) return stoppedExit(exitCode, report);
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

  /**
   * SIGTERM to the step's process tree, SIGKILL after the grace period, both from inside
   * the container. When that cannot work (a frozen container: paused, so no exec runs, or
   * its exec hangs) and the step has not ended a moment after the SIGKILL, the container
   * is killed (and if need be removed) from outside through the engine API, `report`
   * says so, and `abandon` lets go of the step's stream should the engine not end it.
   */
  private async stopStep(
    member: PodMember,
    containerId: string,
    command: StepCommand,
    exec: Docker.Exec,
    report: StopReport,
    abandon: () => void,
  ): Promise<void> {
    const container = this.docker.getContainer(containerId);
    const began = Date.now();
    const signalTree = async (sig: 'TERM' | 'KILL'): Promise<void> => {
      try {
        await withDeadline(
          (async () => {
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
          })(),
          STOP_CALL_MS,
          `signalling the step (${sig})`,
        );
      } catch {
        // Gone already (teardown follows), or frozen: the step's end is watched below.
      }
    };
    const endsBy = async (deadline: number): Promise<boolean> => {
      do {
        try {
          const info = await withDeadline(exec.inspect(), STOP_CALL_MS, 'inspecting the step');
          if (!info.Running) return true;
        } catch (error) {
          if (isGone(error)) return true;
        }
        await sleep(100);
      } while (Date.now() < deadline);
      return false;
    };
    await signalTree('TERM');
    if (await endsBy(began + command.graceMs)) return;
    // Again and again for a moment: an exec can fail while the container is at its
    // process limit (a fork bomb), and one that gets through ends the step.
    const settle = Date.now() + KILL_SETTLE_MS;
    do {
      await signalTree('KILL');
      if (await endsBy(Math.min(settle, Date.now() + 300))) return;
    } while (Date.now() < settle);
    const paused = await withDeadline(container.inspect(), STOP_CALL_MS, 'inspecting the container')
      .then((info) => info.State.Paused)
      .catch(() => false);
    report.outside =
      `the container ${member.name} (${member.image}) was frozen${paused ? ' (paused)' : ''}: ` +
      `the step could not be stopped inside it within the grace period of ${Math.round(command.graceMs / 1000)}s, so the container was killed from outside`;
    try {
      await withDeadline(
        container.kill({ signal: 'SIGKILL' }),
        STOP_CALL_MS,
        'killing the container',
      );
    } catch {
      // A kill the engine cannot do (or that hangs): removal with force stops it as well.
      await withDeadline(
        container.remove({ force: true, v: true }),
        STOP_CALL_MS * 3,
        'removing the container',
      ).catch(() => undefined);
    }
    if (!(await endsBy(Date.now() + OUTSIDE_KILL_SETTLE_MS))) abandon();
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

/** A stopped step's exit, saying when its container had to be killed from outside. */
function stoppedExit(exitCode: number | null, report: StopReport): StepExit {
  return report.outside
    ? { kind: 'stopped', exitCode, message: report.outside }
    : { kind: 'stopped', exitCode };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
