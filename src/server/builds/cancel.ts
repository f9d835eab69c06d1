/**
 * Canceling a build: queued attempts end at once; running ones are asked to stop through
 * their agent (or end here when their agent is gone); nothing new starts.
 */
import { FINISHED } from '../../domain/status.ts';
import type { AttemptRow, BuildRow } from '../../store/ports.ts';
import { ControllerError } from '../api-error.ts';
import type { ControllerCore } from '../controller-core.ts';
import { advanceLocked, finishAttempt } from './dag.ts';

export async function cancel(
  core: ControllerCore,
  buildId: number,
  reason = 'canceled by a user',
): Promise<BuildRow> {
  const build = await core.store.builds.build(buildId);
  if (!build) throw new ControllerError(404, 'build_not_found', `there is no build ${buildId}`);
  if (FINISHED.has(build.status)) return build;
  const running: AttemptRow[] = [];
  await core.withBuild(buildId, async () => {
    const builds = core.store.builds;
    await builds.updateBuild(buildId, { cancel_requested: 1, reason });
    for (const attempt of await builds.attempts(buildId)) {
      if (attempt.status === 'queued') {
        await builds.updateAttempt(attempt.id, {
          status: 'canceled',
          outcome: 'canceled',
          reason,
          finished_at: core.now(),
        });
        await builds.updateJobRun(attempt.job_run_id, {
          status: 'canceled',
          outcome: 'canceled',
          reason,
          finished_at: core.now(),
        });
      } else if (attempt.status === 'running') {
        await builds.updateAttempt(attempt.id, { cancel_requested: 1 });
        running.push(attempt);
      }
    }
    await advanceLocked(core, buildId);
  });
  for (const attempt of running) {
    const agent = attempt.agent ? core.agents.get(attempt.agent) : undefined;
    if (agent) agent.link.send({ type: 'cancel', attemptId: attempt.id, reason });
    else await finishAttempt(core, attempt.id, 'canceled', reason);
  }
  core.events.emit('queue');
  return (await core.store.builds.build(buildId))!;
}
