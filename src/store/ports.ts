/**
 * The store's ports: one interface per aggregate (jobs; builds with their job runs,
 * attempts and steps; logs; triggers; credentials) and the `Store` that bundles them. The controller
 * and the HTTP layer see only these; the embedded SQLite driver (`open.ts` and the
 * `*-store` classes) implements them, and a PostgreSQL driver will be a second
 * implementation that passes the same conformance suite (`test/store/conformance.ts`).
 *
 * Rows are the kysely row types of `schema.ts` (times in epoch ms, JSON as text), whose
 * status and outcome columns carry the domain's types. Every method may throw a storage
 * failure (see `health.ts`); none retries by itself.
 */
import type { Insertable, Selectable, Transaction, Updateable } from 'kysely';
import type { AttemptStatus, Outcome, StepStatus } from '../domain/status.ts';
import type { StoreHealth } from './health.ts';
import type { LogSearchResult } from './log-search.ts';
import type {
  AttemptsTable,
  BuildsTable,
  CredentialsTable,
  Database,
  JobRunsTable,
  StepsTable,
} from './schema.ts';

/**
 * A transaction of the store, handed to the callbacks of `BuildsPort.create` and
 * `BuildsPort.transaction` and passed back to the methods that take one. Both drivers
 * speak kysely, so it is kysely's transaction; callers only pass it on.
 */
export type StoreTx = Transaction<Database>;

// ── jobs ────────────────────────────────────────────────────────────────────────────

export interface ScheduleSpec {
  cron: string;
  timezone: string;
  branch: string | null;
}

export interface Job {
  name: string;
  repo: string;
  branches: string[];
  defaultBranch: string;
  pipelinePath: string;
  concurrency: number | null;
  cancelOlder: boolean;
  schedules: ScheduleSpec[];
  webhookSecret: string | null;
  source: 'config' | 'api';
  createdAt: number;
  updatedAt: number;
}

export type JobInput = Omit<Job, 'createdAt' | 'updatedAt'>;

/** What can be built, from which repository, and how it is triggered. */
export interface JobsPort {
  /** Every job, by name. */
  list(): Promise<Job[]>;
  get(name: string): Promise<Job | undefined>;
  /** Creates or replaces a job; a replaced job keeps its creation time. */
  put(job: JobInput, now: number): Promise<Job>;
  /** False when there was no such job. */
  remove(name: string): Promise<boolean>;
}

// ── builds, job runs, attempts, steps ────────────────────────────────────────────────

export type BuildRow = Selectable<BuildsTable>;
export type JobRunRow = Selectable<JobRunsTable>;
export type AttemptRow = Selectable<AttemptsTable>;
export type StepRow = Selectable<StepsTable>;

export interface NewBuild {
  build: Omit<Insertable<BuildsTable>, 'id' | 'number'>;
  jobRuns: Omit<Insertable<JobRunsTable>, 'id' | 'build_id'>[];
}

export type NewAttempt = Omit<Insertable<AttemptsTable>, 'id'>;

/** A queued attempt with what dispatch and the queue view need of its job run and build. */
export type QueuedAttempt = AttemptRow & {
  labels: string;
  name: string;
  job: string;
  build_number: number;
};

/**
 * Builds, their job runs, attempts and steps. The queue is the set of attempts with
 * status `queued`; `claim` takes one in a single conditional write, so two dispatchers
 * never both take it. Attempts, job runs and builds only move forward.
 */
export interface BuildsPort {
  /**
   * Records a build with its job runs in one transaction, numbering it after the job's
   * last build (numbers are per job, gap-free, unique under concurrent calls); `then`
   * runs inside the same transaction, so the caller acknowledges only what is durable.
   * `make` may be called more than once.
   */
  create<T>(
    make: (number: number) => NewBuild,
    then: (tx: StoreTx, build: BuildRow, runs: JobRunRow[]) => Promise<T>,
  ): Promise<T>;
  /** Runs `fn` in one transaction: all of its writes, or none. */
  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T>;
  build(id: number, tx?: StoreTx): Promise<BuildRow | undefined>;
  buildByNumber(job: string, number: number): Promise<BuildRow | undefined>;
  /** Newest first. `status` is a build status; any other word matches no build. */
  list(options: {
    job?: string;
    status?: string;
    before?: number;
    limit: number;
  }): Promise<BuildRow[]>;
  /** Builds `queued` or `running`, oldest first. */
  unfinishedBuilds(): Promise<BuildRow[]>;
  updateBuild(id: number, patch: Updateable<BuildsTable>, tx?: StoreTx): Promise<void>;
  /** A build's job runs in plan order. */
  jobRuns(buildId: number, tx?: StoreTx): Promise<JobRunRow[]>;
  jobRun(id: number, tx?: StoreTx): Promise<JobRunRow | undefined>;
  updateJobRun(id: number, patch: Updateable<JobRunsTable>, tx?: StoreTx): Promise<void>;
  /** A build's attempts, oldest first. */
  attempts(buildId: number, tx?: StoreTx): Promise<AttemptRow[]>;
  attempt(id: number, tx?: StoreTx): Promise<AttemptRow | undefined>;
  addAttempt(values: NewAttempt, tx?: StoreTx): Promise<AttemptRow>;
  updateAttempt(id: number, patch: Updateable<AttemptsTable>, tx?: StoreTx): Promise<void>;
  /** The queue: queued attempts by priority (highest first), then age. */
  queued(): Promise<QueuedAttempt[]>;
  /** Attempts `running`, oldest first. */
  running(): Promise<AttemptRow[]>;
  /**
   * Takes a queued attempt for an agent (status `running`, a lease until `leaseUntil`,
   * an absolute deadline); false when it was not queued any more (someone took it).
   */
  claim(
    id: number,
    agent: string,
    now: number,
    leaseUntil: number,
    deadline: number,
  ): Promise<boolean>;
  /** Moves the lease of each of these attempts that still runs to `until`. */
  renewLeases(attemptIds: readonly number[], until: number): Promise<void>;
  /** Running attempts whose lease ended before `now`: their agent stopped renewing it. */
  expiredLeases(now: number): Promise<AttemptRow[]>;
  /** The steps of these attempts, by attempt then index. */
  steps(attemptIds: readonly number[]): Promise<StepRow[]>;
  /** Inserts or updates a step; an update without a start time keeps the stored one. */
  putStep(step: Insertable<StepsTable>): Promise<void>;
  /** Ends every step of an attempt that is still `running` (the attempt ended without them). */
  endRunningSteps(
    attemptId: number,
    ending: { status: StepStatus; outcome: Outcome; reason: string; finishedAt: number },
  ): Promise<void>;
  /** How many attempts are queued and running (absent: none). */
  countByStatus(): Promise<Partial<Record<AttemptStatus, number>>>;
}

// ── logs ─────────────────────────────────────────────────────────────────────────────

export interface LogChunk {
  id: number;
  buildId: number;
  attemptId: number;
  step: number;
  seq: number;
  offset: number;
  stream: string;
  data: Buffer;
  time: number;
}

/**
 * A chunk to store; its id is given by the store, its time defaults to now. `raw` is where
 * it ends in the step's raw stdout and stderr (bytes before masking), when known.
 */
export type NewChunk = Omit<LogChunk, 'id' | 'time'> & {
  time?: number;
  raw?: { stdout: number; stderr: number };
};

/**
 * Each step's output as chunks with a per-step sequence number and byte offset. A
 * re-sent chunk (same attempt, step and seq) is ignored, so shipping can be retried.
 * The global chunk id orders everything and resumes live streams.
 */
export interface LogsPort {
  /** Stores a chunk and counts its bytes on its step; undefined when that seq was stored. */
  append(chunk: NewChunk): Promise<number | undefined>;
  /** Chunks after `afterId`, in order, optionally of one attempt and step. */
  read(options: {
    buildId: number;
    afterId: number;
    attemptId?: number;
    step?: number;
    limit: number;
  }): Promise<LogChunk[]>;
  /**
   * How much of one step's log is stored and where the next chunk goes: `raw` is where
   * the stored chunks end in the step's raw streams (where an adopted step resumes).
   */
  progress(
    attemptId: number,
    step: number,
  ): Promise<{ raw: { stdout: number; stderr: number }; nextSeq: number; size: number }>;
  /** Bytes stored for one step and whether its log reached the cap (durable). */
  stored(attemptId: number, step: number): Promise<{ bytes: number; truncated: boolean }>;
  /** Records that a step's log reached its cap: `stored` says so from now on. */
  markTruncated(attemptId: number, step: number): Promise<void>;
  /** Size of one step's stored log in bytes. */
  size(attemptId: number, step: number): Promise<number>;
  /** The chunks of one step's log that overlap the bytes [from, to), trimmed to it. */
  range(attemptId: number, step: number, from: number, to: number): Promise<LogChunk[]>;
  /** Finds `query` in one step's log (ASCII case-insensitive), in bounded memory. */
  search(attemptId: number, step: number, query: string, limit: number): Promise<LogSearchResult>;
  /** Total bytes stored, for metrics. */
  totalBytes(): Promise<number>;
}

// ── triggers ─────────────────────────────────────────────────────────────────────────

/**
 * Webhook deliveries already seen (a repeated delivery id queues nothing), the last fire
 * time of each schedule (no double fire across restarts), and small settings (`meta`).
 */
export interface TriggersPort {
  delivery(
    provider: string,
    id: string,
  ): Promise<{ job: string; buildId: number | null } | undefined>;
  /** Records a delivery (inside `tx` when given); false when it was recorded before. */
  recordDelivery(
    values: { provider: string; id: string; job: string; buildId: number | null; now: number },
    tx?: StoreTx,
  ): Promise<boolean>;
  lastFire(job: string, schedule: string): Promise<number | undefined>;
  setLastFire(job: string, schedule: string, at: number, tx?: StoreTx): Promise<void>;
  getMeta(key: string): Promise<string | undefined>;
  setMeta(key: string, value: string): Promise<void>;
}

// ── credentials ──────────────────────────────────────────────────────────────────────

/** A stored credential: its value sealed, with its kind, scope (JSON) and fingerprint. */
export type CredentialRow = Selectable<CredentialsTable>;

/**
 * Sealed credential values with their kind, scope and fingerprint. The store never sees
 * a value in clear: `src/credentials` seals and unseals them.
 */
export interface CredentialsPort {
  /** Every credential, by id. */
  list(): Promise<CredentialRow[]>;
  get(id: string): Promise<CredentialRow | undefined>;
  /**
   * Creates or replaces one credential in one transaction. A replacement keeps its
   * creation time and creator. True when it was created.
   */
  put(row: CredentialRow): Promise<boolean>;
  /** False when there was no such credential. */
  remove(id: string): Promise<boolean>;
  /**
   * Moves one row to another key, only if it is still sealed under `from.keyId` with the
   * same nonce (a concurrent replacement wins). True when the row was changed.
   */
  reseal(
    id: string,
    from: { keyId: string; nonce: Buffer },
    to: { ciphertext: Buffer; nonce: Buffer; keyId: string },
  ): Promise<boolean>;
}

// ── the store ───────────────────────────────────────────────────────────────────────

/** The store: its aggregates, its health, and its life. */
export interface Store {
  readonly jobs: JobsPort;
  readonly builds: BuildsPort;
  readonly logs: LogsPort;
  readonly triggers: TriggersPort;
  readonly credentials: CredentialsPort;
  /** Whether the store can be written and trusted; `health.start()` begins the periodic checks. */
  readonly health: StoreHealth;
  /** Throws when the store cannot answer a trivial query. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
