/**
 * The triggers aggregate: webhook deliveries already seen (a repeated delivery id queues
 * nothing) and the last fire time of each schedule (no double fire across restarts).
 */
import type { Kysely, Transaction } from 'kysely';
import type { TriggersPort } from './ports.ts';
import type { Database } from './schema.ts';

/** The triggers port on the embedded SQLite driver. */
export class TriggerStore implements TriggersPort {
  constructor(private readonly db: Kysely<Database>) {}

  async delivery(
    provider: string,
    id: string,
  ): Promise<{ job: string; buildId: number | null } | undefined> {
    const row = await this.db
      .selectFrom('deliveries')
      .select(['job', 'build_id'])
      .where('provider', '=', provider)
      .where('delivery_id', '=', id)
      .executeTakeFirst();
    return row ? { job: row.job, buildId: row.build_id } : undefined;
  }

  /** Records a delivery; false when it was recorded before (inside `tx` when given). */
  async recordDelivery(
    values: { provider: string; id: string; job: string; buildId: number | null; now: number },
    tx: Transaction<Database> | Kysely<Database> = this.db,
  ): Promise<boolean> {
    const result = await tx
      .insertInto('deliveries')
      .values({
        provider: values.provider,
        delivery_id: values.id,
        job: values.job,
        build_id: values.buildId,
        received_at: values.now,
      })
      .onConflict((oc) => oc.columns(['provider', 'delivery_id']).doNothing())
      .executeTakeFirst();
    return (result.numInsertedOrUpdatedRows ?? 0n) > 0n;
  }

  async lastFire(job: string, schedule: string): Promise<number | undefined> {
    const row = await this.db
      .selectFrom('cron_fires')
      .select('last_fire')
      .where('job', '=', job)
      .where('schedule', '=', schedule)
      .executeTakeFirst();
    return row ? Number(row.last_fire) : undefined;
  }

  async setLastFire(
    job: string,
    schedule: string,
    at: number,
    tx: Transaction<Database> | Kysely<Database> = this.db,
  ): Promise<void> {
    await tx
      .insertInto('cron_fires')
      .values({ job, schedule, last_fire: at })
      .onConflict((oc) => oc.columns(['job', 'schedule']).doUpdateSet({ last_fire: at }))
      .execute();
  }

  async getMeta(key: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('meta')
      .select('value')
      .where('key', '=', key)
      .executeTakeFirst();
    return row?.value;
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.db
      .insertInto('meta')
      .values({ key, value })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
      .execute();
  }
}
