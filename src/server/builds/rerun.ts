/** Re-running a build: new attempts for its job runs; the old attempts stay as they ended. */
import { FINISHED } from '../../domain/status.ts';
import type { BuildRow } from '../../store/ports.ts';
import { ControllerError } from '../api-error.ts';
import type { ControllerCore } from '../controller-core.ts';
import { kick } from '../dispatch/dispatcher.ts';
import { advanceLocked } from './dag.ts';

/** New attempts for every job run (or only those that did not succeed); old ones stay. */
export async function rerun(
  core: ControllerCore,
  buildId: number,
  failedOnly: boolean,
): Promise<BuildRow> {
  const build = await core.store.builds.build(buildId);
  if (!build) throw new ControllerError(404, 'build_not_found', `there is no build ${buildId}`);
  if (!FINISHED.has(build.status))
    throw new ControllerError(
      409,
      'build_running',
      `build ${buildId} is still ${build.status}; cancel it or wait`,
    );
  const runs = await core.store.builds.jobRuns(buildId);
  if (runs.length === 0)
    throw new ControllerError(
      409,
      'nothing_to_rerun',
      `build ${buildId} has no jobs (${build.reason}); trigger a new build`,
    );
  await core.withBuild(buildId, async () => {
    const builds = core.store.builds;
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
    await advanceLocked(core, buildId);
  });
  kick(core);
  return (await core.store.builds.build(buildId))!;
}
