/**
 * A controller's restart: attempts its embedded agent ran are kept for that agent to
 * adopt when it connects (their pods outlive the process); every other running attempt
 * ends `infra_error: controller_lost` and follows its retry rules.
 */
import { assignmentFor, kick } from './dispatch/dispatcher.ts';
import { advance, finishAttempt } from './builds/dag.ts';
import { planOf, runIdOf } from './builds/names.ts';
import type { ConnectedAgent, ControllerCore } from './controller-core.ts';

/** An attempt to adopt: the names of its pod. */
export interface Adoption {
  runId: string;
  jobId: string;
  attempt: number;
}

/**
 * After a restart. Attempts that were running on `adoptingAgent` (this controller's
 * embedded agent, whose pods outlive the process) wait for that agent to connect and
 * are handed to it to adopt: it re-attaches to the pod by its labels and finishes the
 * attempt from where the store says it was, the log continuing at the stored offsets.
 * Attempts of other agents end `error: controller_lost` and follow their retry rules.
 * Queued attempts stay queued and run once. Returns the attempts to adopt.
 */
export async function recover(core: ControllerCore, adoptingAgent?: string): Promise<Adoption[]> {
  const adopt: Adoption[] = [];
  for (const attempt of await core.store.builds.running()) {
    const run = await core.store.builds.jobRun(attempt.job_run_id);
    const build = await core.store.builds.build(attempt.build_id);
    if (adoptingAgent && attempt.agent === adoptingAgent && run && build) {
      const list = core.adoptions.get(adoptingAgent) ?? [];
      list.push(attempt.id);
      core.adoptions.set(adoptingAgent, list);
      adopt.push({
        runId: runIdOf(build, core.options.id),
        jobId: run.name,
        attempt: attempt.number,
      });
      continue;
    }
    await finishAttempt(
      core,
      attempt.id,
      'infra_error',
      'controller_lost: the controller stopped while this attempt ran; its pod was removed',
    );
  }
  // Whatever their leases said when the last process stopped, the adopting agent gets a
  // whole lease from now to connect and take them.
  await core.store.builds.renewLeases(
    core.adoptions.get(adoptingAgent ?? '') ?? [],
    core.now() + core.leaseMs,
  );
  for (const build of await core.store.builds.unfinishedBuilds()) await advance(core, build.id);
  kick(core);
  return adopt;
}

/** Sends an agent the attempts it ran before the restart, with where each continues. */
export async function handOver(core: ControllerCore, agent: ConnectedAgent): Promise<void> {
  const ids = core.adoptions.get(agent.link.info.id) ?? [];
  core.adoptions.delete(agent.link.info.id);
  for (const attemptId of ids) {
    const attempt = await core.store.builds.attempt(attemptId);
    const run = attempt ? await core.store.builds.jobRun(attempt.job_run_id) : undefined;
    const build = attempt ? await core.store.builds.build(attempt.build_id) : undefined;
    const job = build ? await core.store.jobs.get(build.job) : undefined;
    if (!attempt || !run || !build || !job || attempt.status !== 'running') continue;
    const plan = planOf(run);
    const steps = await core.store.builds.steps([attempt.id]);
    const current = steps.find((st) => st.status === 'running');
    const step = current ? current.idx : steps.reduce((max, st) => Math.max(max, st.idx + 1), 0);
    const progress = await core.store.logs.progress(attempt.id, step);
    const previousFailed = steps.some(
      (st) =>
        st.idx < step &&
        st.outcome !== null &&
        st.outcome !== 'success' &&
        st.outcome !== 'skipped' &&
        !plan.steps[st.idx]?.allowFailure,
    );
    const succeededBefore = steps.filter((st) => st.idx < step && st.outcome === 'success').length;
    agent.running.add(attempt.id);
    agent.link.send({
      type: 'adopt',
      assignment: assignmentFor(
        core,
        attempt,
        build,
        job,
        plan,
        Number(attempt.deadline ?? core.now() + plan.timeoutMs),
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
