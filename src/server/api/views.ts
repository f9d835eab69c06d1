/**
 * Store rows as the API shows them. The shapes are the contract's (src/api/schemas.ts):
 * the return types are inferred from the schemas, so a field the contract lacks, or one
 * of the wrong type, fails to compile here.
 */
import type * as api from '../../api/schemas.ts';
import type { Diagnostic as CompileDiagnostic } from '../../pipeline/diagnostics.ts';
import type { BuildRow } from '../../store/builds.ts';
import type { Job } from '../../store/jobs.ts';
import { planOf, type BuildDetail } from '../controller.ts';

export function jobView(job: Job): api.Job {
  return {
    name: job.name,
    repo: job.repo,
    branch: job.defaultBranch,
    branches: job.branches,
    pipeline: job.pipelinePath,
    concurrency: job.concurrency,
    cancelOlder: job.cancelOlder,
    schedules: job.schedules,
    webhookSecret: job.webhookSecret,
    source: job.source,
    readOnly: job.source === 'config',
  };
}

/** A stored time (bigint column) as epoch milliseconds, or null. */
function epochMs(value: number | bigint | null): number | null {
  return value === null ? null : Number(value);
}

export function buildView(build: BuildRow): api.Build {
  return {
    id: build.id,
    job: build.job,
    number: build.number,
    status: build.status,
    reason: build.reason,
    cause: build.cause,
    causeDetail: build.cause_detail,
    event: build.event,
    branch: build.branch,
    tag: build.tag,
    pr: build.pr,
    prTargetBranch: build.pr_target_branch,
    prHeadBranch: build.pr_head_branch,
    prHeadRepo: build.pr_head_repo,
    ref: build.ref,
    trust: build.trust,
    trustReason: build.trust_reason,
    sha: build.sha,
    commitMessage: build.commit_message,
    commitAuthor: build.commit_author,
    inputs: JSON.parse(build.inputs) as Record<string, unknown>,
    createdAt: Number(build.created_at),
    startedAt: epochMs(build.started_at),
    finishedAt: epochMs(build.finished_at),
  };
}

export function detailView(detail: BuildDetail): api.BuildDetail {
  return {
    ...buildView(detail.build),
    diagnostics: JSON.parse(detail.build.diagnostics) as CompileDiagnostic[],
    pipelineText: detail.build.pipeline_text,
    jobRuns: detail.runs.map((run) => {
      const plan = planOf(run);
      return {
        id: run.id,
        name: run.name,
        job: plan.job,
        matrix: plan.matrix,
        stage: run.stage,
        needs: plan.needs,
        status: run.status,
        outcome: run.outcome,
        reason: run.reason,
        labels: run.labels,
        startedAt: epochMs(run.started_at),
        finishedAt: epochMs(run.finished_at),
        attempts: detail.attempts
          .filter((a) => a.job_run_id === run.id)
          .map((a) => ({
            id: a.id,
            number: a.number,
            status: a.status,
            outcome: a.outcome,
            reason: a.reason,
            agent: a.agent,
            queuedAt: Number(a.queued_at),
            startedAt: epochMs(a.started_at),
            finishedAt: epochMs(a.finished_at),
            deadline: epochMs(a.deadline),
            steps: detail.steps
              .filter((s) => s.attempt_id === a.id)
              .map((s) => ({
                index: s.idx,
                name: s.name,
                status: s.status,
                outcome: s.outcome,
                reason: s.reason,
                exitCode: s.exit_code,
                logBytes: Number(s.log_bytes),
                truncated: s.truncated === 1,
                startedAt: epochMs(s.started_at),
                finishedAt: epochMs(s.finished_at),
              })),
          })),
      };
    }),
  };
}
