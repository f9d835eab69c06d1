/**
 * From a plan job to the pod that runs it: pure, so it is tested without any backend.
 */
import { createHash } from 'node:crypto';
import type {
  CacheMount,
  ContainerSpec,
  OwnerLabels,
  PodPolicy,
  PodSpec,
} from '../backends/backend.ts';
import type { PlanJob, PlanStep } from '../pipeline/plan.ts';
import { WORKSPACE_PATH } from '../pipeline/plan.ts';

export interface PodPlanOptions {
  runId: string;
  attempt: number;
  owner: Omit<OwnerLabels, 'runId' | 'job' | 'attempt'>;
  policy: PodPolicy;
  pull: boolean;
  /** Replaces `isolated` (the default network) for every job, e.g. `offline` in tests. */
  networkOverride?: PodSpec['network'];
  /** Rendered cache keys, one per `job.caches` entry. */
  cacheKeys: string[];
  /** Whose caches these are (for `slipway run`: the project directory). */
  cacheScope: string;
}

export interface PodPlan {
  spec: PodSpec;
  /** The pod member a step runs in. */
  targetOf(step: PlanStep): string;
}

/** A short, DNS-safe, collision-free id for a job variant's pod. */
export function podId(runId: string, jobId: string, attempt: number): string {
  const slug = jobId
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 30);
  const hash = createHash('sha256').update(jobId).digest('hex').slice(0, 6);
  return `${runId}-${slug || 'job'}-${hash}-a${attempt}`;
}

/** The volume that holds a cache key's content within a scope. */
export function cacheVolumeName(scope: string, key: string): string {
  return `slipway-cache-${createHash('sha256').update(scope).update('\0').update(key).digest('hex').slice(0, 24)}`;
}

/** Where cache volume `index` is mounted in the primary container. */
export function cacheMountPath(index: number): string {
  return `/.slipway/cache/${index}`;
}

export function planPod(job: PlanJob, options: PodPlanOptions): PodPlan {
  const id = podId(options.runId, job.id, options.attempt);
  const containers: ContainerSpec[] = [
    { name: 'primary', role: 'primary', image: job.image, env: job.env, user: job.user },
    ...job.containers.map((c): ContainerSpec => ({
      name: c.name,
      role: 'tool',
      image: c.image,
      env: { ...job.env, ...c.env },
      user: c.user ?? job.user,
    })),
  ];
  const imageMembers = new Map<string, string>();
  for (const step of job.steps) {
    if (step.target.kind !== 'image' || step.skip !== null || imageMembers.has(step.target.image))
      continue;
    const name = `image-${imageMembers.size + 1}`;
    imageMembers.set(step.target.image, name);
    containers.push({
      name,
      role: 'step-image',
      image: step.target.image,
      env: job.env,
      user: job.user,
    });
  }
  const caches: CacheMount[] = options.cacheKeys.map((key, i) => ({
    key,
    scope: options.cacheScope,
    volume: cacheVolumeName(options.cacheScope, key),
    mountPath: cacheMountPath(i),
  }));
  const network =
    job.network === 'isolated' && options.networkOverride ? options.networkOverride : job.network;
  const spec: PodSpec = {
    id,
    owner: { ...options.owner, runId: options.runId, job: job.id, attempt: options.attempt },
    workspace: WORKSPACE_PATH,
    network,
    containers,
    services: job.services.map((s) => ({ ...s, env: { ...s.env } })),
    resources: job.resources,
    caches,
    policy: options.policy,
    pull: options.pull,
  };
  return {
    spec,
    targetOf(step) {
      switch (step.target.kind) {
        case 'primary':
          return 'primary';
        case 'container':
          return step.target.name;
        case 'image':
          return imageMembers.get(step.target.image) ?? 'primary';
      }
    },
  };
}
