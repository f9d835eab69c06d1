import type { ContainerInfo, VolumeInspectInfo } from 'dockerode';
import type { Docker } from './dockerode.ts';
import {
  LABELS,
  PodError,
  type Backend,
  type CacheRef,
  type ContainerSpec,
  type OwnerSelector,
  type Pod,
  type PodEvents,
  type PodRef,
  type PodSpec,
  type ServiceSpec,
} from '../backend.ts';
import {
  LISTENING_PORTS_COMMAND,
  cacheVolumeOptions,
  imageRef,
  longLivedContainerOptions,
  parseListeningPorts,
  policyRefusal,
  serviceContainerOptions,
  workspaceVolumeName,
  workspaceVolumeOptions,
} from './container-spec.ts';
import { DockerPod, removeContainer, removeVolume, type PodMember } from './docker-pod.ts';
import { describeDockerError, isEngineUnreachable, withDeadline } from './docker-errors.ts';
import { engineGet, filtersQuery } from './engine-get.ts';

export interface DockerBackendOptions {
  /** Engine socket (default /var/run/docker.sock, or DOCKER_HOST when it is a unix: URL). */
  socketPath?: string;
  /** How long an image pull may take (default 10 minutes). */
  pullTimeoutMs?: number;
}

interface ImageInfo {
  user: string;
}

/** The Docker backend: pods are containers on one engine, driven through its API. */
export function createDockerBackend(options: DockerBackendOptions = {}): Backend {
  const socketPath = options.socketPath ?? socketFromEnv() ?? '/var/run/docker.sock';
  // dockerode (with ssh2 and its crypto, ~15 MiB resident) is loaded when the engine is
  // first asked to do something; the ping and the listings do without it (engine-get.ts),
  // so an idle controller never holds it. Every entry point below awaits ready().
  let docker!: Docker;
  let loading: Promise<void> | undefined;
  const ready = (): Promise<void> =>
    (loading ??= import('./dockerode.ts').then(({ Docker: Dockerode }) => {
      docker = new Dockerode({ socketPath });
    }));
  const pullTimeoutMs = options.pullTimeoutMs ?? 10 * 60_000;

  async function inspectImage(
    image: string,
    pull: boolean,
    signal: AbortSignal,
    events?: PodEvents,
  ): Promise<ImageInfo> {
    try {
      const info = await docker.getImage(image).inspect();
      return { user: info.Config?.User ?? '' };
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 404) throw error;
    }
    if (!pull) {
      throw new PodError(
        'image_missing',
        `image "${image}" is not on this machine and pulling is turned off; build or load it first (docker build -t ${image} .)`,
      );
    }
    events?.onProgress?.(`pulling ${image}`);
    try {
      await withDeadline(pullImage(image, signal), pullTimeoutMs, `pulling ${image}`);
    } catch (error) {
      if (signal.aborted) throw new PodError('canceled', `canceled while pulling ${image}`);
      throw new PodError(
        'image_pull',
        `image "${image}" is not on this machine and could not be pulled: ${describeDockerError(error)}. ` +
          `Check the name, log in to its registry, or build it locally (docker build -t ${image} .)`,
        { cause: error },
      );
    }
    const info = await docker.getImage(image).inspect();
    return { user: info.Config?.User ?? '' };
  }

  async function pullImage(image: string, signal: AbortSignal): Promise<void> {
    const stream = await docker.pull(imageRef(image), {
      abortSignal: signal,
    });
    await new Promise<void>((resolve, reject) => {
      docker.modem.followProgress(stream, (error: Error | null) =>
        error ? reject(error) : resolve(),
      );
    });
  }

  async function createPod(spec: PodSpec, signal: AbortSignal, events?: PodEvents): Promise<Pod> {
    const refused = policyRefusal(spec);
    if (refused !== undefined) throw new PodError('policy', refused);
    const members = new Map<string, PodMember>();
    const serviceIds: string[] = [];
    const volumes = [workspaceVolumeName(spec.id)];
    const cleanup = (): Promise<void> =>
      new DockerPod(docker, spec.id, spec, members, serviceIds, volumes).destroy();
    const checkCanceled = (): void => {
      if (signal.aborted) throw new PodError('canceled', 'canceled while the pod was starting');
    };
    try {
      const images = [
        ...new Set([...spec.containers.map((c) => c.image), ...spec.services.map((s) => s.image)]),
      ];
      // Everything started here must have finished before a failure is handled: a volume
      // still being created when cleanup runs would appear afterwards, an orphan.
      const [infos] = await allSettledOrThrow([
        Promise.all(
          images.map(
            async (image) => [image, await inspectImage(image, spec.pull, signal, events)] as const,
          ),
        ),
        docker.createVolume(workspaceVolumeOptions(spec)),
        ...spec.caches.map((cache) => docker.createVolume(cacheVolumeOptions(spec, cache))),
      ] as const);
      const imageInfo = new Map(infos);
      checkCanceled();

      const [primarySpec, ...others] = spec.containers;
      if (!primarySpec) throw new PodError('infra_error', 'a pod needs a primary container');
      const primary = await startLongLived(spec, primarySpec, undefined, imageInfo, members);
      if (!primary) {
        throw new PodError(
          'infra_error',
          `image "${primarySpec.image}" has no shell (sh), so it cannot be a job's primary image: steps run inside it. ` +
            'Use an image with sh, and run commands of shell-less images with `image:` on a step',
        );
      }
      checkCanceled();

      if (spec.services.length > 0) {
        await allSettledOrThrow(
          spec.services.map((service) => startService(spec, service, primary, serviceIds, events)),
        );
        checkCanceled();
        await Promise.all(
          spec.services.map((service, i) =>
            waitReady(spec, service, primary, serviceIds[i]!, signal, events),
          ),
        );
      }
      await allSettledOrThrow(
        others.map((member) => startLongLived(spec, member, primary, imageInfo, members)),
      );
      checkCanceled();
      return new DockerPod(docker, spec.id, spec, members, serviceIds, volumes);
    } catch (error) {
      await cleanup();
      if (error instanceof PodError) throw error;
      if (signal.aborted) throw new PodError('canceled', 'canceled while the pod was starting');
      throw new PodError(
        isEngineUnreachable(error) ? 'infra_error' : 'infra_error',
        `could not start the pod: ${describeDockerError(error)}`,
        { cause: error },
      );
    }
  }

  /** Creates and starts a long-lived container; returns undefined when its image has no shell. */
  async function startLongLived(
    spec: PodSpec,
    member: ContainerSpec,
    primaryId: string | undefined,
    images: Map<string, ImageInfo>,
    members: Map<string, PodMember>,
  ): Promise<string | undefined> {
    const container = await docker.createContainer(
      longLivedContainerOptions(spec, member, primaryId),
    );
    const entry: PodMember = {
      name: member.name,
      role: member.role,
      image: member.image,
      containerId: container.id,
      defaultUser: member.user ?? images.get(member.image)?.user ?? '',
      env: member.env,
    };
    members.set(member.name, entry);
    try {
      await container.start();
      return container.id;
    } catch (error) {
      if (!/executable file not found|no such file or directory/.test(describeDockerError(error)))
        throw error;
      // No shell: steps for this member run as their own containers instead.
      await removeContainer(docker, container.id);
      entry.containerId = undefined;
      return undefined;
    }
  }

  async function startService(
    spec: PodSpec,
    service: ServiceSpec,
    primaryId: string,
    ids: string[],
    events?: PodEvents,
  ): Promise<void> {
    events?.onProgress?.(`starting service ${service.name} (${service.image})`);
    const container = await docker.createContainer(
      serviceContainerOptions(spec, service, primaryId),
    );
    ids.push(container.id);
    await container.start();
  }

  async function waitReady(
    spec: PodSpec,
    service: ServiceSpec,
    primaryId: string,
    serviceId: string,
    signal: AbortSignal,
    events?: PodEvents,
  ): Promise<void> {
    const ready = service.ready;
    if (ready.kind === 'none') return;
    const what =
      ready.kind === 'tcp' ? `port ${ready.port} to listen` : `\`${ready.command}\` to succeed`;
    events?.onProgress?.(`waiting for service ${service.name}: ${what}`);
    const probePod = new DockerPod(docker, spec.id, spec, new Map(), [], []);
    const deadline = Date.now() + ready.timeoutMs;
    let last = '';
    for (;;) {
      if (signal.aborted)
        throw new PodError('canceled', `canceled while waiting for service ${service.name}`);
      const state = await docker.getContainer(serviceId).inspect();
      if (!state.State.Running) {
        throw new PodError(
          'service_not_ready',
          `service ${service.name} (${service.image}) exited with code ${state.State.ExitCode} before it was ready. ${await logTail(serviceId)}`,
        );
      }
      if (ready.kind === 'tcp') {
        const ports = parseListeningPorts(
          await probePod.captureRoot(primaryId, LISTENING_PORTS_COMMAND),
        );
        if (ports.has(ready.port)) return;
        last = `port ${ready.port} is not listening`;
      } else {
        const exec = await docker
          .getContainer(serviceId)
          .exec({ Cmd: ['sh', '-c', ready.command], AttachStdout: true, AttachStderr: true });
        const stream = await exec.start({ hijack: true, stdin: false });
        stream.resume();
        await new Promise((resolve) => stream.once('end', resolve).once('close', resolve));
        let info = await exec.inspect();
        for (let i = 0; info.Running && i < 100; i++) {
          await new Promise((r) => setTimeout(r, 10));
          info = await exec.inspect();
        }
        if (info.ExitCode === 0) return;
        last = `\`${ready.command}\` exited with ${info.ExitCode}`;
      }
      if (Date.now() + ready.intervalMs > deadline) {
        throw new PodError(
          'service_not_ready',
          `service ${service.name} (${service.image}) was not ready after ${Math.round(ready.timeoutMs / 1000)}s: ${last}. ${await logTail(serviceId)}`,
        );
      }
      await new Promise((r) => setTimeout(r, ready.intervalMs));
    }
  }

  async function logTail(containerId: string): Promise<string> {
    try {
      const buffer = await docker
        .getContainer(containerId)
        .logs({ stdout: true, stderr: true, tail: 10 });
      const text = demuxedText(buffer).trim();
      return text ? `Its last output:\n${text}` : 'It printed nothing.';
    } catch {
      return '';
    }
  }

  async function list(selector: OwnerSelector): Promise<PodRef[]> {
    const filters = {
      label: [`${LABELS.managed}=1`, ...Object.entries(selector).map(([k, v]) => `${k}=${v}`)],
    };
    const [containers, volumes] = await Promise.all([
      engineGet<ContainerInfo[]>(socketPath, `/containers/json?all=1&${filtersQuery(filters)}`),
      engineGet<{ Volumes: VolumeInspectInfo[] | null }>(
        socketPath,
        `/volumes?${filtersQuery(filters)}`,
      ),
    ]);
    const pods = new Map<string, PodRef>();
    const add = (labels: Record<string, string> | undefined, resource: string): void => {
      const id = labels?.[LABELS.pod];
      if (!id) return;
      const ref = pods.get(id) ?? { id, labels: labels ?? {}, resources: [] };
      ref.resources.push(resource);
      pods.set(id, ref);
    };
    for (const c of containers) add(c.Labels, `container:${c.Id}`);
    for (const v of volumes.Volumes ?? []) add(v.Labels ?? undefined, `volume:${v.Name}`);
    return [...pods.values()];
  }

  async function remove(ref: PodRef): Promise<void> {
    const containers = ref.resources
      .filter((r) => r.startsWith('container:'))
      .map((r) => r.slice(10));
    const vols = ref.resources.filter((r) => r.startsWith('volume:')).map((r) => r.slice(7));
    await Promise.all(containers.map((id) => removeContainer(docker, id)));
    await Promise.all(vols.map((name) => removeVolume(docker, name)));
  }

  async function adopt(podId: string, owner: OwnerSelector = {}): Promise<Pod | undefined> {
    const containers = await docker.listContainers({
      all: true,
      filters: {
        label: [`${LABELS.pod}=${podId}`, ...Object.entries(owner).map(([k, v]) => `${k}=${v}`)],
      },
    });
    const members = new Map<string, PodMember>();
    const services: string[] = [];
    for (const c of containers) {
      const role = c.Labels[LABELS.role];
      const name = c.Labels[LABELS.member] ?? '';
      if (role === 'service' || role === 'step') services.push(c.Id);
      else if (role === 'primary' || role === 'tool' || role === 'step-image') {
        members.set(name, {
          name,
          role,
          image: c.Image,
          containerId: c.Id,
          defaultUser: '',
          env: {},
        });
      }
    }
    const primary = containers.find((c) => c.Labels[LABELS.role] === 'primary');
    if (!primary || primary.State !== 'running') return undefined;
    return new DockerPod(docker, podId, undefined, members, services, [workspaceVolumeName(podId)]);
  }

  async function listCaches(scope?: string): Promise<CacheRef[]> {
    const label = [
      `${LABELS.managed}=1`,
      `${LABELS.role}=cache`,
      ...(scope === undefined ? [] : [`${LABELS.cacheScope}=${scope}`]),
    ];
    const { Volumes } = await docker.listVolumes({ filters: { label } });
    return (Volumes ?? []).map((v) => ({
      volume: v.Name,
      key: v.Labels?.[LABELS.cacheKey] ?? '',
      scope: v.Labels?.[LABELS.cacheScope] ?? '',
    }));
  }

  return {
    name: 'docker',
    async listCaches(scope?: string) {
      await ready();
      return listCaches(scope);
    },
    async removeCache(ref: CacheRef) {
      await ready();
      return removeVolume(docker, ref.volume);
    },
    async available() {
      try {
        await withDeadline(engineGet(socketPath, '/_ping'), 3000, 'pinging the Docker engine');
        return true;
      } catch {
        return false;
      }
    },
    async createPod(spec: PodSpec, signal: AbortSignal, events?: PodEvents) {
      await ready();
      return createPod(spec, signal, events);
    },
    async adopt(podId: string) {
      await ready();
      return adopt(podId);
    },
    list,
    async remove(ref: PodRef) {
      await ready();
      return remove(ref);
    },
    async close() {
      // dockerode keeps no persistent connections for plain requests.
    },
  };
}

/** Like Promise.all, but waits for every promise to settle before rejecting with the first error. */
async function allSettledOrThrow<T extends readonly unknown[]>(
  promises: T,
): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as {
    -readonly [K in keyof T]: Awaited<T[K]>;
  };
}

function socketFromEnv(): string | undefined {
  const host = process.env.DOCKER_HOST;
  return host?.startsWith('unix://') ? host.slice('unix://'.length) : undefined;
}

/** Where the Docker backend looks for the engine, for messages: the socket and where it came from. */
export function dockerEndpoint(): string {
  const host = process.env.DOCKER_HOST;
  const socket = socketFromEnv();
  if (socket) return `unix://${socket} (DOCKER_HOST)`;
  if (host)
    return `unix:///var/run/docker.sock (DOCKER_HOST=${host} is not a unix:// socket, so it is not used)`;
  return 'unix:///var/run/docker.sock';
}

/** The text of a multiplexed log buffer (headers stripped). */
function demuxedText(buffer: Buffer): string {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= buffer.length) {
    const size = buffer.readUInt32BE(offset + 4);
    parts.push(buffer.subarray(offset + 8, offset + 8 + size));
    offset += 8 + size;
  }
  return Buffer.concat(parts).toString('utf8');
}
