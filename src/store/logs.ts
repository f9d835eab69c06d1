/**
 * The logs aggregate: each step's output as chunks with a per-step sequence number and
 * byte offset. A re-sent chunk (same attempt, step, seq) is ignored, so shipping can be
 * retried safely. The global chunk id orders everything and resumes live streams.
 */
import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

export interface LogChunk {
  id: number;
  buildId: number;
  attemptId: number;
  step: number;
  seq: number;
  offset: number;
  stream: string;
  data: Buffer;
}

export interface NewChunk {
  buildId: number;
  attemptId: number;
  step: number;
  seq: number;
  offset: number;
  stream: string;
  data: Buffer;
}

export class LogStore {
  constructor(private readonly db: Kysely<Database>) {}

  /** Stores a chunk; returns its id, or undefined when that seq was stored already. */
  async append(chunk: NewChunk): Promise<number | undefined> {
    const row = await this.db
      .insertInto('log_chunks')
      .values({
        build_id: chunk.buildId,
        attempt_id: chunk.attemptId,
        step: chunk.step,
        seq: chunk.seq,
        offset: chunk.offset,
        stream: chunk.stream,
        data: chunk.data,
      })
      .onConflict((oc) => oc.columns(['attempt_id', 'step', 'seq']).doNothing())
      .returning('id')
      .executeTakeFirst();
    if (row) {
      await this.db
        .updateTable('steps')
        .set((eb) => ({ log_bytes: eb('log_bytes', '+', chunk.data.length) }))
        .where('attempt_id', '=', chunk.attemptId)
        .where('idx', '=', chunk.step)
        .execute();
    }
    return row?.id;
  }

  /** Chunks after `afterId`, in order, optionally of one attempt and step. */
  async read(options: {
    buildId: number;
    afterId: number;
    attemptId?: number;
    step?: number;
    limit: number;
  }): Promise<LogChunk[]> {
    let query = this.db
      .selectFrom('log_chunks')
      .selectAll()
      .where('build_id', '=', options.buildId)
      .where('id', '>', options.afterId)
      .orderBy('id')
      .limit(options.limit);
    if (options.attemptId !== undefined) query = query.where('attempt_id', '=', options.attemptId);
    if (options.step !== undefined) query = query.where('step', '=', options.step);
    const rows = await query.execute();
    return rows.map((r) => ({
      id: r.id,
      buildId: r.build_id,
      attemptId: r.attempt_id,
      step: r.step,
      seq: r.seq,
      offset: Number(r.offset),
      stream: r.stream,
      data: Buffer.from(r.data),
    }));
  }

  /** Total bytes stored, for metrics. */
  async totalBytes(): Promise<number> {
    const row = await this.db
      .selectFrom('steps')
      .select((eb) => eb.fn.sum<number>('log_bytes').as('n'))
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }
}
