/**
 * The tables of the store, as kysely types. Times are epoch milliseconds (integers) and
 * structured values are JSON text, so the same queries run on SQLite and PostgreSQL.
 */
import type { Generated } from 'kysely';
import type {
  AttemptStatus,
  BuildStatus,
  JobRunStatus,
  Outcome,
  StepStatus,
} from '../domain/status.ts';

export interface JobsTable {
  name: string;
  repo: string;
  /** JSON string[]: branch globs that webhooks and cron may build; [] means any. */
  branches: string;
  default_branch: string;
  pipeline_path: string;
  /** Most builds of this job running at once; null: no limit. */
  concurrency: number | null;
  /** 1: a new build on a branch cancels the older running one on the same branch. */
  cancel_older: number;
  /** JSON: [{cron, timezone, branch}] — schedules from the configuration. */
  schedules: string;
  /** Reference to the webhook secret (`env:NAME`, `file:PATH`) or null. */
  webhook_secret: string | null;
  /** 'config' (read-only through the API) or 'api'. */
  source: string;
  created_at: number;
  updated_at: number;
}

export interface BuildsTable {
  id: Generated<number>;
  job: string;
  number: number;
  status: BuildStatus;
  /** Why the build ended as it did (one sentence), or ''. */
  reason: string;
  cause: string;
  /** Who or what caused it: user, delivery id, cron expression. */
  cause_detail: string;
  event: string;
  branch: string | null;
  tag: string | null;
  pr: number | null;
  /** Pull requests: the branch it merges into. */
  pr_target_branch: string | null;
  /** Pull requests: the branch it comes from. */
  pr_head_branch: string | null;
  /** Pull requests: the repository it comes from (`owner/name`). */
  pr_head_repo: string | null;
  /** The ref built when it is neither a branch nor a tag (`refs/pull/7/head`). */
  ref: string | null;
  /** 'trusted', or 'untrusted' (a fork's pull request: no secrets, caches apart). */
  trust: Generated<string>;
  /** Why the build is untrusted, or null. */
  trust_reason: string | null;
  /** The commit's subject and body, read from git at trigger time. */
  commit_message: string | null;
  /** The commit's author, `Name <email>`. */
  commit_author: string | null;
  sha: string;
  /** JSON object of manual inputs. */
  inputs: string;
  /** JSON Diagnostic[] when the pipeline did not compile. */
  diagnostics: string;
  /** The pipeline source at that commit when it did not compile, for excerpts. */
  pipeline_text: string | null;
  /** 1 once a cancel was asked for: nothing new starts. */
  cancel_requested: number;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
}

export interface JobRunsTable {
  id: Generated<number>;
  build_id: number;
  /** The plan job id, e.g. `test (node: 20)`. */
  name: string;
  ordinal: number;
  stage: number;
  /** JSON string[] of the job-run names it needs. */
  needs: string;
  status: JobRunStatus;
  outcome: Outcome | null;
  reason: string;
  /** JSON PlanJob: what each attempt runs. */
  plan_job: string;
  labels: string;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
}

export interface AttemptsTable {
  id: Generated<number>;
  job_run_id: number;
  build_id: number;
  number: number;
  status: AttemptStatus;
  outcome: Outcome | null;
  reason: string;
  priority: number;
  agent: string | null;
  /** When the agent's claim ends unless renewed. */
  lease_until: number | null;
  /** Absolute end of the attempt (job timeout), stored so it holds across restarts. */
  deadline: number | null;
  cancel_requested: number;
  queued_at: number;
  started_at: number | null;
  finished_at: number | null;
}

export interface StepsTable {
  attempt_id: number;
  idx: number;
  name: string;
  status: StepStatus;
  outcome: Outcome | null;
  reason: string;
  exit_code: number | null;
  log_bytes: number;
  truncated: number;
  started_at: number | null;
  finished_at: number | null;
}

export interface LogChunksTable {
  /** Global order: the SSE event id, so a reconnecting client resumes exactly. */
  id: Generated<number>;
  build_id: number;
  attempt_id: number;
  step: number;
  /** Per step, from 0: a re-sent chunk with a known seq is ignored. */
  seq: number;
  /** Byte offset of this chunk in the step's log. */
  offset: number;
  stream: string;
  data: Uint8Array;
  /** When the controller stored it (epoch ms). */
  created_at: Generated<number>;
  /** Raw bytes of the step's stdout and stderr behind this chunk (null: not known). */
  raw_stdout: number | null;
  raw_stderr: number | null;
}

export interface DeliveriesTable {
  provider: string;
  delivery_id: string;
  job: string;
  build_id: number | null;
  received_at: number;
}

export interface CronFiresTable {
  job: string;
  schedule: string;
  /** The last scheduled time that fired (not the wall time it ran). */
  last_fire: number;
}

export interface MetaTable {
  key: string;
  value: string;
}

export interface Database {
  jobs: JobsTable;
  builds: BuildsTable;
  job_runs: JobRunsTable;
  attempts: AttemptsTable;
  steps: StepsTable;
  log_chunks: LogChunksTable;
  deliveries: DeliveriesTable;
  cron_fires: CronFiresTable;
  meta: MetaTable;
  credentials: CredentialsTable;
}

/** A stored credential: its value sealed (AES-256-GCM), never in clear (credentials/). */
export interface CredentialsTable {
  id: string;
  kind: string;
  /** JSON {jobs: string[], branches: string[]}; empty lists mean any. */
  scope: string;
  /** The sealed value with its GCM tag. */
  ciphertext: Buffer;
  nonce: Buffer;
  /** The id of the key it is sealed under (a rotation moves rows to the new one). */
  key_id: string;
  fingerprint: string;
  created_at: number;
  updated_at: number;
  /** Who created it (`admin` while there is only the admin token). */
  created_by: string;
}
