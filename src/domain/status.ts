/**
 * The words every layer uses for how things end and where they stand: the outcome of a
 * step, attempt or job, and the statuses of builds, job runs, attempts and steps, with the
 * one mapping from an outcome to a status. A leaf: the runtime, the wire protocol, the
 * store's row types and the controller all import these types, so a value keeps its type
 * from the agent to the database and back, and a new outcome fails to compile wherever a
 * switch forgets it.
 */

/** Every way a step, an attempt or a job can end. */
export type Outcome =
  | 'success'
  /** The user's command exited non-zero (or a service it needs failed). */
  | 'failure'
  | 'oom_killed'
  | 'timeout'
  | 'canceled'
  | 'image_pull'
  | 'image_missing'
  | 'infra_error'
  /** Not run: a condition excluded it, or what it needs did not succeed. */
  | 'skipped';

export const OUTCOMES: readonly Outcome[] = [
  'success',
  'failure',
  'oom_killed',
  'timeout',
  'canceled',
  'image_pull',
  'image_missing',
  'infra_error',
  'skipped',
];

/** True for a string that is one of the outcomes (input from outside: the wire, a row). */
export function isOutcome(value: unknown): value is Outcome {
  return typeof value === 'string' && (OUTCOMES as readonly string[]).includes(value);
}

/** How an ended thing is shown: `error` is the infrastructure's failure, not the user's. */
export type EndStatus = 'success' | 'failure' | 'error' | 'canceled' | 'skipped';

/** A build: queued until an attempt of it runs, then running until every job run ended. */
export type BuildStatus = 'queued' | 'running' | Exclude<EndStatus, 'skipped'>;

export const BUILD_STATUSES: readonly BuildStatus[] = [
  'queued',
  'running',
  'success',
  'failure',
  'error',
  'canceled',
];

/** True for a string that is a build status (a query's filter, say). */
export function isBuildStatus(value: unknown): value is BuildStatus {
  return typeof value === 'string' && (BUILD_STATUSES as readonly string[]).includes(value);
}

/** A job run: `waiting` for what it needs, then like a build, or `skipped`. */
export type JobRunStatus = 'waiting' | 'queued' | 'running' | EndStatus;

/** An attempt: the queue is the set of attempts with status `queued`. */
export type AttemptStatus = 'queued' | 'running' | EndStatus;

/** A step of an attempt, as stored. */
export type StepStatus = 'running' | EndStatus;

/** The status an ending shows. The one exhaustive switch over outcomes for statuses. */
export function statusOf(outcome: Outcome): EndStatus {
  switch (outcome) {
    case 'success':
      return 'success';
    case 'failure':
    case 'oom_killed':
    case 'timeout':
      return 'failure';
    case 'canceled':
      return 'canceled';
    case 'skipped':
      return 'skipped';
    case 'image_pull':
    case 'image_missing':
    case 'infra_error':
      return 'error';
    default:
      return unreachable(outcome);
  }
}

/**
 * A build's status from its outcome: a build is never `skipped` (a build whose every job
 * was skipped succeeded: nothing it asked for failed).
 */
export function buildStatusOf(outcome: Outcome): BuildStatus {
  const status = statusOf(outcome);
  return status === 'skipped' ? 'success' : status;
}

/** The statuses that end a build, job run, attempt or step: they never change again. */
export const FINISHED: ReadonlySet<string> = new Set<EndStatus>([
  'success',
  'failure',
  'error',
  'canceled',
  'skipped',
]);

/** True once a build, job run, attempt or step has ended. */
export function isFinished(
  status: BuildStatus | JobRunStatus | AttemptStatus | StepStatus,
): status is EndStatus {
  return FINISHED.has(status);
}

/** For the `default:` of an exhaustive switch: a value the types say cannot exist. */
export function unreachable(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`);
}
