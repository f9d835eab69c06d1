/**
 * The HTTP API's one contract: a zod schema for every request (path parameters, query,
 * body) and every response of the controller. The server validates requests and checks
 * responses with them (src/server/api/*), the OpenAPI document at /api/v1/openapi.json is
 * generated from them, and the web UI and the CLI import the types inferred from them.
 *
 * This file holds the answers; requests.ts the path parameters, queries and bodies.
 * Imports nothing of the server, so the UI can import it (types only: the UI bundle does
 * not carry zod).
 */
import * as z from 'zod';
import { CREDENTIAL_KINDS } from './requests.ts';

// ---------------------------------------------------------------------------------------
// Shared shapes

/** The one error shape of every refusal; a 500 adds `requestId`, a 422 `diagnostics`. */
export const ErrorBody = z
  .looseObject({
    statusCode: z.int(),
    code: z.string().meta({ description: 'a code of docs/errors.md' }),
    error: z.string(),
    message: z.string(),
  })
  .meta({ id: 'Error' });

/** A problem in a pipeline file, with its position (src/pipeline/diagnostics.ts). */
export const Diagnostic = z
  .strictObject({
    severity: z.enum(['error', 'warning']),
    code: z.string(),
    message: z.string(),
    file: z.string(),
    line: z.int(),
    column: z.int(),
    endLine: z.int(),
    endColumn: z.int(),
    path: z.string(),
  })
  .meta({ id: 'Diagnostic' });

const epochMs = z.number().meta({ description: 'epoch milliseconds' });
const epochMsOrNull = epochMs.nullable();

/** A build as lists, events and triggers show it. */
export const Build = z
  .strictObject({
    id: z.int(),
    job: z.string(),
    number: z.int(),
    status: z.string(),
    reason: z.string(),
    cause: z.string(),
    causeDetail: z.string(),
    event: z.string(),
    branch: z.string().nullable(),
    tag: z.string().nullable(),
    pr: z.int().nullable(),
    prTargetBranch: z.string().nullable(),
    prHeadBranch: z.string().nullable(),
    prHeadRepo: z.string().nullable(),
    ref: z.string().nullable(),
    trust: z.string(),
    trustReason: z.string().nullable(),
    sha: z.string(),
    commitMessage: z.string().nullable(),
    commitAuthor: z.string().nullable(),
    inputs: z.record(z.string(), z.unknown()),
    createdAt: epochMs,
    startedAt: epochMsOrNull,
    finishedAt: epochMsOrNull,
  })
  .meta({ id: 'Build' });

export const Step = z.strictObject({
  index: z.int(),
  name: z.string(),
  status: z.string(),
  outcome: z.string().nullable(),
  reason: z.string(),
  exitCode: z.int().nullable(),
  logBytes: z.number(),
  truncated: z.boolean(),
  startedAt: epochMsOrNull,
  finishedAt: epochMsOrNull,
});

export const Attempt = z.strictObject({
  id: z.int(),
  number: z.int(),
  status: z.string(),
  outcome: z.string().nullable(),
  reason: z.string(),
  agent: z.string().nullable(),
  queuedAt: epochMs,
  startedAt: epochMsOrNull,
  finishedAt: epochMsOrNull,
  deadline: epochMsOrNull,
  steps: z.array(Step),
});

export const JobRun = z.strictObject({
  id: z.int(),
  name: z.string(),
  job: z.string(),
  matrix: z.record(z.string(), z.unknown()),
  stage: z.int(),
  needs: z.array(z.string()),
  status: z.string(),
  outcome: z.string().nullable(),
  reason: z.string(),
  labels: z.string(),
  startedAt: epochMsOrNull,
  finishedAt: epochMsOrNull,
  attempts: z.array(Attempt),
});

/** A build with its job runs, attempts and steps, and why its pipeline was refused. */
export const BuildDetail = z
  .strictObject({
    ...Build.shape,
    diagnostics: z.array(Diagnostic),
    pipelineText: z.string().nullable(),
    jobRuns: z.array(JobRun),
  })
  .meta({ id: 'BuildDetail' });

const Schedule = z.strictObject({
  cron: z.string(),
  timezone: z.string(),
  branch: z.string().nullable(),
});

export const Job = z
  .strictObject({
    name: z.string(),
    repo: z.string(),
    branch: z.string(),
    branches: z.array(z.string()),
    pipeline: z.string(),
    concurrency: z.int().nullable(),
    cancelOlder: z.boolean(),
    schedules: z.array(Schedule),
    webhookSecret: z.string().nullable(),
    source: z.enum(['config', 'api']),
    readOnly: z.boolean(),
  })
  .meta({ id: 'Job' });

export const JobWithLastBuild = z.strictObject({ ...Job.shape, lastBuild: Build.nullable() });

export const Input = z.strictObject({
  type: z.enum(['string', 'number', 'boolean', 'choice']),
  description: z.string(),
  required: z.boolean(),
  default: z.union([z.string(), z.number(), z.boolean()]).nullable(),
  options: z.array(z.string()),
});

export const ManualInputs = z.strictObject({
  branch: z.string(),
  sha: z.string(),
  inputs: z.record(z.string(), Input).nullable(),
  error: z.string().nullable(),
});

export const Branches = z.strictObject({ default: z.string(), branches: z.array(z.string()) });

export const QueueEntry = z.strictObject({
  attemptId: z.int(),
  buildId: z.int(),
  buildNumber: z.int(),
  job: z.string(),
  jobRun: z.string(),
  labels: z.string(),
  queuedAt: epochMs,
  waitingFor: z.string(),
});

export const Agent = z.strictObject({
  id: z.string(),
  name: z.string(),
  labels: z.array(z.string()),
  executors: z.int(),
  backend: z.string(),
  running: z.array(z.int()),
  runs: z.array(
    z.strictObject({
      attemptId: z.int(),
      buildId: z.int(),
      job: z.string(),
      buildNumber: z.int(),
      jobRun: z.string(),
    }),
  ),
  connectedAt: epochMs,
  lastSeen: epochMs,
});

export const Triggers = z.strictObject({
  schedules: z.array(z.strictObject({ ...Schedule.shape, job: z.string(), from: z.string() })),
  webhooks: z.array(z.string()),
});

const NameChanges = z.strictObject({
  added: z.array(z.string()),
  changed: z.array(z.string()),
  removed: z.array(z.string()),
});

export const ReloadResult = z.strictObject({ ...NameChanges.shape, secrets: NameChanges });

/** A window of one step's log (`?tail=` or `?from=&to=`). */
export const LogWindow = z.strictObject({
  from: z.int(),
  size: z.int(),
  lastId: z.int(),
  chunks: z.array(
    z.strictObject({
      id: z.int(),
      offset: z.int(),
      stream: z.string(),
      time: z.number(),
      b64: z.string(),
    }),
  ),
});

export const LogSearchResult = z.strictObject({
  matches: z.array(z.strictObject({ offset: z.int(), line: z.int(), lineStart: z.int() })),
  truncated: z.boolean(),
  scanned: z.int(),
  newlines: z.int(),
});

export const WebhookAnswer = z.union([
  z.strictObject({ queued: z.literal(true), build: Build }),
  z.strictObject({ queued: z.literal(false), reason: z.string(), buildId: z.int().nullable() }),
  z.strictObject({ queued: z.literal(false), reason: z.string() }),
]);

export const Health = z.strictObject({ status: z.literal('ok') });
export const Ready = z.strictObject({
  status: z.string(),
  reason: z.string().optional(),
  dispatch: z.string().optional(),
});

/** What anyone may see of a credential: never its value (src/credentials/vault.ts). */
export const Credential = z
  .strictObject({
    id: z.string(),
    kind: z.enum(CREDENTIAL_KINDS),
    scope: z.strictObject({ jobs: z.array(z.string()), branches: z.array(z.string()) }),
    fingerprint: z.string().meta({ description: 'sha256: and 16 hex digits of the value' }),
    keyId: z.string().meta({ description: 'the key its value is sealed under' }),
    createdAt: epochMs,
    updatedAt: epochMs,
    createdBy: z.string(),
  })
  .meta({ id: 'Credential' });

export const CredentialList = z.strictObject({ credentials: z.array(Credential) });

/** The answer of a key rotation: the current key, and how many values moved to it. */
export const KeyRotation = z.strictObject({ keyId: z.string(), resealed: z.int() });

/** A log event of the live log stream (`event: log`). */
export const LogEvent = z.strictObject({
  attempt: z.int(),
  step: z.int(),
  stream: z.string(),
  offset: z.int(),
  time: z.number(),
  b64: z.string(),
});

// ---------------------------------------------------------------------------------------
// Types for clients (the UI, the CLI)

export type ErrorBody = z.output<typeof ErrorBody>;
export type Diagnostic = z.output<typeof Diagnostic>;
export type Build = z.output<typeof Build>;
export type Step = z.output<typeof Step>;
export type Attempt = z.output<typeof Attempt>;
export type JobRun = z.output<typeof JobRun>;
export type BuildDetail = z.output<typeof BuildDetail>;
export type Job = z.output<typeof Job>;
export type JobWithLastBuild = z.output<typeof JobWithLastBuild>;
export type Input = z.output<typeof Input>;
export type ManualInputs = z.output<typeof ManualInputs>;
export type Branches = z.output<typeof Branches>;
export type QueueEntry = z.output<typeof QueueEntry>;
export type Agent = z.output<typeof Agent>;
export type Triggers = z.output<typeof Triggers>;
export type ReloadResult = z.output<typeof ReloadResult>;
export type LogWindow = z.output<typeof LogWindow>;
export type LogChunk = LogWindow['chunks'][number];
export type LogSearchResult = z.output<typeof LogSearchResult>;
export type LogEvent = z.output<typeof LogEvent>;
export type WebhookAnswer = z.output<typeof WebhookAnswer>;
export type Credential = z.output<typeof Credential>;
export type CredentialList = z.output<typeof CredentialList>;
export type KeyRotation = z.output<typeof KeyRotation>;
