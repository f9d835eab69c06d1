/**
 * The backend contract: what makes a pod real (DESIGN.md §5).
 *
 * ## Lifecycle and call order
 *
 * 1. `available()` — a cheap probe, may be called any time, never throws.
 * 2. `createPod(spec, signal)` — creates everything the pod needs: the workspace, the
 *    network namespace, one long-lived container per `spec.containers` entry, and the
 *    services, started in order and waited on with their readiness checks. On failure or
 *    cancellation it removes whatever it created before it rejects (or returns a pod whose
 *    `destroy()` does). It rejects with a {@link PodError} that carries the outcome class.
 * 3. For each step, in order: `pod.exec(target, command, io, signal)`. A non-zero exit is a
 *    result ({@link StepExit}), never an exception. Aborting `signal` stops the step: its
 *    process tree gets SIGTERM, then SIGKILL after `command.graceMs`.
 *    `exec` calls on one pod may run concurrently (the runtime does not, but readiness
 *    checks and artifact collection may overlap on other backends).
 * 4. `pod.copyIn`/`pod.copyOut` move files between the host and the workspace (checkout,
 *    artifacts, caches).
 * 5. `pod.destroy()` — removes every container, network and volume of the pod. Idempotent,
 *    safe to call concurrently and repeatedly, and it must not depend on any cancelled
 *    signal: teardown outlives cancellation. It never throws for "already gone".
 *
 * `adopt(podId, owner)` re-attaches to a pod created by an earlier process (after a
 * controller restart), only when it carries the given owner labels (so one controller
 * never takes another's pod on a shared engine); `list(selector)` finds pods by owner
 * labels, for orphan sweeps.
 *
 * Everything a backend creates carries the owner labels of {@link OwnerLabels}.
 */

import type { PlanReadiness, PlanResources } from '../pipeline/plan.ts';

/** Label keys on every resource Slipway creates. */
export const LABELS = {
  /** Always "1": marks a resource as Slipway's. */
  managed: 'dev.slipway.managed',
  /** Who created it: `slipway-run`, `controller:<id>`, `test:<suite>`. */
  creator: 'dev.slipway.creator',
  /** Host and process that created it, so a sweep can tell a live owner from a dead one. */
  creatorHost: 'dev.slipway.creator-host',
  creatorPid: 'dev.slipway.creator-pid',
  /** The creator process's start time (boot ticks), so a reused pid is not taken as alive. */
  creatorStart: 'dev.slipway.creator-start',
  run: 'dev.slipway.run',
  job: 'dev.slipway.job',
  attempt: 'dev.slipway.attempt',
  pod: 'dev.slipway.pod',
  /** primary, tool, step-image, step, service, workspace, cache. */
  role: 'dev.slipway.role',
  /** The container's name within the pod (`primary`, a service or container name). */
  member: 'dev.slipway.member',
  /** For cache volumes: the rendered cache key. */
  cacheKey: 'dev.slipway.cache-key',
  /** For cache volumes: whose caches they are (a project), so equal keys never mix. */
  cacheScope: 'dev.slipway.cache-scope',
} as const;

/** Who owns a pod. Becomes labels on every resource of the pod. */
export interface OwnerLabels {
  creator: string;
  creatorHost: string;
  creatorPid: number;
  creatorStart: string;
  runId: string;
  job: string;
  attempt: number;
}

/** What a run may do beyond the safe defaults. Everything is off unless allowed. */
export interface PodPolicy {
  /** `network: host` in a pipeline is refused unless this is true. */
  allowHostNetwork: boolean;
  /** Privileged containers (never requested by pipelines today; reserved). */
  allowPrivileged: boolean;
  /** Mounting the engine's socket into containers (Docker-in-Docker style builds). */
  allowDockerSocket: boolean;
}

export const DEFAULT_POLICY: PodPolicy = {
  allowHostNetwork: false,
  allowPrivileged: false,
  allowDockerSocket: false,
};

/** One long-lived container of a pod: the primary, a tool container, or a step image. */
export interface ContainerSpec {
  /** The name steps use to target it: `primary`, a `containers:` name, or `image:<n>`. */
  name: string;
  role: 'primary' | 'tool' | 'step-image';
  image: string;
  env: Record<string, string>;
  user: string | null;
}

export interface ServiceSpec {
  name: string;
  image: string;
  env: Record<string, string>;
  command: string[] | null;
  entrypoint: string[] | null;
  ready: PlanReadiness;
}

/** A cache volume mounted into the pod's long-lived containers. */
export interface CacheMount {
  /** Backend-level volume name (from the scope and the rendered key). */
  volume: string;
  key: string;
  /** The project the cache belongs to. */
  scope: string;
  /** Where the volume is mounted in the containers. */
  mountPath: string;
}

export interface PodSpec {
  /** Unique, DNS-safe id; becomes part of every resource name. */
  id: string;
  owner: OwnerLabels;
  /** Where the shared workspace is mounted in every container. */
  workspace: string;
  network: 'isolated' | 'offline' | 'host' | 'none';
  /** `containers[0]` is the primary; the pod's network namespace is anchored on it. */
  containers: ContainerSpec[];
  services: ServiceSpec[];
  resources: PlanResources;
  caches: CacheMount[];
  policy: PodPolicy;
  /** Pull an image that is not present (default true). */
  pull: boolean;
}

/** A step's command, ready to run. */
export interface StepCommand {
  /** Unique within the pod; tags the step's whole process tree so it can be signalled. */
  id: string;
  /** The command with its shell, e.g. ["sh", "-e", "-c", "make test"]. */
  argv: string[];
  /**
   * The command without a shell, for images that have none (the script split into words),
   * or null when the script needs a shell. Such steps run as their own container.
   */
  directArgv: string[] | null;
  env: Record<string, string>;
  workingDir: string;
  /** User to run as; null for the image's default user. */
  user: string | null;
  /** How long to wait after SIGTERM before SIGKILL when the step is stopped. */
  graceMs: number;
  /**
   * Keep the step's output and exit status in the pod as well, so that a later process
   * can resume it (`Pod.resume`) after the one that started it died. Controller agents set it.
   */
  spool?: boolean;
}

/** Bytes of each stream of a step already delivered, where a resume continues. */
export interface StreamOffsets {
  stdout: number;
  stderr: number;
}

/** Where a step's output goes, as raw bytes in arrival order. */
export interface StepIO {
  stdout(chunk: Buffer): void;
  stderr(chunk: Buffer): void;
}

/**
 * How a step ended, as the backend saw it. The runtime turns this into an outcome
 * (src/runtime/outcome.ts); `stopped` says why the runtime's signal was aborted.
 */
export type StepExit =
  | { kind: 'exited'; exitCode: number }
  | { kind: 'oom_killed'; exitCode: number; limitBytes: number | null }
  /** `message`: how the stop went when it was not the usual way (a frozen container killed from outside). */
  | { kind: 'stopped'; exitCode: number | null; message?: string }
  | { kind: 'infra_error'; message: string };

/** The outcome classes a pod-creation failure can have. */
export type PodFailureClass =
  'image_missing' | 'image_pull' | 'service_not_ready' | 'infra_error' | 'policy' | 'canceled';

/** Thrown by createPod: why the pod could not be made, classified. */
export class PodError extends Error {
  constructor(
    readonly failure: PodFailureClass,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'PodError';
  }
}

export interface PodRef {
  id: string;
  labels: Record<string, string>;
  /** Resource ids (containers, volumes, networks) that belong to it. */
  resources: string[];
}

/** Progress of pod creation, for live output (`starting service db`...). */
export interface PodEvents {
  onProgress?(message: string): void;
}

/** Selects pods by labels (every given label must match). */
export type OwnerSelector = Partial<Record<(typeof LABELS)[keyof typeof LABELS], string>>;

export interface Pod {
  readonly id: string;
  /**
   * Runs a command in one of the pod's containers (by ContainerSpec.name). Streams output
   * to io as it arrives; resolves when the process has exited and all output is delivered.
   */
  exec(target: string, command: StepCommand, io: StepIO, signal: AbortSignal): Promise<StepExit>;
  /**
   * Re-attaches to a spooled step started by an earlier process (same command id): waits
   * for it to end, delivers its output after `offsets`, and returns how it ended. Only
   * backends that spool implement it.
   */
  resume?(
    target: string,
    command: StepCommand,
    offsets: StreamOffsets,
    io: StepIO,
    signal: AbortSignal,
  ): Promise<StepExit>;
  /** Unpacks a tar stream into `path` (absolute, inside the workspace) of a container. */
  copyIn(target: string, path: string, tar: NodeJS.ReadableStream): Promise<void>;
  /** A tar stream of `path` (absolute) from a container, or undefined if it does not exist. */
  copyOut(target: string, path: string): Promise<NodeJS.ReadableStream | undefined>;
  /** Removes everything of the pod. Idempotent; outlives cancellation. */
  destroy(): Promise<void>;
}

/** A cache kept by a backend between runs. */
export interface CacheRef {
  volume: string;
  key: string;
  scope: string;
}

export interface Backend {
  readonly name: 'docker' | 'process' | 'fake' | 'kubernetes';
  /** True when this backend can create pods here. Cheap; never throws. */
  available(): Promise<boolean>;
  createPod(spec: PodSpec, signal: AbortSignal, events?: PodEvents): Promise<Pod>;
  /**
   * Re-attaches to a pod made by an earlier process, or undefined if it is gone. With
   * `owner`, a pod whose labels do not all match is not taken (it is someone else's).
   */
  adopt(podId: string, owner?: OwnerSelector): Promise<Pod | undefined>;
  /** Pods (grouped resources) whose labels match the selector. */
  list(selector: OwnerSelector): Promise<PodRef[]>;
  /** Removes a listed pod's resources (for sweeps). Idempotent. */
  remove(ref: PodRef): Promise<void>;
  /** Caches kept between runs, of one scope or of all. */
  listCaches(scope?: string): Promise<CacheRef[]>;
  /** Removes a cache. Idempotent. */
  removeCache(ref: CacheRef): Promise<void>;
  /** Releases connections; the backend is not used afterwards. */
  close(): Promise<void>;
}
