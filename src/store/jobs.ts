/** The jobs aggregate: what can be built, from which repository, and how it is triggered. */
import type { Kysely, Selectable } from 'kysely';
import type { Job, JobInput, JobsPort, ScheduleSpec } from './ports.ts';
import type { Database, JobsTable } from './schema.ts';

export type { Job, JobInput, ScheduleSpec } from './ports.ts';

function toJob(row: Selectable<JobsTable>): Job {
  return {
    name: row.name,
    repo: row.repo,
    branches: JSON.parse(row.branches) as string[],
    defaultBranch: row.default_branch,
    pipelinePath: row.pipeline_path,
    concurrency: row.concurrency,
    cancelOlder: row.cancel_older === 1,
    schedules: JSON.parse(row.schedules) as ScheduleSpec[],
    webhookSecret: row.webhook_secret,
    source: row.source === 'config' ? 'config' : 'api',
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

/** The jobs port on the embedded SQLite driver. */
export class JobStore implements JobsPort {
  constructor(private readonly db: Kysely<Database>) {}

  async list(): Promise<Job[]> {
    const rows = await this.db.selectFrom('jobs').selectAll().orderBy('name').execute();
    return rows.map(toJob);
  }

  async get(name: string): Promise<Job | undefined> {
    const row = await this.db
      .selectFrom('jobs')
      .selectAll()
      .where('name', '=', name)
      .executeTakeFirst();
    return row ? toJob(row) : undefined;
  }

  /** Creates or replaces a job. */
  async put(job: JobInput, now: number): Promise<Job> {
    const existing = await this.get(job.name);
    const values = {
      name: job.name,
      repo: job.repo,
      branches: JSON.stringify(job.branches),
      default_branch: job.defaultBranch,
      pipeline_path: job.pipelinePath,
      concurrency: job.concurrency,
      cancel_older: job.cancelOlder ? 1 : 0,
      schedules: JSON.stringify(job.schedules),
      webhook_secret: job.webhookSecret,
      source: job.source,
      created_at: existing?.createdAt ?? now,
      updated_at: now,
    };
    await this.db
      .insertInto('jobs')
      .values(values)
      .onConflict((oc) => oc.column('name').doUpdateSet({ ...values, created_at: undefined }))
      .execute();
    return toJob(values);
  }

  async remove(name: string): Promise<boolean> {
    const result = await this.db.deleteFrom('jobs').where('name', '=', name).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }
}
