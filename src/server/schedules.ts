/**
 * Cron triggers: the schedules of each job from the configuration and from its pipeline's
 * `on.schedule` (read at the head of the job's branch). Each fire time is recorded in the
 * store before the build is created, so a restart never fires it twice; times missed while
 * the controller was down are not replayed (croner only looks forward).
 */
import { Cron } from 'croner';
import type { ScheduleSpec } from '../store/jobs.ts';
import type { Controller } from './controller.ts';
import { pipelineAt } from './pipeline-at.ts';

export interface ScheduleEntry extends ScheduleSpec {
  job: string;
  /** Where it was declared: `config` or the pipeline file. */
  from: string;
}

export function scheduleKey(schedule: ScheduleSpec): string {
  return `${schedule.cron}@${schedule.timezone}${schedule.branch ? `#${schedule.branch}` : ''}`;
}

export class Schedules {
  private crons: Cron[] = [];
  private entries: ScheduleEntry[] = [];

  constructor(
    private readonly controller: Controller,
    private readonly gitCacheDir: string,
    private readonly log: (line: string) => void,
  ) {}

  /** Every schedule in force. */
  list(): ScheduleEntry[] {
    return [...this.entries];
  }

  /** (Re)reads every job's schedules and starts their timers. */
  async start(): Promise<void> {
    this.stop();
    const entries: ScheduleEntry[] = [];
    for (const job of await this.controller.store.jobs.list()) {
      for (const schedule of job.schedules)
        entries.push({ ...schedule, job: job.name, from: 'config' });
      try {
        const at = await pipelineAt(this.gitCacheDir, job, { ref: job.defaultBranch });
        if (at.kind === 'unreachable') throw new Error(at.message);
        const plan = at.kind === 'compiled' ? at.result.plan : null;
        for (const schedule of plan?.triggers.schedules ?? [])
          entries.push({ ...schedule, job: job.name, from: job.pipelinePath });
      } catch (error) {
        this.log(
          `slipway: cannot read the schedules in ${job.name}'s pipeline: ${(error as Error).message}`,
        );
      }
    }
    this.entries = entries;
    for (const entry of entries) {
      const cron: Cron = new Cron(entry.cron, { timezone: entry.timezone }, () => {
        const at = cron.currentRun() ?? new Date();
        void this.fire(entry, Math.floor(at.getTime() / 1000) * 1000).catch((error: unknown) =>
          this.log(
            `slipway: schedule ${scheduleKey(entry)} of ${entry.job}: ${(error as Error).message}`,
          ),
        );
      });
      this.crons.push(cron);
    }
  }

  stop(): void {
    for (const cron of this.crons) cron.stop();
    this.crons = [];
  }

  /**
   * Fires one schedule for the scheduled time `at`. Returns false when that time fired
   * already (another start of the controller did it).
   */
  async fire(entry: ScheduleEntry, at: number): Promise<boolean> {
    const store = this.controller.store;
    const key = scheduleKey(entry);
    const last = await store.triggers.lastFire(entry.job, key);
    if (last !== undefined && last >= at) return false;
    await store.triggers.setLastFire(entry.job, key, at);
    const job = await store.jobs.get(entry.job);
    if (!job) return false;
    await this.controller.trigger({
      job: entry.job,
      cause: 'cron',
      causeDetail: `${key} at ${new Date(at).toISOString()}`,
      event: 'schedule',
      branch: entry.branch ?? job.defaultBranch,
    });
    return true;
  }
}
