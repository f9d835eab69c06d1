/**
 * The builds aggregate: builds, their job runs, attempts (the queue's truth: an attempt
 * with status `queued` is in the queue) and steps.
 */
import type { Insertable, Kysely, Transaction, Updateable } from 'kysely';
import {
  isBuildStatus,
  type AttemptStatus,
  type Outcome,
  type StepStatus,
} from '../domain/status.ts';
import type {
  AttemptRow,
  BuildRow,
  BuildsPort,
  JobRunRow,
  NewAttempt,
  NewBuild,
  QueuedAttempt,
  StepRow,
} from './ports.ts';
import type { AttemptsTable, BuildsTable, Database, JobRunsTable, StepsTable } from './schema.ts';

export {
  FINISHED,
  type AttemptStatus,
  type BuildStatus,
  type JobRunStatus,
  type StepStatus,
} from '../domain/status.ts';

export type { AttemptRow, BuildRow, JobRunRow, NewBuild, StepRow } from './ports.ts';

type Db = Kysely<Database> | Transaction<Database>;

/** A new attempt, waiting in the queue. */
export function queuedAttempt(values: {
  jobRunId: number;
  buildId: number;
  number: number;
  queuedAt: number;
  priority?: number;
}): NewAttempt {
  return {
    job_run_id: values.jobRunId,
    build_id: values.buildId,
    number: values.number,
    status: 'queued',
    outcome: null,
    reason: '',
    priority: values.priority ?? 0,
    agent: null,
    lease_until: null,
    deadline: null,
    cancel_requested: 0,
    queued_at: values.queuedAt,
    started_at: null,
    finished_at: null,
  };
}

/** The builds port on the embedded SQLite driver. */
export class BuildStore implements BuildsPort {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Records a build with its job runs in one transaction, numbering it after the job's
   * last build; `then` runs inside the same transaction (to queue first attempts or
   * record a webhook delivery), so the caller acknowledges only what is durable.
   */
  async create<T>(
    make: (number: number) => NewBuild,
    then: (tx: Transaction<Database>, build: BuildRow, runs: JobRunRow[]) => Promise<T>,
  ): Promise<T> {
    const job = make(0).build.job;
    return this.db.transaction().execute(async (tx) => {
      const last = await tx
        .selectFrom('builds')
        .select((eb) => eb.fn.max('number').as('n'))
        .where('job', '=', job)
        .executeTakeFirst();
      const number = Number(last?.n ?? 0) + 1;
      const input = make(number);
      const build = await tx
        .insertInto('builds')
        .values({ ...input.build, number })
        .returningAll()
        .executeTakeFirstOrThrow();
      const runs: JobRunRow[] = [];
      for (const run of input.jobRuns)
        runs.push(
          await tx
            .insertInto('job_runs')
            .values({ ...run, build_id: build.id })
            .returningAll()
            .executeTakeFirstOrThrow(),
        );
      return then(tx, build, runs);
    });
  }

  transaction<T>(fn: (tx: Transaction<Database>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(fn);
  }

  async build(id: number, db: Db = this.db): Promise<BuildRow | undefined> {
    return db.selectFrom('builds').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async buildByNumber(job: string, number: number): Promise<BuildRow | undefined> {
    return this.db
      .selectFrom('builds')
      .selectAll()
      .where('job', '=', job)
      .where('number', '=', number)
      .executeTakeFirst();
  }

  async list(options: {
    job?: string;
    /** A build status; any other word matches no build. */
    status?: string;
    before?: number;
    limit: number;
  }): Promise<BuildRow[]> {
    let query = this.db.selectFrom('builds').selectAll().orderBy('id', 'desc').limit(options.limit);
    if (options.job !== undefined) query = query.where('job', '=', options.job);
    if (options.status !== undefined) {
      if (!isBuildStatus(options.status)) return [];
      query = query.where('status', '=', options.status);
    }
    if (options.before !== undefined) query = query.where('id', '<', options.before);
    return query.execute();
  }

  async unfinishedBuilds(): Promise<BuildRow[]> {
    return this.db
      .selectFrom('builds')
      .selectAll()
      .where('status', 'in', ['queued', 'running'])
      .orderBy('id')
      .execute();
  }

  async updateBuild(id: number, patch: Updateable<BuildsTable>, db: Db = this.db): Promise<void> {
    await db.updateTable('builds').set(patch).where('id', '=', id).execute();
  }

  async jobRuns(buildId: number, db: Db = this.db): Promise<JobRunRow[]> {
    return db
      .selectFrom('job_runs')
      .selectAll()
      .where('build_id', '=', buildId)
      .orderBy('ordinal')
      .execute();
  }

  async jobRun(id: number, db: Db = this.db): Promise<JobRunRow | undefined> {
    return db.selectFrom('job_runs').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async updateJobRun(id: number, patch: Updateable<JobRunsTable>, db: Db = this.db): Promise<void> {
    await db.updateTable('job_runs').set(patch).where('id', '=', id).execute();
  }

  async attempts(buildId: number, db: Db = this.db): Promise<AttemptRow[]> {
    return db
      .selectFrom('attempts')
      .selectAll()
      .where('build_id', '=', buildId)
      .orderBy('id')
      .execute();
  }

  async attempt(id: number, db: Db = this.db): Promise<AttemptRow | undefined> {
    return db.selectFrom('attempts').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async addAttempt(values: NewAttempt, db: Db = this.db): Promise<AttemptRow> {
    return db.insertInto('attempts').values(values).returningAll().executeTakeFirstOrThrow();
  }

  async updateAttempt(
    id: number,
    patch: Updateable<AttemptsTable>,
    db: Db = this.db,
  ): Promise<void> {
    await db.updateTable('attempts').set(patch).where('id', '=', id).execute();
  }

  /** The queue: queued attempts with their job run's labels, by priority then age. */
  async queued(): Promise<QueuedAttempt[]> {
    return this.db
      .selectFrom('attempts')
      .innerJoin('job_runs', 'job_runs.id', 'attempts.job_run_id')
      .innerJoin('builds', 'builds.id', 'attempts.build_id')
      .selectAll('attempts')
      .select(['job_runs.labels', 'job_runs.name', 'builds.job', 'builds.number as build_number'])
      .where('attempts.status', '=', 'queued')
      .orderBy('attempts.priority', 'desc')
      .orderBy('attempts.id')
      .execute();
  }

  async running(): Promise<AttemptRow[]> {
    return this.db
      .selectFrom('attempts')
      .selectAll()
      .where('status', '=', 'running')
      .orderBy('id')
      .execute();
  }

  /** Takes a queued attempt for an agent; false when someone else took it first. */
  async claim(
    id: number,
    agent: string,
    now: number,
    leaseUntil: number,
    deadline: number,
  ): Promise<boolean> {
    const result = await this.db
      .updateTable('attempts')
      .set({ status: 'running', agent, started_at: now, lease_until: leaseUntil, deadline })
      .where('id', '=', id)
      .where('status', '=', 'queued')
      .executeTakeFirst();
    return result.numUpdatedRows === 1n;
  }

  async renewLeases(attemptIds: readonly number[], until: number): Promise<void> {
    if (attemptIds.length === 0) return;
    await this.db
      .updateTable('attempts')
      .set({ lease_until: until })
      .where('id', 'in', attemptIds)
      .where('status', '=', 'running')
      .execute();
  }

  async expiredLeases(now: number): Promise<AttemptRow[]> {
    return this.db
      .selectFrom('attempts')
      .selectAll()
      .where('status', '=', 'running')
      .where('lease_until', 'is not', null)
      .where('lease_until', '<', now)
      .orderBy('id')
      .execute();
  }

  async steps(attemptIds: readonly number[]): Promise<StepRow[]> {
    if (attemptIds.length === 0) return [];
    return this.db
      .selectFrom('steps')
      .selectAll()
      .where('attempt_id', 'in', attemptIds)
      .orderBy('attempt_id')
      .orderBy('idx')
      .execute();
  }

  async putStep(step: Insertable<StepsTable>): Promise<void> {
    await this.db
      .insertInto('steps')
      .values(step)
      .onConflict((oc) =>
        oc.columns(['attempt_id', 'idx']).doUpdateSet({
          name: step.name,
          status: step.status,
          outcome: step.outcome ?? null,
          reason: step.reason,
          exit_code: step.exit_code ?? null,
          // A finish message does not repeat the start time: keep the stored one.
          started_at: (eb) => eb.fn.coalesce('excluded.started_at', 'steps.started_at'),
          finished_at: (eb) => eb.fn.coalesce('excluded.finished_at', 'steps.finished_at'),
        }),
      )
      .execute();
  }

  /** Ends every step of an attempt that is still `running` (the attempt ended without them). */
  async endRunningSteps(
    attemptId: number,
    ending: { status: StepStatus; outcome: Outcome; reason: string; finishedAt: number },
  ): Promise<void> {
    await this.db
      .updateTable('steps')
      .set({
        status: ending.status,
        outcome: ending.outcome,
        reason: ending.reason,
        finished_at: ending.finishedAt,
      })
      .where('attempt_id', '=', attemptId)
      .where('status', '=', 'running')
      .execute();
  }

  async countByStatus(): Promise<Partial<Record<AttemptStatus, number>>> {
    const rows = await this.db
      .selectFrom('attempts')
      .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
      .where('status', 'in', ['queued', 'running'])
      .groupBy('status')
      .execute();
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }
}
