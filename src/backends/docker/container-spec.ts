/**
 * Pure conversions from a PodSpec to Docker Engine API requests. No daemon needed:
 * everything here is unit-tested on its own (docker-backend.ts is the thin shell).
 */
import type Docker from 'dockerode';
import {
  LABELS,
  type CacheMount,
  type ContainerSpec,
  type OwnerLabels,
  type PodSpec,
  type ServiceSpec,
} from '../backend.ts';

/** Where the keepalive script leaves its "workspace is ready" marker. */
export const READY_MARKER = '/.slipway-ready';
/** Env var that tags every process of a step, so the whole tree can be signalled. */
export const STEP_MARKER_ENV = 'SLIPWAY_STEP';

/** Labels shared by every resource of a pod. */
export function podLabels(spec: PodSpec): Record<string, string> {
  return ownerLabels(spec.owner, { [LABELS.pod]: spec.id });
}

/** The owner labels as a plain label map. */
export function ownerLabels(
  owner: OwnerLabels,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    [LABELS.managed]: '1',
    [LABELS.creator]: owner.creator,
    [LABELS.creatorHost]: owner.creatorHost,
    [LABELS.creatorPid]: String(owner.creatorPid),
    [LABELS.creatorStart]: owner.creatorStart,
    [LABELS.run]: owner.runId,
    [LABELS.job]: owner.job,
    [LABELS.attempt]: String(owner.attempt),
    ...extra,
  };
}

/** Docker resource names: `slipway-<pod>-<member>`. */
export function containerName(podId: string, member: string): string {
  return `slipway-${podId}-${member.replace(/[^a-zA-Z0-9_.-]/g, '-')}`;
}

export function workspaceVolumeName(podId: string): string {
  return `slipway-${podId}-ws`;
}

/** The pod's workspace volume: it carries the pod's owner labels and goes with the pod. */
export function workspaceVolumeOptions(spec: PodSpec): Docker.VolumeCreateOptions {
  return {
    Name: workspaceVolumeName(spec.id),
    Labels: { ...podLabels(spec), [LABELS.role]: 'workspace' },
  };
}

/**
 * A cache volume. It outlives the pod and its creator process (caches persist until
 * `slipway cache prune`), so it carries no pod or owner-process labels: a pod's removal
 * or a sweep of dead owners must not take it. Its scope keeps projects' caches apart.
 */
export function cacheVolumeOptions(spec: PodSpec, cache: CacheMount): Docker.VolumeCreateOptions {
  return {
    Name: cache.volume,
    Labels: {
      [LABELS.managed]: '1',
      [LABELS.role]: 'cache',
      [LABELS.cacheKey]: cache.key,
      [LABELS.cacheScope]: cache.scope,
      [LABELS.creator]: spec.owner.creator,
    },
  };
}

/** Why the run's policy refuses this pod (a `policy` failure), or undefined. */
export function policyRefusal(spec: PodSpec): string | undefined {
  if (spec.network === 'host' && !spec.policy.allowHostNetwork)
    return `job ${spec.owner.job} asks for network: host, which this run does not allow; use isolated or offline, or allow host networking in the run's policy`;
  if (spec.network === 'none' && spec.services.length > 0)
    return `job ${spec.owner.job} has services but network: none, so nothing could reach them; use network: offline`;
  return undefined;
}

/**
 * The command of every long-lived container (run as root, under the engine's init):
 * open the workspace to every user of the pod, mark it ready, then sleep until stopped.
 * Opening the workspace is what keeps files usable across containers that run as
 * different users (the Jenkins "UID mismatch" hang).
 */
export function keepaliveCommand(workspace: string): string[] {
  const ws = shellQuote(workspace);
  return [
    'sh',
    '-c',
    `mkdir -p ${ws} && chmod 0777 ${ws}; touch ${READY_MARKER}; ` +
      'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done',
  ];
}

/** Memory, CPU and process limits, and the safe defaults, for one container. */
export function hostConfigLimits(spec: PodSpec): Docker.HostConfig {
  const { resources } = spec;
  const config: Docker.HostConfig = {
    Init: true,
    PidsLimit: resources.pids,
    SecurityOpt: ['no-new-privileges:true'],
    Privileged: spec.policy.allowPrivileged ? undefined : false,
  };
  if (resources.memoryBytes !== null) {
    config.Memory = resources.memoryBytes;
    config.MemorySwap = resources.memoryBytes; // no swap: the limit is the limit
  }
  if (resources.cpus !== null) config.NanoCpus = Math.round(resources.cpus * 1e9);
  return config;
}

/** Mounts: the workspace everywhere; caches in the primary; the engine socket only if allowed. */
export function mounts(
  spec: PodSpec,
  role: ContainerSpec['role'] | 'service' | 'step',
): Docker.MountSettings[] {
  const list: Docker.MountSettings[] = [
    { Type: 'volume', Source: workspaceVolumeName(spec.id), Target: spec.workspace },
  ];
  if (role === 'primary') {
    for (const cache of spec.caches)
      list.push({ Type: 'volume', Source: cache.volume, Target: cache.mountPath });
  }
  if (spec.policy.allowDockerSocket && (role === 'primary' || role === 'tool')) {
    list.push({ Type: 'bind', Source: '/var/run/docker.sock', Target: '/var/run/docker.sock' });
  }
  return list;
}

/**
 * The network mode of a pod member. The primary owns the pod's namespace; everyone
 * else joins it, so services answer on localhost and parallel pods never share ports.
 */
export function networkMode(spec: PodSpec, primaryId: string | undefined): string {
  if (spec.network === 'none') return 'none';
  if (primaryId !== undefined) return `container:${primaryId}`;
  switch (spec.network) {
    case 'host':
      return 'host';
    case 'offline':
      return 'none';
    case 'isolated':
      return 'bridge';
  }
}

function env(map: Record<string, string>): string[] {
  return Object.entries(map).map(([k, v]) => `${k}=${v}`);
}

/** A long-lived container (primary, tool, step image) that steps are exec'd into. */
export function longLivedContainerOptions(
  spec: PodSpec,
  member: ContainerSpec,
  primaryId: string | undefined,
): Docker.ContainerCreateOptions {
  return {
    name: containerName(spec.id, member.role === 'primary' ? 'primary' : member.name),
    Image: member.image,
    Entrypoint: keepaliveCommand(spec.workspace),
    Cmd: [],
    User: '0:0',
    Env: env(member.env),
    WorkingDir: spec.workspace,
    Labels: { ...podLabels(spec), [LABELS.role]: member.role, [LABELS.member]: member.name },
    ...(primaryId === undefined ? { Hostname: 'pod' } : {}),
    HostConfig: {
      ...hostConfigLimits(spec),
      NetworkMode: networkMode(spec, primaryId),
      Mounts: mounts(spec, member.role),
    },
  };
}

/** A service container: the image's own entrypoint and command unless overridden. */
export function serviceContainerOptions(
  spec: PodSpec,
  service: ServiceSpec,
  primaryId: string,
): Docker.ContainerCreateOptions {
  return {
    name: containerName(spec.id, `svc-${service.name}`),
    Image: service.image,
    ...(service.entrypoint ? { Entrypoint: service.entrypoint } : {}),
    ...(service.command ? { Cmd: service.command } : {}),
    Env: env(service.env),
    Labels: { ...podLabels(spec), [LABELS.role]: 'service', [LABELS.member]: service.name },
    HostConfig: {
      ...hostConfigLimits(spec),
      NetworkMode: networkMode(spec, primaryId),
      Mounts: mounts(spec, 'service'),
    },
  };
}

/** A one-off container for a step in an image without a shell. */
export function stepContainerOptions(
  spec: PodSpec,
  member: ContainerSpec,
  argv: string[],
  stepEnv: Record<string, string>,
  workingDir: string,
  user: string | null,
  primaryId: string | undefined,
  serial: number,
): Docker.ContainerCreateOptions {
  const [entrypoint, ...rest] = argv;
  return {
    name: containerName(spec.id, `step-${serial}`),
    Image: member.image,
    Entrypoint: entrypoint === undefined ? [] : [entrypoint],
    Cmd: rest,
    Env: env({ ...member.env, ...stepEnv }),
    WorkingDir: workingDir,
    ...(user ? { User: user } : {}),
    AttachStdout: true,
    AttachStderr: true,
    Labels: { ...podLabels(spec), [LABELS.role]: 'step', [LABELS.member]: member.name },
    HostConfig: {
      ...hostConfigLimits(spec),
      NetworkMode: networkMode(spec, primaryId),
      Mounts: mounts(spec, 'step'),
    },
  };
}

/**
 * The argv that runs a step inside a long-lived container: wait for the workspace to be
 * opened, use a umask that keeps new files writable by every user of the pod, enter (and
 * create) the working directory, then exec the step's own command.
 */
export function stepWrapper(workingDir: string, argv: readonly string[], spool = false): string[] {
  const script =
    `i=0; while [ ! -e ${READY_MARKER} ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done; ` +
    'umask 0000; ' +
    `cd ${shellQuote(workingDir)} 2>/dev/null || { mkdir -p ${shellQuote(workingDir)} && cd ${shellQuote(workingDir)}; } || exit 125; ` +
    (spool ? SPOOL_SCRIPT : '') +
    'exec "$@"';
  return ['sh', '-c', script, 'slipway-step', ...argv];
}

/** Where a durable step keeps its output and exit status inside its container. */
export const SPOOL_ROOT = '/tmp/.slipway-spool';

/**
 * The durable part of the wrapper: the step writes into two FIFOs; a `tee -a` per stream
 * copies to the exec stream and to files, so output survives the controller and can be
 * read from an offset after a restart. The tees do not carry the step's marker (a stop
 * must not cut the last output); the wrapper answers TERM with a handler (an ignored
 * signal would be inherited by the step). Falls back to a plain exec without mkfifo/tee.
 */
const SPOOL_SCRIPT =
  `d=${SPOOL_ROOT}/$${STEP_MARKER_ENV}; ` +
  'if mkdir -p "$d" 2>/dev/null && rm -f "$d/o" "$d/e" && mkfifo "$d/o" "$d/e" 2>/dev/null && command -v tee >/dev/null && command -v env >/dev/null; then ' +
  'p=; if tee -p </dev/null >/dev/null 2>&1; then p=-p; fi; ' +
  `env -u ${STEP_MARKER_ENV} tee $p -a "$d/out" <"$d/o" & ` +
  `env -u ${STEP_MARKER_ENV} tee $p -a "$d/err" <"$d/e" >&2 & ` +
  "trap ':' TERM; " +
  '"$@" >"$d/o" 2>"$d/e"; s=$?; ' +
  'until wait; do :; done; echo $s >"$d/exit.tmp" && mv "$d/exit.tmp" "$d/exit"; exit $s; ' +
  'fi; ';

/**
 * Follows a durable step's spool from raw byte offsets until the step has ended: every
 * 0.2 s, new bytes of `out` go to stdout and new bytes of `err` to stderr (so output
 * written while no controller ran keeps its order within each stream, not across them).
 * It ends after a last read once the step's exit status exists; the tees have finished
 * writing by then.
 */
export function spoolFollowScript(
  stepId: string,
  offsets: { stdout: number; stderr: number },
): string[] {
  const d = shellQuote(`${SPOOL_ROOT}/${stepId}`);
  const read = (file: string, at: string, redirect: string): string =>
    `n=$(wc -c <${d}/${file} 2>/dev/null || echo 0); ` +
    `if [ "$n" -gt "$${at}" ]; then tail -c +$((${at}+1)) ${d}/${file} | head -c $((n-${at}))${redirect}; ${at}=$n; fi; `;
  return [
    'sh',
    '-c',
    `o=${Math.trunc(offsets.stdout)}; e=${Math.trunc(offsets.stderr)}; ` +
      `while :; do f=0; [ -e ${d}/exit ] && f=1; ` +
      read('out', 'o', '') +
      read('err', 'e', ' >&2') +
      '[ $f = 1 ] && break; sleep 0.2; done',
  ];
}

/** Prints a durable step's exit status (after it ended). */
export function spoolExitScript(stepId: string): string[] {
  return ['sh', '-c', `cat ${shellQuote(`${SPOOL_ROOT}/${stepId}/exit`)}`];
}

/** A script that sends a signal to every process carrying the step's marker. */
export function signalStepScript(stepId: string, signal: 'TERM' | 'KILL'): string[] {
  const marker = shellQuote(`${STEP_MARKER_ENV}=${stepId}`);
  return [
    'sh',
    '-c',
    `for p in /proc/[0-9]*; do if grep -qz -x -F ${marker} "$p/environ" 2>/dev/null; then kill -${signal} "\${p#/proc/}" 2>/dev/null; fi; done; true`,
  ];
}

/** Reads the cgroup's OOM-kill counter (cgroup v1 memory.oom_control or v2 memory.events). */
export const OOM_COUNTER_COMMAND = [
  'sh',
  '-c',
  'cat /sys/fs/cgroup/memory/memory.oom_control /sys/fs/cgroup/memory.events 2>/dev/null; true',
];

export function parseOomKills(text: string): number {
  const match = /^oom_kill (\d+)$/m.exec(text);
  return match ? Number(match[1]) : 0;
}

/** Lists TCP ports in LISTEN state from /proc/net/tcp and tcp6 text. */
export const LISTENING_PORTS_COMMAND = [
  'sh',
  '-c',
  'cat /proc/net/tcp /proc/net/tcp6 2>/dev/null; true',
];

export function parseListeningPorts(text: string): Set<number> {
  const ports = new Set<number>();
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    // sl local_address rem_address st ...; st 0A is LISTEN
    if (fields.length < 4 || fields[3] !== '0A') continue;
    const port = Number.parseInt(fields[1]?.split(':')[1] ?? '', 16);
    if (Number.isFinite(port)) ports.add(port);
  }
  return ports;
}

/** Quotes a string for sh. */
export function shellQuote(text: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/** A normalized image reference, for the "is it present" check. */
export function imageRef(image: string): string {
  const lastSlash = image.lastIndexOf('/');
  const hasTag = image.slice(lastSlash + 1).includes(':') || image.includes('@');
  return hasTag ? image : `${image}:latest`;
}
