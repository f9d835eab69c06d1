/**
 * The DAG of a build: what starts when its needs ended, what is skipped, how an attempt's
 * ending moves its job run (a retry, or the run's end), and when the build ends. Every
 * move runs under the build's lock (`ControllerCore.withBuild`), so messages from several
 * attempts of one build never race.
 */
import { buildStatusOf, FINISHED, statusOf, type Outcome } from '../../domain/status.ts';
import { decideJob, overallOutcome, type NeedResult } from '../../runtime/decisions.ts';
import { failureClass } from '../../runtime/outcome.ts';
import { queuedAttempt } from '../../store/builds.ts';
import type { ControllerCore } from '../controller-core.ts';
import { planOf } from './names.ts';

/** Starts what can start, skips what cannot run, and finishes the build when all ended. */
export function advance(core: ControllerCore, buildId: number): Promise<void> {
  return core.withBuild(buildId, () => advanceLocked(core, buildId));
}

/** `advance` for a caller that holds the build's lock. */
export async function advanceLocked(core: ControllerCore, buildId: number): Promise<void> {
  const builds = core.store.builds;
  const build = await builds.build(buildId);
  if (!build || FINISHED.has(build.status)) return;
  const now = core.now();
  for (let changed = true; changed;) {
    changed = false;
    const runs = await builds.jobRuns(buildId);
    const results = new Map<string, NeedResult>();
    for (const run of runs)
      if (FINISHED.has(run.status))
        results.set(run.name, {
          outcome: run.outcome ?? 'skipped',
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
          status: outcome === 'skipped' ? 'skipped' : statusOf(outcome),
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
        outcome: r.outcome ?? 'skipped',
        allowedFailure: planOf(r).allowFailure && r.outcome !== 'success',
      })),
      build.cancel_requested === 1,
    );
    const failing = runs.find((r) => r.outcome === outcome && outcome !== 'success');
    await builds.updateBuild(buildId, {
      status: buildStatusOf(outcome),
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
  core.events.emit('build', buildId);
}
/** Records an attempt's ending, retries it when `retry.on` says so, and moves the DAG on. */
export async function finishAttempt(
  core: ControllerCore,
  attemptId: number,
  outcome: Outcome,
  reason: string,
): Promise<void> {
  const attempt = await core.store.builds.attempt(attemptId);
  if (!attempt) return;
  await core.withBuild(attempt.build_id, async () => {
    const builds = core.store.builds;
    const current = await builds.attempt(attemptId);
    if (!current || FINISHED.has(current.status)) return;
    const run = await builds.jobRun(current.job_run_id);
    const build = await builds.build(current.build_id);
    if (!run || !build) return;
    const now = core.now();
    for (const key of [...core.logBytes.keys()])
      if (key.startsWith(`${attemptId}:`)) core.logBytes.delete(key);
    await builds.updateAttempt(attemptId, {
      status: statusOf(outcome),
      outcome,
      reason,
      finished_at: now,
      lease_until: null,
    });
    // A step the attempt did not see end (its pod was gone, the agent was lost) ends with it.
    await builds.endRunningSteps(attemptId, {
      status: statusOf(outcome),
      outcome,
      reason: `the attempt ended before this step did: ${reason}`,
      finishedAt: now,
    });
    const plan = planOf(run);
    const cls = failureClass(outcome);
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
        status: statusOf(outcome),
        outcome,
        reason,
        finished_at: now,
      });
    }
    await advanceLocked(core, build.id);
  });
  core.events.emit('queue');
}
