/**
 * The controller's core: turns triggers into durable builds, walks each build's job DAG,
 * keeps the queue (attempts with status `queued` in the store), dispatches attempts to
 * agents by labels and capacity (pushed, never polled), stores what agents report, and
 * cancels and re-runs. It reaches agents only through the protocol.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { compile } from '../pipeline/compile.ts';
import type { Diagnostic } from '../pipeline/diagnostics.ts';
import { matchLabels, parseLabelExpression } from '../pipeline/labels.ts';
import type { BuildContext, BuildEvent, Plan, PlanInput, PlanJob } from '../pipeline/plan.ts';
import type { AgentLink, AgentMessage, Assignment, ControllerPort } from '../protocol/messages.ts';
import { decideJob, overallOutcome, type NeedResult } from '../runtime/decisions.ts';
import { failureClass, type Outcome } from '../runtime/outcome.ts';
import type { AttemptRow, BuildRow, JobRunRow } from '../store/builds.ts';
import { FINISHED, queuedAttempt } from '../store/builds.ts';
import { isStoreFailure, type StoreCondition } from '../store/health.ts';
import type { Store } from '../store/open.ts';
import type { Job } from '../store/jobs.ts';
import {
  commitInfo,
  fetchMirror,
  fetchRef,
  hasCommit,
  listBranches,
  readFileAt,
  resolveCommit,
  type CommitInfo,
} from '../vcs/git.ts';
import { WriteBacklog } from './write-backlog.ts';
import { ControllerError } from './api-error.ts';
import type { BuildCredentials } from '../credentials/build-secrets.ts';

export interface ControllerOptions {
  store: Store;
  /** Where the controller keeps its git mirrors. */
  gitCacheDir: string;
  /** Per-step log cap in bytes; output beyond it is dropped after a marker. */
  logCapBytes: number;
  graceMs: number;
  /** Upper bound of any job's timeout (limits.max_build_duration). */
  maxJobMs?: number;
  /** Secret values by name, given to the jobs that list them (`setSecrets` replaces them). */
  secrets: Readonly<Record<string, string>>;
  /** Stored credentials: checked against their scopes at trigger, given at dispatch. */
  credentials?: BuildCredentials;
  now?: () => number;
  /** Where failures that no caller can handle are told, with their context (the server's log). */
  log?: (line: string) => void;
  /**
   * This controller's id (stable, in its data directory): part of every pod and cache
   * name, so controllers sharing one engine never take each other's.
   */
  id?: string;
}

/** A pull or merge request, as its webhook tells it. */
export interface PullRequestTrigger {
  number: number;
  /** The branch it merges into. */
  targetBranch: string;
  /** The branch it comes from, in the head repository. */
  headBranch: string | null;
  /** The repository it comes from (`owner/name`). */
  headRepo: string | null;
  /** The forge's ref of its head: `refs/pull/N/head`, `refs/merge-requests/N/head`. */
  ref: string;
  /** Why its head is not the job's repository (a fork), or null when it is. */
  untrusted: string | null;
}

export interface TriggerRequest {
  job: string;
  cause: 'manual' | 'api' | 'webhook' | 'cron';
  causeDetail: string;
  event: BuildEvent;
  branch?: string | null;
  tag?: string | null;
  sha?: string | null;
  pr?: number | null;
  /** Pull requests: built at their forge ref, filed under no branch. */
  pullRequest?: PullRequestTrigger | null;
  inputs?: Record<string, string | number | boolean>;
  /** Webhook delivery to record in the same transaction as the build. */
  delivery?: { provider: string; id: string };
}

export type TriggerResult =
  | { kind: 'created'; build: BuildRow }
  | { kind: 'invalid-inputs'; diagnostics: Diagnostic[] }
  | { kind: 'not-triggered'; reason: string }
  | { kind: 'duplicate'; buildId: number | null };

/** Why a queued attempt waits. */
export interface QueueEntry {
  attemptId: number;
  buildId: number;
  /** The build's number in its job (`job #12`), what people call it. */
  buildNumber: number;
  job: string;
  jobRun: string;
  labels: string;
  queuedAt: number;
  waitingFor: string;
}

interface ConnectedAgent {
  link: AgentLink;
  running: Set<number>;
  connectedAt: number;
  lastSeen: number;
}

const LEASE_MS = 60_000;
const TRUNCATION_MARKER = (cap: number): Buffer =>
  Buffer.from(
    `\n[slipway: the log of this step reached its cap of ${Math.round(cap / 1048576)} MiB; further output is dropped, the step goes on]\n`,
  );

export function attemptStatus(outcome: string): string {
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
    default:
      return 'error';
  }
}

export class Controller implements ControllerPort {
  /** `build` (id) on any change of a build; `log` (build id, step) on new output; `queue`. */
  readonly events = new EventEmitter();
  private readonly agents = new Map<string, ConnectedAgent>();
  private readonly locks = new Map<number, Promise<unknown>>();
  /** Bytes stored per step (`attempt:step`), read from the store once: the cap is durable. */
  private readonly logBytes = new Map<string, number>();
  private readonly setupSeq = new Map<number, { seq: number; offset: number }>();
  /** The build of each attempt that is sending output. */
  private readonly attemptBuilds = new Map<number, number>();
  /** Attempts waiting for their agent to reconnect and adopt them, by agent id. */
  private readonly adoptions = new Map<string, number[]>();
  private draining = false;
  private dispatching: Promise<void> | undefined;
  private dispatchAgain = false;
  private readonly now: () => number;
  private secrets: Readonly<Record<string, string>>;
  /** Output lost and messages held while the store could not be written. */
  private readonly backlog: WriteBacklog;

  constructor(private readonly options: ControllerOptions) {
    this.now = options.now ?? Date.now;
    this.secrets = { ...options.secrets };
    this.events.setMaxListeners(0);
    this.backlog = new WriteBacklog(
      options.store,
      (agentId, message) => this.apply(agentId, message),
      (buildId, step) => this.events.emit('log', buildId, step),
      (context, error) => this.reportError(context, error),
    );
    options.store.health.onChange((condition) => this.storeChanged(condition));
  }

  /**
   * A failure no caller can handle (a dispatch round, a hand-over): told with its context,
   * never thrown into the void. Store failures are told once, when the store's condition
   * changes (storeChanged), not once per refused write.
   */
  private reportError(context: string, error: unknown): void {
    if (isStoreFailure(error)) return;
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
    (this.options.log ?? console.error)(`slipway: ${context} failed: ${text}`);
  }

  /** The store got worse or better: dispatch pauses or resumes, held writes are stored. */
  private storeChanged(condition: StoreCondition): void {
    const log = this.options.log ?? console.error;
    if (condition.state === 'ok') log('slipway: the store is fine again; dispatch resumes');
    else log(`slipway: store: ${condition.reason}`);
    if (condition.state === 'ok' || condition.state === 'low_disk') {
      void this.backlog
        .flush()
        .then(async (done) => {
          if (!done) return;
          // A trigger or cancel cut short by the failure left a build part-way: move each on.
          for (const build of await this.store.builds.unfinishedBuilds())
            await this.advance(build.id);
          this.kick();
        })
        .catch((error: unknown) => this.reportError('storing what waited for the store', error));
    }
    this.events.emit('queue');
  }

  /** Why no new attempt may start now (the store's condition), or null. */
  private dispatchPause(): string | null {
    const condition = this.store.health.condition();
    return condition.state === 'ok' ? null : `dispatch is paused: ${condition.reason}`;
  }

  /** Replaces the secret values (a reload); attempts dispatched from now on get the new ones. */
  setSecrets(secrets: Readonly<Record<string, string>>): void {
    this.secrets = { ...secrets };
  }

  get store(): Store {
    return this.options.store;
  }

  // ── triggers ──────────────────────────────────────────────────────────────────────

  async trigger(request: TriggerRequest): Promise<TriggerResult> {
    const job = await this.store.jobs.get(request.job);
    if (!job) throw new ControllerError(404, 'job_not_found', `there is no job "${request.job}"`);
    if (request.delivery) {
      const seen = await this.store.triggers.delivery(
        request.delivery.provider,
        request.delivery.id,
      );
      if (seen) return { kind: 'duplicate', buildId: seen.buildId };
    }
    const prepared = await this.prepare(job, request);
    if (prepared.kind === 'invalid-inputs') return prepared;
    if (prepared.kind === 'compiled' && !prepared.triggered) {
      if (request.delivery)
        await this.store.triggers.recordDelivery({
          ...request.delivery,
          job: job.name,
          buildId: null,
          now: this.now(),
        });
      return { kind: 'not-triggered', reason: prepared.reason };
    }
    const now = this.now();
    const plans = new Map<number, Plan | null>();
    const build = await this.store.builds.create(
      (number) => {
        const context = { ...prepared.context, number };
        let plan = plans.get(number);
        if (plan === undefined) {
          plan = prepared.kind === 'compiled' ? planWithNumber(prepared, job, context) : null;
          plans.set(number, plan);
        }
        const pr = request.pullRequest ?? null;
        return {
          build: {
            job: job.name,
            status: plan ? 'queued' : 'error',
            reason: plan
              ? ''
              : prepared.kind === 'error'
                ? prepared.reason
                : 'the pipeline is invalid',
            cause: request.cause,
            cause_detail: request.causeDetail,
            event: request.event,
            branch: context.branch,
            tag: context.tag,
            pr: context.pr,
            pr_target_branch: context.prTargetBranch ?? null,
            pr_head_branch: context.prHeadBranch ?? null,
            pr_head_repo: context.prHeadRepo ?? null,
            ref: context.ref ?? null,
            trust: pr?.untrusted ? 'untrusted' : 'trusted',
            trust_reason: pr?.untrusted ?? null,
            commit_message: prepared.commit?.message ?? null,
            commit_author: prepared.commit?.author ?? null,
            sha: context.sha,
            inputs: JSON.stringify(context.inputs),
            diagnostics: JSON.stringify(prepared.kind === 'error' ? prepared.diagnostics : []),
            pipeline_text: prepared.kind === 'error' ? prepared.text : null,
            cancel_requested: 0,
            created_at: now,
            started_at: null,
            finished_at: plan ? null : now,
          },
          jobRuns: (plan?.jobs ?? []).map((planJob, ordinal) => ({
            name: planJob.id,
            ordinal,
            stage: planJob.stage,
            needs: JSON.stringify(planJob.needs),
            status: 'waiting',
            outcome: null,
            reason: '',
            plan_job: JSON.stringify(planJob),
            labels: planJob.labels,
            created_at: now,
            started_at: null,
            finished_at: null,
          })),
        };
      },
      async (tx, build) => {
        if (request.delivery)
          await this.store.triggers.recordDelivery(
            { ...request.delivery, job: job.name, buildId: build.id, now },
            tx,
          );
        return build;
      },
    );
    // Older builds are canceled after the commit, so the new build is durable first.
    if (job.cancelOlder && (build.branch !== null || build.pr !== null))
      await this.cancelOlder(build);
    await this.advance(build.id);
    this.events.emit('build', build.id);
    this.kick();
    return { kind: 'created', build: (await this.store.builds.build(build.id)) ?? build };
  }

  /**
   * Cancels the older running builds of the same branch, or of the same pull request. A
   * pull request is never a build of a branch: it neither cancels nor is canceled by one.
   */
  private async cancelOlder(build: BuildRow): Promise<void> {
    const isPr = build.event === 'pull_request';
    const older = await this.store.builds.list({ job: build.job, limit: 200 });
    for (const other of older)
      if (
        other.id < build.id &&
        (other.status === 'queued' || other.status === 'running') &&
        (isPr
          ? other.event === 'pull_request' && other.pr === build.pr
          : other.event !== 'pull_request' && other.branch === build.branch)
      )
        await this.cancel(
          other.id,
          `superseded by build #${build.number} ${isPr ? `of pull request #${build.pr}` : `on ${build.branch}`}`,
        );
  }

  private async prepare(
    job: Job,
    request: TriggerRequest,
  ): Promise<
    | {
        kind: 'compiled';
        text: string;
        context: BuildContext;
        plan: Plan;
        triggered: boolean;
        reason: string;
        commit?: CommitInfo;
      }
    | { kind: 'invalid-inputs'; diagnostics: Diagnostic[] }
    | {
        kind: 'error';
        reason: string;
        text: string | null;
        context: BuildContext;
        diagnostics: Diagnostic[];
        commit?: CommitInfo;
      }
  > {
    const pr = request.pullRequest ?? null;
    // A pull request is filed under no branch: its target and head stand apart.
    const branch =
      request.tag || pr ? null : (request.branch ?? (request.sha ? null : job.defaultBranch));
    const base: BuildContext = {
      event: request.event,
      branch,
      tag: request.tag ?? null,
      sha: request.sha ?? '',
      pr: pr?.number ?? request.pr ?? null,
      number: 0,
      repo: job.repo,
      inputs: request.inputs ?? {},
      ...(pr
        ? {
            prTargetBranch: pr.targetBranch,
            prHeadBranch: pr.headBranch,
            prHeadRepo: pr.headRepo,
            ref: pr.ref,
          }
        : {}),
    };
    const wanted = request.sha ?? pr?.ref ?? request.tag ?? branch ?? job.defaultBranch;
    let mirror: string;
    let sha: string;
    try {
      mirror = await fetchMirror(this.options.gitCacheDir, job.repo);
      // A fork's commits live only under the forge's pull request ref: fetch it when needed.
      if (pr && !(request.sha && (await hasCommit(mirror, request.sha))))
        await fetchRef(mirror, pr.ref);
      sha = await resolveCommit(mirror, wanted);
    } catch (error) {
      return {
        kind: 'error',
        reason: `could not fetch ${job.repo} at ${wanted}: ${(error as Error).message}`,
        text: null,
        context: base,
        diagnostics: [],
      };
    }
    const context = { ...base, sha };
    // Two git reads at once: the commit's message and author do not lengthen the trigger.
    const [commit, text] = await Promise.all([
      commitInfo(mirror, sha),
      readFileAt(mirror, sha, job.pipelinePath),
    ]);
    if (text === undefined)
      return {
        kind: 'error',
        reason: `the commit ${sha.slice(0, 12)} has no ${job.pipelinePath}; add one, or set the job's pipeline path`,
        text: null,
        context,
        diagnostics: [],
        ...(commit ? { commit } : {}),
      };
    const result = compile(text, { file: job.pipelinePath, context });
    if (!result.plan) {
      const errors = result.diagnostics.filter((d) => d.severity === 'error');
      if (
        (request.cause === 'manual' || request.cause === 'api') &&
        errors.every((d) => d.code === 'invalid-input')
      )
        return { kind: 'invalid-inputs', diagnostics: errors };
      return {
        kind: 'error',
        reason: `${job.pipelinePath} at ${sha.slice(0, 12)} has ${errors.length} error${errors.length === 1 ? '' : 's'}`,
        text,
        context,
        diagnostics: result.diagnostics,
        ...(commit ? { commit } : {}),
      };
    }
    // Credentials outside their scope: the build is an error, never run with a missing value.
    const refused = pr?.untrusted
      ? []
      : (this.options.credentials?.check({
          job: job.name,
          branch: context.branch,
          plan: result.plan,
          text,
          file: job.pipelinePath,
          isPlainSecret: (name) => this.secrets[name] !== undefined,
        }) ?? []);
    if (refused.length > 0)
      return {
        kind: 'error',
        reason: `${refused.length === 1 ? 'a credential' : `${refused.length} credentials`} the pipeline names may not be used by this build: ${refused[0]!.message}`,
        text,
        context,
        diagnostics: [...result.diagnostics, ...refused],
        ...(commit ? { commit } : {}),
      };
    // Manual, API and schedule triggers were asked for by name; only webhooks are filtered by on:.
    const triggered = request.cause !== 'webhook' || result.plan.triggered;
    return {
      kind: 'compiled',
      text,
      plan: result.plan,
      context: { ...context, inputs: result.plan.context.inputs },
      triggered,
      reason: triggered ? '' : `the pipeline's on: does not include this ${request.event}`,
      ...(commit ? { commit } : {}),
    };
  }

  /** The branches of a job's repository (for the trigger form's branch chooser). */
  async branches(jobName: string): Promise<{ default: string; branches: string[] }> {
    const job = await this.store.jobs.get(jobName);
    if (!job) throw new ControllerError(404, 'job_not_found', `there is no job "${jobName}"`);
    const mirror = await fetchMirror(this.options.gitCacheDir, job.repo).catch((error: unknown) => {
      throw new ControllerError(
        502,
        'fetch_failed',
        `could not fetch ${job.repo}: ${(error as Error).message}`,
      );
    });
    return { default: job.defaultBranch, branches: await listBranches(mirror) };
  }

  /** What each connected agent runs, with the build and job run of each attempt. */
  async agentsDetail(): Promise<
    (ReturnType<Controller['listAgents']>[number] & {
      runs: {
        attemptId: number;
        buildId: number;
        job: string;
        buildNumber: number;
        jobRun: string;
      }[];
    })[]
  > {
    const out = [];
    for (const agent of this.listAgents()) {
      const runs = [];
      for (const attemptId of agent.running) {
        const attempt = await this.store.builds.attempt(attemptId);
        const run = attempt ? await this.store.builds.jobRun(attempt.job_run_id) : undefined;
        const build = attempt ? await this.store.builds.build(attempt.build_id) : undefined;
        if (attempt && run && build)
          runs.push({
            attemptId,
            buildId: attempt.build_id,
            job: build.job,
            buildNumber: build.number,
            jobRun: run.name,
          });
      }
      out.push({ ...agent, runs });
    }
    return out;
  }

  /** The manual inputs a job's pipeline declares at the head of a branch (for trigger forms). */
  async manualInputs(
    jobName: string,
    branch?: string,
  ): Promise<{
    branch: string;
    sha: string;
    inputs: Record<string, PlanInput> | null;
    error: string | null;
  }> {
    const job = await this.store.jobs.get(jobName);
    if (!job) throw new ControllerError(404, 'job_not_found', `there is no job "${jobName}"`);
    const ref = branch ?? job.defaultBranch;
    const mirror = await fetchMirror(this.options.gitCacheDir, job.repo).catch((error: unknown) => {
      throw new ControllerError(
        502,
        'fetch_failed',
        `could not fetch ${job.repo}: ${(error as Error).message}`,
      );
    });
    const sha = await resolveCommit(mirror, ref).catch(() => {
      throw new ControllerError(404, 'branch_not_found', `the repository has no branch "${ref}"`);
    });
    const text = await readFileAt(mirror, sha, job.pipelinePath);
    if (text === undefined)
      return {
        branch: ref,
        sha,
        inputs: null,
        error: `no ${job.pipelinePath} at ${sha.slice(0, 12)}`,
      };
    const result = compile(text, {
      file: job.pipelinePath,
      context: { event: 'push', branch: ref, sha },
    });
    const errors = result.diagnostics.filter(
      (d) => d.severity === 'error' && d.code !== 'invalid-input',
    );
    if (errors.length > 0)
      return {
        branch: ref,
        sha,
        inputs: null,
        error: `${job.pipelinePath} has errors: ${errors[0]!.message}`,
      };
    return { branch: ref, sha, inputs: result.plan?.triggers.manual?.inputs ?? {}, error: null };
  }

  // ── the DAG of a build ────────────────────────────────────────────────────────────

  private withBuild<T>(buildId: number, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(buildId) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(fn);
    this.locks.set(buildId, next);
    // The caller handles next's failure; this clean-up must not leave a rejection unhandled.
    const release = (): void => {
      if (this.locks.get(buildId) === next) this.locks.delete(buildId);
    };
    next.then(release, release);
    return next;
  }

  /** Starts what can start, skips what cannot run, and finishes the build when all ended. */
  advance(buildId: number): Promise<void> {
    return this.withBuild(buildId, () => this.advanceLocked(buildId));
  }

  private async advanceLocked(buildId: number): Promise<void> {
    const builds = this.store.builds;
    const build = await builds.build(buildId);
    if (!build || FINISHED.has(build.status)) return;
    const now = this.now();
    for (let changed = true; changed;) {
      changed = false;
      const runs = await builds.jobRuns(buildId);
      const results = new Map<string, NeedResult>();
      for (const run of runs)
        if (FINISHED.has(run.status))
          results.set(run.name, {
            outcome: (run.outcome ?? 'skipped') as Outcome,
            allowedFailure: planOf(run).allowFailure && run.outcome !== 'success',
          });
      for (const run of runs.filter((r) => r.status === 'waiting')) {
        const decision = decideJob(planOf(run), results, build.cancel_requested === 1);
        if (decision === 'wait') continue;
        changed = true;
        if (decision === 'run') {
          const previous = (await builds.attempts(buildId)).filter((a) => a.job_run_id === run.id);
          await builds.transaction(async (tx) => {
            await builds.addAttempt(
              queuedAttempt({
                jobRunId: run.id,
                buildId,
                number: previous.length + 1,
                queuedAt: now,
              }),
              tx,
            );
            await builds.updateJobRun(run.id, { status: 'queued', outcome: null, reason: '' }, tx);
          });
        } else {
          const outcome = decision.outcome ?? 'skipped';
          await builds.updateJobRun(run.id, {
            status: outcome === 'skipped' ? 'skipped' : attemptStatus(outcome),
            outcome,
            reason: decision.skip,
            finished_at: now,
          });
        }
      }
    }
    const runs = await builds.jobRuns(buildId);
    if (runs.every((r) => FINISHED.has(r.status))) {
      const outcome = overallOutcome(
        runs.map((r) => ({
          outcome: (r.outcome ?? 'skipped') as Outcome,
          allowedFailure: planOf(r).allowFailure && r.outcome !== 'success',
        })),
        build.cancel_requested === 1,
      );
      const failing = runs.find((r) => r.outcome === outcome && outcome !== 'success');
      await builds.updateBuild(buildId, {
        status: attemptStatus(outcome),
        reason:
          outcome === 'success'
            ? ''
            : build.cancel_requested === 1
              ? build.reason || 'canceled'
              : failing
                ? `${failing.name}: ${failing.reason}`
                : outcome,
        finished_at: now,
      });
    } else if (runs.some((r) => r.status === 'running') && build.status === 'queued') {
      await builds.updateBuild(buildId, { status: 'running', started_at: build.started_at ?? now });
    }
    this.events.emit('build', buildId);
  }

  // ── agents and dispatch (ControllerPort) ──────────────────────────────────────────

  connect(link: AgentLink): void {
    const now = this.now();
    const agent: ConnectedAgent = { link, running: new Set(), connectedAt: now, lastSeen: now };
    this.agents.set(link.info.id, agent);
    void this.handOver(agent)
      .catch((error: unknown) =>
        this.reportError(`handing attempts over to ${link.info.id}`, error),
      )
      .finally(() => this.kick());
  }

  disconnect(agentId: string): void {
    this.agents.delete(agentId);
  }

  listAgents(): {
    id: string;
    name: string;
    labels: string[];
    executors: number;
    backend: string;
    running: number[];
    connectedAt: number;
    lastSeen: number;
  }[] {
    return [...this.agents.values()].map((a) => ({
      ...a.link.info,
      running: [...a.running],
      connectedAt: a.connectedAt,
      lastSeen: a.lastSeen,
    }));
  }

  /** Asks for a dispatch round; rounds never overlap. */
  kick(): void {
    if (this.dispatching) {
      this.dispatchAgain = true;
      return;
    }
    this.dispatching = (async () => {
      do {
        this.dispatchAgain = false;
        try {
          await this.dispatchRound();
        } catch (error) {
          this.reportError('a dispatch round', error);
        }
      } while (this.dispatchAgain);
    })().finally(() => (this.dispatching = undefined));
  }

  /** Resolves when no dispatch round is running. */
  async settled(): Promise<void> {
    while (this.dispatching) await this.dispatching;
  }

  setDraining(draining: boolean): void {
    this.draining = draining;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  private async dispatchRound(): Promise<void> {
    if (this.draining) return;
    // Space can run short between the periodic checks: a round looks again first (statfs).
    await this.store.health.check();
    if (this.dispatchPause() !== null) return;
    const queued = await this.store.builds.queued();
    if (queued.length === 0) return;
    const jobs = new Map((await this.store.jobs.list()).map((j) => [j.name, j]));
    const runningBuilds = await this.runningBuildsIfLimited(jobs);
    for (const entry of queued) {
      // No free executor anywhere: the rest of the queue waits for the next round.
      if (![...this.agents.values()].some((a) => a.running.size < a.link.info.executors)) break;
      const reason = this.blocker(entry, jobs.get(entry.job), runningBuilds);
      if (reason !== null) continue;
      const agent = this.matchAgent(entry.labels);
      if (!agent) continue;
      const run = await this.store.builds.jobRun(entry.job_run_id);
      const build = await this.store.builds.build(entry.build_id);
      const job = jobs.get(entry.job);
      if (!run || !build || !job) continue;
      const planJob = planOf(run);
      planJob.timeoutMs = Math.min(planJob.timeoutMs, this.options.maxJobMs ?? Infinity);
      const now = this.now();
      const deadline = now + planJob.timeoutMs;
      if (
        !(await this.store.builds.claim(
          entry.id,
          agent.link.info.id,
          now,
          now + LEASE_MS,
          deadline,
        ))
      )
        continue;
      agent.running.add(entry.id);
      try {
        await this.store.builds.updateJobRun(run.id, {
          status: 'running',
          started_at: run.started_at ?? now,
        });
        if (build.status === 'queued') {
          await this.store.builds.updateBuild(build.id, { status: 'running', started_at: now });
          build.status = 'running';
          runningBuilds.push(build);
        }
      } catch (error) {
        // The attempt is claimed: it must reach its agent, or it would hold the executor
        // for ever. Its ending settles the job run and the build.
        this.reportError(`marking build ${build.id} running`, error);
      }
      agent.link.send({
        type: 'assign',
        assignment: this.assignmentFor(entry, build, job, planJob, deadline),
      });
      this.events.emit('build', build.id);
      this.events.emit('queue');
    }
  }

  /** Running builds, read only when some job has a concurrency limit (it is the only use). */
  private async runningBuildsIfLimited(jobs: ReadonlyMap<string, Job>): Promise<BuildRow[]> {
    if (![...jobs.values()].some((j) => j.concurrency !== null)) return [];
    return this.store.builds.list({ status: 'running', limit: 10_000 });
  }

  /**
   * What an agent needs to run (or adopt) one attempt: only the secrets its job names, and
   * none at all for an untrusted build, whose caches live in a scope of its pull request.
   */
  private assignmentFor(
    attempt: Pick<AttemptRow, 'id' | 'number'>,
    build: BuildRow,
    job: Job,
    plan: PlanJob,
    deadline: number,
  ): Assignment {
    const untrusted = build.trust === 'untrusted';
    const secrets: Record<string, string> = {};
    if (!untrusted)
      for (const name of plan.secrets) {
        const value = this.secrets[name];
        if (value !== undefined) secrets[name] = value;
      }
    const credentials = untrusted
      ? undefined
      : this.options.credentials?.values(
          job.name,
          build.branch,
          plan.secrets.filter((name) => secrets[name] === undefined),
        );
    if (credentials) Object.assign(secrets, credentials.secrets);
    return {
      attemptId: attempt.id,
      buildId: build.id,
      runId: runIdOf(build, this.options.id),
      attempt: attempt.number,
      job: plan,
      context: contextOf(build, job),
      repo: { url: job.repo, sha: build.sha, ...(build.ref ? { ref: build.ref } : {}) },
      secrets,
      ...(credentials?.masks.length ? { masks: credentials.masks } : {}),
      ...(untrusted
        ? { untrusted: build.trust_reason ?? "the build comes from outside the job's repository" }
        : {}),
      cacheScope: untrusted
        ? `${cacheScopeOf(job.name, this.options.id)}:untrusted-pr-${build.pr ?? 0}`
        : cacheScopeOf(job.name, this.options.id),
      deadline,
      graceMs: this.options.graceMs,
    };
  }

  /** Why a queued attempt cannot start for reasons other than agents, or null. */
  private blocker(
    entry: { build_id: number; job: string },
    job: Job | undefined,
    runningBuilds: readonly BuildRow[],
  ): string | null {
    if (!job) return `the job ${entry.job} was deleted`;
    if (job.concurrency !== null) {
      const others = runningBuilds.filter((b) => b.job === job.name && b.id !== entry.build_id);
      if (others.length >= job.concurrency && !runningBuilds.some((b) => b.id === entry.build_id))
        return `concurrency limit: ${job.concurrency} build${job.concurrency === 1 ? '' : 's'} of ${job.name} already running`;
    }
    return null;
  }

  private matchAgent(labels: string): ConnectedAgent | undefined {
    const candidates = [...this.agents.values()].filter((a) => this.labelsMatch(labels, a));
    return candidates
      .filter((a) => a.running.size < a.link.info.executors)
      .sort((a, b) => a.running.size - b.running.size)[0];
  }

  private labelsMatch(labels: string, agent: ConnectedAgent): boolean {
    if (labels === '') return true;
    const parsed = parseLabelExpression(labels);
    return 'expr' in parsed ? matchLabels(parsed.expr, new Set(agent.link.info.labels)) : false;
  }

  /** The queue with the reason each attempt waits. */
  async queue(): Promise<QueueEntry[]> {
    const queued = await this.store.builds.queued();
    const jobs = new Map((await this.store.jobs.list()).map((j) => [j.name, j]));
    const runningBuilds = await this.runningBuildsIfLimited(jobs);
    const paused = this.dispatchPause();
    return queued.map((entry) => {
      let waitingFor = paused ?? this.blocker(entry, jobs.get(entry.job), runningBuilds);
      if (waitingFor === null) {
        const matching = [...this.agents.values()].filter((a) => this.labelsMatch(entry.labels, a));
        waitingFor =
          matching.length === 0
            ? `no agent offers the labels ${entry.labels === '' ? '(any)' : entry.labels}`
            : matching.every((a) => a.running.size >= a.link.info.executors)
              ? 'no free executor on the matching agents'
              : this.draining
                ? 'the controller is stopping'
                : 'being dispatched';
      }
      return {
        attemptId: entry.id,
        buildId: entry.build_id,
        buildNumber: entry.build_number,
        job: entry.job,
        jobRun: entry.name,
        labels: entry.labels,
        queuedAt: Number(entry.queued_at),
        waitingFor,
      };
    });
  }

  async receive(agentId: string, message: AgentMessage): Promise<void> {
    const agent = this.agents.get(agentId);
    if (agent) agent.lastSeen = this.now();
    if (message.type === 'log') {
      // The hot path: output does not read the attempt back for every chunk.
      let buildId = this.attemptBuilds.get(message.attemptId);
      if (buildId === undefined) {
        buildId = (await this.store.builds.attempt(message.attemptId))?.build_id;
        if (buildId === undefined) return;
        this.attemptBuilds.set(message.attemptId, buildId);
      }
      await this.storeLog({ id: message.attemptId, build_id: buildId }, message).catch(
        (error: unknown) => {
          this.reportError(`storing output of attempt ${message.attemptId}`, error);
          throw error;
        },
      );
      return;
    }
    // An earlier message of this attempt waits for the store: this one waits behind it.
    if (this.backlog.queueBehind(agentId, message)) return;
    try {
      await this.apply(agentId, message);
    } catch (error) {
      if (!isStoreFailure(error)) {
        this.reportError(`storing ${message.type} of attempt ${message.attemptId}`, error);
        throw error;
      }
      // The store cannot take it now (a full disk): kept in order, stored when it recovers.
      this.backlog.hold(agentId, message);
    }
  }

  /** Stores one agent message other than output. */
  private async apply(
    agentId: string,
    message: Exclude<AgentMessage, { type: 'log' }>,
  ): Promise<void> {
    const agent = this.agents.get(agentId);
    const attempt = await this.store.builds.attempt(message.attemptId);
    if (!attempt) return;
    const builds = this.store.builds;
    switch (message.type) {
      case 'attempt.started':
        return;
      case 'progress': {
        // After a restart the set-up log continues where the stored one ends.
        const stored = this.setupSeq.has(attempt.id)
          ? undefined
          : await this.store.logs.progress(attempt.id, -1);
        const position = this.setupSeq.get(attempt.id) ?? {
          seq: stored?.nextSeq ?? 0,
          offset: stored?.size ?? 0,
        };
        this.setupSeq.set(attempt.id, position);
        const data = Buffer.from(`${message.message}\n`);
        await this.store.logs.append({
          buildId: attempt.build_id,
          attemptId: attempt.id,
          step: -1,
          seq: position.seq++,
          offset: position.offset,
          stream: 'stdout',
          data,
        });
        position.offset += data.length;
        this.events.emit('log', attempt.build_id, -1);
        return;
      }
      case 'step.started':
        await builds.putStep({
          attempt_id: attempt.id,
          idx: message.step,
          name: message.name,
          status: 'running',
          outcome: null,
          reason: '',
          exit_code: null,
          log_bytes: 0,
          truncated: 0,
          started_at: message.time,
          finished_at: null,
        });
        this.events.emit('build', attempt.build_id);
        return;
      case 'step.finished':
        await builds.putStep({
          attempt_id: attempt.id,
          idx: message.step,
          name: message.name,
          status: attemptStatus(message.outcome),
          outcome: message.outcome,
          reason: message.reason,
          exit_code: message.exitCode,
          log_bytes: 0,
          truncated: 0,
          started_at: null,
          finished_at: message.time,
        });
        await builds.updateAttempt(attempt.id, { lease_until: this.now() + LEASE_MS });
        this.events.emit('build', attempt.build_id);
        return;
      case 'attempt.finished':
        if (agent) agent.running.delete(attempt.id);
        this.setupSeq.delete(attempt.id);
        this.attemptBuilds.delete(attempt.id);
        await this.finishAttempt(attempt.id, message.outcome, message.reason);
        this.kick();
        return;
    }
  }

  private async storeLog(
    attempt: Pick<AttemptRow, 'id' | 'build_id'>,
    message: Extract<AgentMessage, { type: 'log' }>,
  ): Promise<void> {
    const key = `${attempt.id}:${message.step}`;
    const cap = this.options.logCapBytes;
    let stored = this.logBytes.get(key);
    if (stored === undefined) {
      // First output of this step in this process: count what earlier processes stored.
      const before = await this.store.logs.stored(attempt.id, message.step);
      stored = before.truncated ? cap : before.bytes;
      this.logBytes.set(key, stored);
    }
    if (stored >= cap) return;
    let data = message.data;
    let truncated = false;
    if (stored + data.length > cap) {
      data = Buffer.concat([data.subarray(0, cap - stored), TRUNCATION_MARKER(cap)]);
      truncated = true;
    }
    // Output lost while the store failed is marked before anything after it is stored.
    if (
      this.backlog.hasLost(attempt.id, message.step) &&
      !(await this.backlog.mark(attempt.id, message.step))
    ) {
      this.backlog.lose(attempt.build_id, message, undefined);
      return;
    }
    let id: number | undefined;
    try {
      id = await this.store.logs.append({
        buildId: attempt.build_id,
        attemptId: attempt.id,
        step: message.step,
        seq: message.seq,
        offset: message.offset,
        stream: message.stream,
        data,
        ...(message.raw ? { raw: message.raw } : {}),
      });
    } catch (error) {
      if (!isStoreFailure(error)) throw error;
      this.backlog.lose(attempt.build_id, message, error);
      return;
    }
    if (id === undefined) return;
    this.logBytes.set(key, truncated ? cap : stored + data.length);
    if (truncated)
      await this.store.db
        .updateTable('steps')
        .set({ truncated: 1 })
        .where('attempt_id', '=', attempt.id)
        .where('idx', '=', message.step)
        .execute();
    this.events.emit('log', attempt.build_id, message.step);
  }

  /** Records an attempt's ending, retries it when `retry.on` says so, and moves the DAG on. */
  async finishAttempt(attemptId: number, outcome: string, reason: string): Promise<void> {
    const attempt = await this.store.builds.attempt(attemptId);
    if (!attempt) return;
    await this.withBuild(attempt.build_id, async () => {
      const builds = this.store.builds;
      const current = await builds.attempt(attemptId);
      if (!current || FINISHED.has(current.status)) return;
      const run = await builds.jobRun(current.job_run_id);
      const build = await builds.build(current.build_id);
      if (!run || !build) return;
      const now = this.now();
      for (const key of [...this.logBytes.keys()])
        if (key.startsWith(`${attemptId}:`)) this.logBytes.delete(key);
      await builds.updateAttempt(attemptId, {
        status: attemptStatus(outcome),
        outcome,
        reason,
        finished_at: now,
        lease_until: null,
      });
      // A step the attempt did not see end (its pod was gone, the agent was lost) ends with it.
      await builds.endRunningSteps(attemptId, {
        status: attemptStatus(outcome),
        outcome,
        reason: `the attempt ended before this step did: ${reason}`,
        finishedAt: now,
      });
      const plan = planOf(run);
      const cls = failureClass(outcome as Outcome);
      const retry =
        cls !== null &&
        plan.retry.on.includes(cls) &&
        current.number <= plan.retry.max &&
        build.cancel_requested === 0 &&
        current.cancel_requested === 0;
      if (retry) {
        await builds.updateJobRun(run.id, { status: 'waiting', reason: `retrying: ${reason}` });
      } else {
        await builds.updateJobRun(run.id, {
          status: attemptStatus(outcome),
          outcome,
          reason,
          finished_at: now,
        });
      }
      await this.advanceLocked(build.id);
    });
    this.events.emit('queue');
  }

  // ── cancel and re-run ─────────────────────────────────────────────────────────────

  async cancel(buildId: number, reason = 'canceled by a user'): Promise<BuildRow> {
    const build = await this.store.builds.build(buildId);
    if (!build) throw new ControllerError(404, 'build_not_found', `there is no build ${buildId}`);
    if (FINISHED.has(build.status)) return build;
    const running: AttemptRow[] = [];
    await this.withBuild(buildId, async () => {
      const builds = this.store.builds;
      await builds.updateBuild(buildId, { cancel_requested: 1, reason });
      for (const attempt of await builds.attempts(buildId)) {
        if (attempt.status === 'queued') {
          await builds.updateAttempt(attempt.id, {
            status: 'canceled',
            outcome: 'canceled',
            reason,
            finished_at: this.now(),
          });
          await builds.updateJobRun(attempt.job_run_id, {
            status: 'canceled',
            outcome: 'canceled',
            reason,
            finished_at: this.now(),
          });
        } else if (attempt.status === 'running') {
          await builds.updateAttempt(attempt.id, { cancel_requested: 1 });
          running.push(attempt);
        }
      }
      await this.advanceLocked(buildId);
    });
    for (const attempt of running) {
      const agent = attempt.agent ? this.agents.get(attempt.agent) : undefined;
      if (agent) agent.link.send({ type: 'cancel', attemptId: attempt.id, reason });
      else await this.finishAttempt(attempt.id, 'canceled', reason);
    }
    this.events.emit('queue');
    return (await this.store.builds.build(buildId))!;
  }

  /** New attempts for every job run (or only those that did not succeed); old ones stay. */
  async rerun(buildId: number, failedOnly: boolean): Promise<BuildRow> {
    const build = await this.store.builds.build(buildId);
    if (!build) throw new ControllerError(404, 'build_not_found', `there is no build ${buildId}`);
    if (!FINISHED.has(build.status))
      throw new ControllerError(
        409,
        'build_running',
        `build ${buildId} is still ${build.status}; cancel it or wait`,
      );
    const runs = await this.store.builds.jobRuns(buildId);
    if (runs.length === 0)
      throw new ControllerError(
        409,
        'nothing_to_rerun',
        `build ${buildId} has no jobs (${build.reason}); trigger a new build`,
      );
    await this.withBuild(buildId, async () => {
      const builds = this.store.builds;
      await builds.transaction(async (tx) => {
        for (const run of runs)
          if (!failedOnly || run.outcome !== 'success')
            await builds.updateJobRun(
              run.id,
              { status: 'waiting', outcome: null, reason: '', finished_at: null },
              tx,
            );
        await builds.updateBuild(
          buildId,
          { status: 'queued', reason: '', cancel_requested: 0, finished_at: null },
          tx,
        );
      });
      await this.advanceLocked(buildId);
    });
    this.kick();
    return (await this.store.builds.build(buildId))!;
  }

  // ── restart ───────────────────────────────────────────────────────────────────────

  /**
   * After a restart. Attempts that were running on `adoptingAgent` (this controller's
   * embedded agent, whose pods outlive the process) wait for that agent to connect and
   * are handed to it to adopt: it re-attaches to the pod by its labels and finishes the
   * attempt from where the store says it was, the log continuing at the stored offsets.
   * Attempts of other agents end `error: controller_lost` and follow their retry rules.
   * Queued attempts stay queued and run once. Returns the attempts to adopt.
   */
  async recover(
    adoptingAgent?: string,
  ): Promise<{ runId: string; jobId: string; attempt: number }[]> {
    const adopt: { runId: string; jobId: string; attempt: number }[] = [];
    for (const attempt of await this.store.builds.running()) {
      const run = await this.store.builds.jobRun(attempt.job_run_id);
      const build = await this.store.builds.build(attempt.build_id);
      if (adoptingAgent && attempt.agent === adoptingAgent && run && build) {
        const list = this.adoptions.get(adoptingAgent) ?? [];
        list.push(attempt.id);
        this.adoptions.set(adoptingAgent, list);
        adopt.push({
          runId: runIdOf(build, this.options.id),
          jobId: run.name,
          attempt: attempt.number,
        });
        continue;
      }
      await this.finishAttempt(
        attempt.id,
        'infra_error',
        'controller_lost: the controller stopped while this attempt ran; its pod was removed',
      );
    }
    for (const build of await this.store.builds.unfinishedBuilds()) await this.advance(build.id);
    this.kick();
    return adopt;
  }

  /** Sends an agent the attempts it ran before the restart, with where each continues. */
  private async handOver(agent: ConnectedAgent): Promise<void> {
    const ids = this.adoptions.get(agent.link.info.id) ?? [];
    this.adoptions.delete(agent.link.info.id);
    for (const attemptId of ids) {
      const attempt = await this.store.builds.attempt(attemptId);
      const run = attempt ? await this.store.builds.jobRun(attempt.job_run_id) : undefined;
      const build = attempt ? await this.store.builds.build(attempt.build_id) : undefined;
      const job = build ? await this.store.jobs.get(build.job) : undefined;
      if (!attempt || !run || !build || !job || attempt.status !== 'running') continue;
      const plan = planOf(run);
      const steps = await this.store.builds.steps([attempt.id]);
      const current = steps.find((st) => st.status === 'running');
      const step = current ? current.idx : steps.reduce((max, st) => Math.max(max, st.idx + 1), 0);
      const progress = await this.store.logs.progress(attempt.id, step);
      const previousFailed = steps.some(
        (st) =>
          st.idx < step &&
          st.outcome !== null &&
          st.outcome !== 'success' &&
          st.outcome !== 'skipped' &&
          !plan.steps[st.idx]?.allowFailure,
      );
      const succeededBefore = steps.filter(
        (st) => st.idx < step && st.outcome === 'success',
      ).length;
      agent.running.add(attempt.id);
      agent.link.send({
        type: 'adopt',
        assignment: this.assignmentFor(
          attempt,
          build,
          job,
          plan,
          Number(attempt.deadline ?? this.now() + plan.timeoutMs),
        ),
        resume: {
          step,
          mode: current ? 'follow' : 'start',
          offsets: progress.raw,
          seq: progress.nextSeq,
          offset: progress.size,
          previousFailed,
          succeededBefore,
        },
      });
    }
  }

  /** Builds with their job runs, attempts and steps, for the API. */
  async buildDetail(buildId: number): Promise<BuildDetail | undefined> {
    const build = await this.store.builds.build(buildId);
    if (!build) return undefined;
    const runs = await this.store.builds.jobRuns(buildId);
    const attempts = await this.store.builds.attempts(buildId);
    const steps = await this.store.builds.steps(attempts.map((a) => a.id));
    return { build, runs, attempts, steps };
  }
}

export interface BuildDetail {
  build: BuildRow;
  runs: JobRunRow[];
  attempts: AttemptRow[];
  steps: Awaited<ReturnType<Store['builds']['steps']>>;
}

/**
 * The plan of a new build. Compiling is the trigger's largest CPU cost, and the plan
 * depends on the build's number only where the pipeline names it (`build.number`): when
 * its text does not, the plan compiled to check the trigger is the build's.
 */
function planWithNumber(
  prepared: { text: string; plan: Plan },
  job: Pick<Job, 'pipelinePath'>,
  context: BuildContext,
): Plan | null {
  if (!/number/i.test(prepared.text)) return { ...prepared.plan, context };
  return compile(prepared.text, { file: job.pipelinePath, context }).plan;
}

export function planOf(run: JobRunRow): PlanJob {
  return JSON.parse(run.plan_job) as PlanJob;
}

export function contextOf(build: BuildRow, job: Pick<Job, 'repo'>): BuildContext {
  return {
    event: build.event as BuildEvent,
    branch: build.branch,
    tag: build.tag,
    sha: build.sha,
    pr: build.pr,
    number: build.number,
    repo: job.repo,
    inputs: JSON.parse(build.inputs) as BuildContext['inputs'],
    ...(build.event === 'pull_request'
      ? {
          prTargetBranch: build.pr_target_branch,
          prHeadBranch: build.pr_head_branch,
          prHeadRepo: build.pr_head_repo,
        }
      : {}),
    ...(build.ref ? { ref: build.ref } : {}),
  };
}

/**
 * The run id of a build: names its pods, so an adopting agent finds them again. It
 * carries the controller's id (two controllers on one engine never share a name) and
 * the job's name as a readable slug plus a hash of the exact name (`a.x` and `a_x` have
 * the same slug): `<controller>-<slug>-<hash>-<number>`.
 */
export function runIdOf(build: Pick<BuildRow, 'job' | 'number'>, controllerId?: string): string {
  const job = `${slug(build.job)}-${shortHash(build.job)}`;
  return `${controllerId ? `${controllerId}-` : ''}${job}-${build.number}`;
}

/** Whose caches a job's builds use: this controller's, of exactly this job. */
export function cacheScopeOf(job: string, controllerId?: string): string {
  return controllerId ? `controller:${controllerId}/job:${job}` : `job:${job}`;
}

function slug(text: string): string {
  return (
    text
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '')
      .slice(0, 20) || 'job'
  );
}

function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 6);
}
