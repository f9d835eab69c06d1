/**
 * The controller: turns triggers into durable builds, walks each build's job DAG, keeps
 * the queue (attempts with status `queued` in the store), dispatches attempts to agents by
 * labels and capacity (pushed, never polled), stores what agents report, and cancels and
 * re-runs. It reaches agents only through the protocol.
 *
 * This class is the facade the HTTP layer, `main` and the tests use; each verb lives in
 * its own module and works on the shared `ControllerCore`:
 * - `builds/trigger.ts` (with `pipeline-at.ts`), `builds/dag.ts`, `builds/cancel.ts`,
 *   `builds/rerun.ts`, `builds/names.ts`
 * - `dispatch/dispatcher.ts` (rounds, the queue view), `dispatch/agents.ts`,
 *   `dispatch/ingest.ts` (what agents report)
 * - `recovery.ts` (restart and adoption), `lease-reaper.ts` (attempts whose agent was
 *   lost), `job-info.ts` (trigger forms)
 */
import type { Outcome } from '../domain/status.ts';
import type { AgentLink, AgentMessage, ControllerPort } from '../protocol/messages.ts';
import type { StoreCondition } from '../store/health.ts';
import type { AttemptRow, BuildRow, JobRunRow, StepRow, Store } from '../store/ports.ts';
import { cancel } from './builds/cancel.ts';
import { advance, finishAttempt } from './builds/dag.ts';
import { rerun } from './builds/rerun.ts';
import { trigger, type TriggerRequest, type TriggerResult } from './builds/trigger.ts';
import { ControllerCore, type ControllerOptions } from './controller-core.ts';
import {
  agentsDetail,
  connect,
  disconnect,
  listAgents,
  type AgentDetail,
  type AgentView,
} from './dispatch/agents.ts';
import { kick, queue, settled, type QueueEntry } from './dispatch/dispatcher.ts';
import { apply, receive } from './dispatch/ingest.ts';
import { branches, manualInputs, type ManualInputs } from './job-info.ts';
import { reapLeases, startLeaseReaper } from './lease-reaper.ts';
import { recover, type Adoption } from './recovery.ts';

export type { ControllerOptions } from './controller-core.ts';
export type { PullRequestTrigger, TriggerRequest, TriggerResult } from './builds/trigger.ts';
export type { QueueEntry } from './dispatch/dispatcher.ts';
export type { AgentDetail, AgentView } from './dispatch/agents.ts';
export { cacheScopeOf, contextOf, planOf, runIdOf } from './builds/names.ts';

/** A build with its job runs, attempts and steps, for the API. */
export interface BuildDetail {
  build: BuildRow;
  runs: JobRunRow[];
  attempts: AttemptRow[];
  steps: StepRow[];
}

export class Controller implements ControllerPort {
  private readonly core: ControllerCore;
  private reaper: { stop(): void } | undefined;

  constructor(options: ControllerOptions) {
    const core: ControllerCore = new ControllerCore(options, (agentId, message): Promise<void> =>
      apply(core, agentId, message),
    );
    this.core = core;
    options.store.health.onChange((condition) => this.storeChanged(condition));
  }

  /** `build` (id) on any change of a build; `log` (build id, step) on new output; `queue`. */
  get events(): ControllerCore['events'] {
    return this.core.events;
  }

  get store(): Store {
    return this.core.store;
  }

  /** The store got worse or better: dispatch pauses or resumes, held writes are stored. */
  private storeChanged(condition: StoreCondition): void {
    const core = this.core;
    if (condition.state === 'ok') core.log('slipway: the store is fine again; dispatch resumes');
    else core.log(`slipway: store: ${condition.reason}`);
    if (condition.state === 'ok' || condition.state === 'low_disk') {
      void core.backlog
        .flush()
        .then(async (done) => {
          if (!done) return;
          // A trigger or cancel cut short by the failure left a build part-way: move each on.
          for (const build of await core.store.builds.unfinishedBuilds())
            await advance(core, build.id);
          kick(core);
        })
        .catch((error: unknown) => core.reportError('storing what waited for the store', error));
    }
    core.events.emit('queue');
  }

  /** Replaces the secret values (a reload); attempts dispatched from now on get the new ones. */
  setSecrets(secrets: Readonly<Record<string, string>>): void {
    this.core.secrets = { ...secrets };
  }

  // ── builds ──

  trigger(request: TriggerRequest): Promise<TriggerResult> {
    return trigger(this.core, request);
  }

  /** Starts what can start, skips what cannot run, and finishes the build when all ended. */
  advance(buildId: number): Promise<void> {
    return advance(this.core, buildId);
  }

  /** Records an attempt's ending, retries it when `retry.on` says so, and moves the DAG on. */
  finishAttempt(attemptId: number, outcome: Outcome, reason: string): Promise<void> {
    return finishAttempt(this.core, attemptId, outcome, reason);
  }

  cancel(buildId: number, reason?: string): Promise<BuildRow> {
    return cancel(this.core, buildId, reason);
  }

  /** New attempts for every job run (or only those that did not succeed); old ones stay. */
  rerun(buildId: number, failedOnly: boolean): Promise<BuildRow> {
    return rerun(this.core, buildId, failedOnly);
  }

  async buildDetail(buildId: number): Promise<BuildDetail | undefined> {
    const builds = this.core.store.builds;
    const build = await builds.build(buildId);
    if (!build) return undefined;
    const runs = await builds.jobRuns(buildId);
    const attempts = await builds.attempts(buildId);
    const steps = await builds.steps(attempts.map((a) => a.id));
    return { build, runs, attempts, steps };
  }

  // ── jobs (trigger forms) ──

  /** The branches of a job's repository (for the trigger form's branch chooser). */
  branches(jobName: string): Promise<{ default: string; branches: string[] }> {
    return branches(this.core.store, this.core.options.gitCacheDir, jobName);
  }

  /** The manual inputs a job's pipeline declares at the head of a branch (for trigger forms). */
  manualInputs(jobName: string, branch?: string): Promise<ManualInputs> {
    return manualInputs(this.core.store, this.core.options.gitCacheDir, jobName, branch);
  }

  // ── agents and dispatch (ControllerPort) ──

  connect(link: AgentLink): void {
    connect(this.core, link);
  }

  disconnect(agentId: string): void {
    disconnect(this.core, agentId);
  }

  receive(agentId: string, message: AgentMessage): Promise<void> {
    return receive(this.core, agentId, message);
  }

  listAgents(): AgentView[] {
    return listAgents(this.core);
  }

  /** What each connected agent runs, with the build and job run of each attempt. */
  agentsDetail(): Promise<AgentDetail[]> {
    return agentsDetail(this.core);
  }

  /** The queue with the reason each attempt waits. */
  queue(): Promise<QueueEntry[]> {
    return queue(this.core);
  }

  /** Asks for a dispatch round; rounds never overlap. */
  kick(): void {
    kick(this.core);
  }

  /** Resolves when no dispatch round is running. */
  settled(): Promise<void> {
    return settled(this.core);
  }

  setDraining(draining: boolean): void {
    this.core.draining = draining;
  }

  get isDraining(): boolean {
    return this.core.draining;
  }

  // ── restart ──

  /**
   * After a restart. Attempts that were running on `adoptingAgent` (this controller's
   * embedded agent) wait for it to connect and adopt them; others end `controller_lost`.
   * Returns the attempts to adopt.
   */
  recover(adoptingAgent?: string): Promise<Adoption[]> {
    return recover(this.core, adoptingAgent);
  }

  // ── leases ──

  /** Starts the periodic lease rounds (see `lease-reaper.ts`); `close` stops them. */
  startLeaseReaper(): void {
    this.reaper ??= startLeaseReaper(this.core);
  }

  /**
   * One lease round now: renews the leases of connected agents' attempts and ends those
   * whose lease ran out (`infra_error: agent_lost`). Returns the attempts it ended.
   */
  reapLeases(): Promise<number[]> {
    return reapLeases(this.core);
  }

  /** Stops the controller's timers (the lease rounds). The store stays open. */
  close(): void {
    this.reaper?.stop();
    this.reaper = undefined;
  }
}
