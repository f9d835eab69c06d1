/**
 * Dispatch: queued attempts, by priority and age, go to connected agents whose labels
 * match and that have a free executor. The store is the queue; a round claims an attempt
 * in one conditional write with a lease and an absolute deadline, then pushes it to its
 * agent. Rounds never overlap (`kick` asks for one). Also the queue as people see it,
 * with the reason each attempt waits.
 */
import { matchLabels, parseLabelExpression } from '../../pipeline/labels.ts';
import type { PlanJob } from '../../pipeline/plan.ts';
import type { Assignment } from '../../protocol/messages.ts';
import type { AttemptRow, BuildRow, Job } from '../../store/ports.ts';
import { cacheScopeOf, contextOf, planOf, runIdOf } from '../builds/names.ts';
import type { ConnectedAgent, ControllerCore } from '../controller-core.ts';

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

/** Asks for a dispatch round; rounds never overlap. */
export function kick(core: ControllerCore): void {
  if (core.dispatching) {
    core.dispatchAgain = true;
    return;
  }
  core.dispatching = (async () => {
    do {
      core.dispatchAgain = false;
      try {
        await dispatchRound(core);
      } catch (error) {
        core.reportError('a dispatch round', error);
      }
    } while (core.dispatchAgain);
  })().finally(() => (core.dispatching = undefined));
}

/** Resolves when no dispatch round is running. */
export async function settled(core: ControllerCore): Promise<void> {
  while (core.dispatching) await core.dispatching;
}

async function dispatchRound(core: ControllerCore): Promise<void> {
  if (core.draining) return;
  // Space can run short between the periodic checks: a round looks again first (statfs).
  await core.store.health.check();
  if (core.dispatchPause() !== null) return;
  const queued = await core.store.builds.queued();
  if (queued.length === 0) return;
  const jobs = new Map((await core.store.jobs.list()).map((j) => [j.name, j]));
  const runningBuilds = await runningBuildsIfLimited(core, jobs);
  for (const entry of queued) {
    // No free executor anywhere: the rest of the queue waits for the next round.
    if (![...core.agents.values()].some((a) => a.running.size < a.link.info.executors)) break;
    const reason = blocker(entry, jobs.get(entry.job), runningBuilds);
    if (reason !== null) continue;
    const agent = matchAgent(core, entry.labels);
    if (!agent) continue;
    const run = await core.store.builds.jobRun(entry.job_run_id);
    const build = await core.store.builds.build(entry.build_id);
    const job = jobs.get(entry.job);
    if (!run || !build || !job) continue;
    const planJob = planOf(run);
    planJob.timeoutMs = Math.min(planJob.timeoutMs, core.options.maxJobMs ?? Infinity);
    const now = core.now();
    const deadline = now + planJob.timeoutMs;
    if (
      !(await core.store.builds.claim(
        entry.id,
        agent.link.info.id,
        now,
        now + core.leaseMs,
        deadline,
      ))
    )
      continue;
    agent.running.add(entry.id);
    try {
      await core.store.builds.updateJobRun(run.id, {
        status: 'running',
        started_at: run.started_at ?? now,
      });
      if (build.status === 'queued') {
        await core.store.builds.updateBuild(build.id, { status: 'running', started_at: now });
        build.status = 'running';
        runningBuilds.push(build);
      }
    } catch (error) {
      // The attempt is claimed: it must reach its agent, or it would hold the executor
      // for ever. Its ending settles the job run and the build.
      core.reportError(`marking build ${build.id} running`, error);
    }
    agent.link.send({
      type: 'assign',
      assignment: assignmentFor(core, entry, build, job, planJob, deadline),
    });
    core.events.emit('build', build.id);
    core.events.emit('queue');
  }
}

/** Running builds, read only when some job has a concurrency limit (it is the only use). */
async function runningBuildsIfLimited(
  core: ControllerCore,
  jobs: ReadonlyMap<string, Job>,
): Promise<BuildRow[]> {
  if (![...jobs.values()].some((j) => j.concurrency !== null)) return [];
  return core.store.builds.list({ status: 'running', limit: 10_000 });
}

/**
 * What an agent needs to run (or adopt) one attempt: only the secrets (and credentials,
 * with their masking forms) its job names, and none at all for an untrusted build, whose
 * caches live in a scope of its pull request.
 */
export function assignmentFor(
  core: ControllerCore,
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
      const value = core.secrets[name];
      if (value !== undefined) secrets[name] = value;
    }
  const credentials = untrusted
    ? undefined
    : core.options.credentials?.values(
        job.name,
        build.branch,
        plan.secrets.filter((name) => secrets[name] === undefined),
      );
  if (credentials) Object.assign(secrets, credentials.secrets);
  return {
    attemptId: attempt.id,
    buildId: build.id,
    runId: runIdOf(build, core.options.id),
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
      ? `${cacheScopeOf(job.name, core.options.id)}:untrusted-pr-${build.pr ?? 0}`
      : cacheScopeOf(job.name, core.options.id),
    deadline,
    graceMs: core.options.graceMs,
  };
}

/** Why a queued attempt cannot start for reasons other than agents, or null. */
function blocker(
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

function matchAgent(core: ControllerCore, labels: string): ConnectedAgent | undefined {
  const candidates = [...core.agents.values()].filter((a) => labelsMatch(labels, a));
  return candidates
    .filter((a) => a.running.size < a.link.info.executors)
    .sort((a, b) => a.running.size - b.running.size)[0];
}

function labelsMatch(labels: string, agent: ConnectedAgent): boolean {
  if (labels === '') return true;
  const parsed = parseLabelExpression(labels);
  return 'expr' in parsed ? matchLabels(parsed.expr, new Set(agent.link.info.labels)) : false;
}

/** The queue with the reason each attempt waits. */
export async function queue(core: ControllerCore): Promise<QueueEntry[]> {
  const queued = await core.store.builds.queued();
  const jobs = new Map((await core.store.jobs.list()).map((j) => [j.name, j]));
  const runningBuilds = await runningBuildsIfLimited(core, jobs);
  const paused = core.dispatchPause();
  return queued.map((entry) => {
    let waitingFor = paused ?? blocker(entry, jobs.get(entry.job), runningBuilds);
    if (waitingFor === null) {
      const matching = [...core.agents.values()].filter((a) => labelsMatch(entry.labels, a));
      waitingFor =
        matching.length === 0
          ? `no agent offers the labels ${entry.labels === '' ? '(any)' : entry.labels}`
          : matching.every((a) => a.running.size >= a.link.info.executors)
            ? 'no free executor on the matching agents'
            : core.draining
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
