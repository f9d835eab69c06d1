/**
 * A trigger (API, CLI, webhook, schedule) becomes a durable build: the pipeline at the
 * commit is read and compiled once (`pipeline-at.ts`), the build and its job runs are
 * stored in one transaction (with the webhook delivery id), older builds of the same
 * branch or pull request are canceled when the job asks, and the DAG starts.
 */
import { compile } from '../../pipeline/compile.ts';
import type { Diagnostic } from '../../pipeline/diagnostics.ts';
import type { BuildContext, BuildEvent, Plan } from '../../pipeline/plan.ts';
import type { BuildRow, Job } from '../../store/ports.ts';
import type { CommitInfo } from '../../vcs/git.ts';
import { ControllerError } from '../api-error.ts';
import type { ControllerCore } from '../controller-core.ts';
import { kick } from '../dispatch/dispatcher.ts';
import { pipelineAt } from '../pipeline-at.ts';
import { cancel } from './cancel.ts';
import { advance } from './dag.ts';

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

export async function trigger(
  core: ControllerCore,
  request: TriggerRequest,
): Promise<TriggerResult> {
  const job = await core.store.jobs.get(request.job);
  if (!job) throw new ControllerError(404, 'job_not_found', `there is no job "${request.job}"`);
  if (request.delivery) {
    const seen = await core.store.triggers.delivery(request.delivery.provider, request.delivery.id);
    if (seen) return { kind: 'duplicate', buildId: seen.buildId };
  }
  const prepared = await prepare(core, job, request);
  if (prepared.kind === 'invalid-inputs') return prepared;
  if (prepared.kind === 'compiled' && !prepared.triggered) {
    if (request.delivery)
      await core.store.triggers.recordDelivery({
        ...request.delivery,
        job: job.name,
        buildId: null,
        now: core.now(),
      });
    return { kind: 'not-triggered', reason: prepared.reason };
  }
  const now = core.now();
  const plans = new Map<number, Plan | null>();
  const build = await core.store.builds.create(
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
        await core.store.triggers.recordDelivery(
          { ...request.delivery, job: job.name, buildId: build.id, now },
          tx,
        );
      return build;
    },
  );
  // Older builds are canceled after the commit, so the new build is durable first.
  if (job.cancelOlder && (build.branch !== null || build.pr !== null))
    await cancelOlder(core, build);
  await advance(core, build.id);
  core.events.emit('build', build.id);
  kick(core);
  return { kind: 'created', build: (await core.store.builds.build(build.id)) ?? build };
}

/**
 * Cancels the older running builds of the same branch, or of the same pull request. A
 * pull request is never a build of a branch: it neither cancels nor is canceled by one.
 */
async function cancelOlder(core: ControllerCore, build: BuildRow): Promise<void> {
  const isPr = build.event === 'pull_request';
  const older = await core.store.builds.list({ job: build.job, limit: 200 });
  for (const other of older)
    if (
      other.id < build.id &&
      (other.status === 'queued' || other.status === 'running') &&
      (isPr
        ? other.event === 'pull_request' && other.pr === build.pr
        : other.event !== 'pull_request' && other.branch === build.branch)
    )
      await cancel(
        core,
        other.id,
        `superseded by build #${build.number} ${isPr ? `of pull request #${build.pr}` : `on ${build.branch}`}`,
      );
}

async function prepare(
  core: ControllerCore,
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
  // A fork's commits live only under the forge's pull request ref: fetched when needed.
  const at = await pipelineAt(
    core.options.gitCacheDir,
    job,
    {
      ref: wanted,
      ...(pr ? { fetchRef: pr.ref } : {}),
      ...(request.sha ? { sha: request.sha } : {}),
    },
    { withCommit: true, context: (sha) => ({ ...base, sha }) },
  );
  if (at.kind === 'unreachable')
    return {
      kind: 'error',
      reason: `could not fetch ${job.repo} at ${wanted}: ${at.message}`,
      text: null,
      context: base,
      diagnostics: [],
    };
  const { sha, commit } = at;
  const context = { ...base, sha };
  if (at.kind === 'missing')
    return {
      kind: 'error',
      reason: `the commit ${sha.slice(0, 12)} has no ${job.pipelinePath}; add one, or set the job's pipeline path`,
      text: null,
      context,
      diagnostics: [],
      ...(commit ? { commit } : {}),
    };
  const { text, result } = at;
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
    : (core.options.credentials?.check({
        job: job.name,
        branch: context.branch,
        plan: result.plan,
        text,
        file: job.pipelinePath,
        isPlainSecret: (name) => core.secrets[name] !== undefined,
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
