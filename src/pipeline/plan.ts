/**
 * The plan: what the compiler hands to the runtime and the controller.
 *
 * It is the ordered DAG of job variants after matrix expansion and condition
 * evaluation, with every default filled in and every `${{ }}` rendered, except
 * the few expressions that can only be evaluated while the build runs (status
 * functions in `if:`, `hashFiles()` in cache keys), which stay as written.
 * It is plain JSON (`slipway validate --plan`) and versioned.
 */

export const PLAN_VERSION = 1;

/** The pipeline file of a repository, unless told otherwise. */
export const DEFAULT_PIPELINE_FILE = '.slipway.yml';

/** The event that started a build. */
export type BuildEvent = 'push' | 'tag' | 'pull_request' | 'schedule' | 'manual' | 'api';
export const BUILD_EVENTS: readonly BuildEvent[] = [
  'push',
  'tag',
  'pull_request',
  'schedule',
  'manual',
  'api',
];

/** How a job or step ended, as far as `retry.on` and `when.status` care. */
export type FailureClass = 'failure' | 'infra' | 'timeout' | 'oom_killed';
export const FAILURE_CLASSES: readonly FailureClass[] = [
  'failure',
  'infra',
  'timeout',
  'oom_killed',
];

/** The build facts that conditions and expressions read. */
export interface BuildContext {
  event: BuildEvent;
  /**
   * The branch built, for pushes, schedules and manual builds. Null for tags and for pull
   * requests: a pull request is not a build of any branch (its target and head are below),
   * so `build.branch == 'main'` guards never fire for one.
   */
  branch: string | null;
  tag: string | null;
  sha: string;
  /** Pull request number, for pull_request events. */
  pr: number | null;
  /** Pull requests: the branch it merges into (`on.pull_request.branches` filters on it). */
  prTargetBranch?: string | null;
  /** Pull requests: the branch it comes from, in the head repository. Chosen by its author. */
  prHeadBranch?: string | null;
  /** Pull requests: the repository it comes from (`owner/name`). Chosen by its author. */
  prHeadRepo?: string | null;
  /** The git ref the commit was fetched from when it is neither a branch nor a tag (`refs/pull/7/head`). */
  ref?: string | null;
  /** Build number within its job; 0 when planning outside a controller. */
  number: number;
  /** Repository URL or name, when known. */
  repo: string;
  /** Manual inputs after validation and defaults. */
  inputs: Record<string, string | number | boolean>;
}

/**
 * The `build.*` values whose text whoever opens a pull request chooses (a fork's branch and
 * repository name can be any string, `$(curl …)` included). Treat them as untrusted input:
 * never paste them into a script. Every other `build.*` value is set by the controller or
 * by someone who can push to the job's repository.
 */
export const UNTRUSTED_BUILD_VALUES = ['pr_head_branch', 'pr_head_repo'] as const;

/** `when.status`: which outcomes of the things before this one let it run. */
export type StatusCondition = 'success' | 'failure' | 'always';

export interface PlanResources {
  /** CPU limit in cores (fractions allowed), or null for no limit. */
  cpus: number | null;
  /** Memory limit in bytes, or null for no limit. */
  memoryBytes: number | null;
  /** Process limit; always set, because a fork bomb should not take the host down. */
  pids: number;
}

export interface PlanRetry {
  /** Extra attempts after the first; 0 means never retry. */
  max: number;
  on: FailureClass[];
}

/** A readiness check for a service. */
export type PlanReadiness =
  | { kind: 'tcp'; port: number; timeoutMs: number; intervalMs: number }
  | { kind: 'command'; command: string; timeoutMs: number; intervalMs: number }
  | { kind: 'none' };

/** A sidecar started before the steps, sharing the pod's network (answers on localhost). */
export interface PlanService {
  name: string;
  image: string;
  env: Record<string, string>;
  /** Command override (argv), or null for the image's default. */
  command: string[] | null;
  entrypoint: string[] | null;
  ready: PlanReadiness;
}

/** An extra long-lived tool container that shares the workspace and network. */
export interface PlanContainer {
  name: string;
  image: string;
  env: Record<string, string>;
  user: string | null;
}

export interface PlanArtifacts {
  paths: string[];
  when: 'on_success' | 'on_failure' | 'always';
}

export interface PlanCache {
  /** Key template; may still hold `${{ hashFiles(...) }}` for the runtime to render. */
  key: string;
  paths: string[];
  policy: 'pull-push' | 'pull' | 'push';
}

/** Where a step runs. */
export type StepTarget =
  /** The job's primary container. */
  | { kind: 'primary' }
  /** One of the job's `containers:`. */
  | { kind: 'container'; name: string }
  /** A long-lived container of another image in the same pod (`image:` on a step). */
  | { kind: 'image'; image: string };

export interface PlanCheckout {
  /** History depth to fetch; 0 means full history. */
  depth: number;
  submodules: boolean;
  /** Directory under the workspace to check out into ('' for the workspace itself). */
  path: string;
}

export interface PlanStep {
  /** 0-based position in the job. */
  index: number;
  name: string;
  kind: 'run' | 'checkout';
  /** The script for `run` steps (rendered). */
  run: string | null;
  checkout: PlanCheckout | null;
  /** argv prefix the script is appended to, e.g. ["sh", "-e", "-c"]. */
  shell: string[];
  /** The step's own env on top of the job's (rendered). */
  env: Record<string, string>;
  workingDir: string;
  /** Step timeout, or null to be bounded only by the job timeout. */
  timeoutMs: number | null;
  allowFailure: boolean;
  target: StepTarget;
  /** Which outcome of earlier steps lets this step run. */
  when: StatusCondition;
  /** An `if:` that needs run-time status, as an expression source; null when decided already. */
  if: string | null;
  /** Why the compiler already decided to skip this step, or null. */
  skip: string | null;
}

export interface PlanJob {
  /** Unique name of this variant, e.g. `test (node: 20)`. The key for `needs`. */
  id: string;
  /** The job key in `.slipway.yml`. */
  job: string;
  /** Matrix values of this variant (empty for non-matrix jobs). */
  matrix: Record<string, string | number | boolean>;
  /** Depth in the DAG: jobs of one stage can run in parallel. */
  stage: number;
  /** Variant ids this job waits for. */
  needs: string[];
  /** Which outcome of `needs` lets this job run. */
  when: StatusCondition;
  /** Why the compiler already decided to skip this job (branch/tag/event filter), or null. */
  skip: string | null;
  image: string;
  /** The job's env: pipeline env, then job env (rendered). */
  env: Record<string, string>;
  /** Names of secrets this job asks for (injected at run time, never stored in the plan). */
  secrets: string[];
  workingDir: string;
  shell: string[];
  user: string | null;
  network: 'isolated' | 'offline' | 'host' | 'none';
  timeoutMs: number;
  retry: PlanRetry;
  resources: PlanResources;
  /** Canonical label expression; '' means any agent. */
  labels: string;
  allowFailure: boolean;
  services: PlanService[];
  containers: PlanContainer[];
  artifacts: PlanArtifacts | null;
  caches: PlanCache[];
  steps: PlanStep[];
}

/** A trigger declared under `on:`. */
export interface PlanTriggers {
  push: { branches: string[]; tags: string[] } | null;
  pullRequest: { branches: string[] } | null;
  schedules: { cron: string; timezone: string; branch: string | null }[];
  manual: { inputs: Record<string, PlanInput> } | null;
}

export interface PlanInput {
  type: 'string' | 'number' | 'boolean' | 'choice';
  description: string;
  required: boolean;
  default: string | number | boolean | null;
  options: string[];
}

export interface Plan {
  version: typeof PLAN_VERSION;
  /** The pipeline file as named by the caller. */
  file: string;
  name: string;
  context: BuildContext;
  /** False when `on:` does not include the event being planned. */
  triggered: boolean;
  triggers: PlanTriggers;
  /** Jobs in topological order (stage, then declaration order). */
  jobs: PlanJob[];
}

/** Mount point of the shared workspace in every container of a pod. */
export const WORKSPACE_PATH = '/workspace';
/** Default job timeout when neither the job nor `defaults:` set one. */
export const DEFAULT_JOB_TIMEOUT_MS = 60 * 60 * 1000;
/** Default process limit per container. */
export const DEFAULT_PIDS = 1024;
