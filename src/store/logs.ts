/**
 * The logs aggregate: each step's output as chunks with a per-step sequence number and
 * byte offset. A re-sent chunk (same attempt, step, seq) is ignored, so shipping can be
 * retried safely. The global chunk id orders everything and resumes live streams.
 */
import type { Kysely, Selectable } from 'kysely';
import { sql } from './kysely.ts';
import { LogScanner, type LogSearchResult } from './log-search.ts';
import type { LogChunk, LogsPort, NewChunk } from './ports.ts';
import type { Database, LogChunksTable } from './schema.ts';

export type { LogMatch, LogSearchResult } from './log-search.ts';

/**
 * Chunks read per query while searching: at most this many times the largest chunk (256 KiB)
 * in memory, and the longest the event loop waits for a search between two pages.
 */
export const SEARCH_PAGE = 2;

export type { LogChunk, NewChunk } from './ports.ts';

function toChunk(row: Selectable<LogChunksTable>): LogChunk {
  return {
    id: row.id,
    buildId: row.build_id,
    attemptId: row.attempt_id,
    step: row.step,
    seq: row.seq,
    offset: Number(row.offset),
    stream: row.stream,
    data: Buffer.from(row.data),
    time: Number(row.created_at),
  };
}

/** The logs port on the embedded SQLite driver. */
export class LogStore implements LogsPort {
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
        created_at: chunk.time ?? Date.now(),
        raw_stdout: chunk.raw?.stdout ?? null,
        raw_stderr: chunk.raw?.stderr ?? null,
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
    return (await query.execute()).map(toChunk);
  }

  /**
   * How much of one step's log is stored and where the next chunk goes: `raw` is where
   * the stored chunks end in the step's raw streams (where an adopted step resumes).
   * Chunks stored without raw offsets (before migration 0003) count their stored bytes.
   */
  async progress(
    attemptId: number,
    step: number,
  ): Promise<{ raw: { stdout: number; stderr: number }; nextSeq: number; size: number }> {
    const rows = await this.db
      .selectFrom('log_chunks')
      .select((eb) => [
        'stream',
        eb.fn.sum<number>(sql<number>`length(data)`).as('bytes'),
        eb.fn.max('seq').as('seq'),
        eb.fn.max(sql<number>`"offset" + length(data)`).as('end'),
        eb.fn.max('raw_stdout').as('rawStdout'),
        eb.fn.max('raw_stderr').as('rawStderr'),
        eb.fn.count<number>('raw_stdout').as('known'),
        eb.fn.countAll<number>().as('chunks'),
      ])
      .where('attempt_id', '=', attemptId)
      .where('step', '=', step)
      .groupBy('stream')
      .execute();
    const known = rows.every((r) => Number(r.known) === Number(r.chunks));
    const raw = known
      ? {
          stdout: Math.max(0, ...rows.map((r) => Number(r.rawStdout ?? 0))),
          stderr: Math.max(0, ...rows.map((r) => Number(r.rawStderr ?? 0))),
        }
      : {
          stdout: Number(rows.find((r) => r.stream === 'stdout')?.bytes ?? 0),
          stderr: Number(rows.find((r) => r.stream === 'stderr')?.bytes ?? 0),
        };
    return {
      raw,
      nextSeq: rows.length ? Math.max(...rows.map((r) => Number(r.seq))) + 1 : 0,
      size: rows.length ? Math.max(...rows.map((r) => Number(r.end))) : 0,
    };
  }

  /** Bytes stored for one step and whether its log reached the cap (durable across restarts). */
  async stored(attemptId: number, step: number): Promise<{ bytes: number; truncated: boolean }> {
    const row = await this.db
      .selectFrom('steps')
      .select(['log_bytes', 'truncated'])
      .where('attempt_id', '=', attemptId)
      .where('idx', '=', step)
      .executeTakeFirst();
    return { bytes: Number(row?.log_bytes ?? 0), truncated: Number(row?.truncated ?? 0) === 1 };
  }

  async markTruncated(attemptId: number, step: number): Promise<void> {
    await this.db
      .updateTable('steps')
      .set({ truncated: 1 })
      .where('attempt_id', '=', attemptId)
      .where('idx', '=', step)
      .execute();
  }

  /** Size of one step's stored log in bytes. */
  async size(attemptId: number, step: number): Promise<number> {
    const row = await this.db
      .selectFrom('log_chunks')
      .select((eb) => eb.fn.max(sql<number>`"offset" + length(data)`).as('end'))
      .where('attempt_id', '=', attemptId)
      .where('step', '=', step)
      .executeTakeFirst();
    return Number(row?.end ?? 0);
  }

  /**
   * The chunks of one step's log that overlap the bytes [from, to), trimmed to it, in
   * order. The last id lets a live stream continue exactly after them.
   */
  async range(attemptId: number, step: number, from: number, to: number): Promise<LogChunk[]> {
    const rows = await this.db
      .selectFrom('log_chunks')
      .selectAll()
      .where('attempt_id', '=', attemptId)
      .where('step', '=', step)
      .where('offset', '<', to)
      .where(sql<number>`"offset" + length(data)`, '>', from)
      .orderBy('offset')
      .execute();
    return rows.map((row) => {
      const chunk = toChunk(row);
      const cut = Math.max(0, from - chunk.offset);
      const end = Math.max(cut, Math.min(chunk.data.length, to - chunk.offset));
      return { ...chunk, offset: chunk.offset + cut, data: chunk.data.subarray(cut, end) };
    });
  }

  /**
   * Finds `query` in one step's log (case-insensitive for ASCII letters), reading it a few
   * chunks at a time in offset order, so a log of any size is searched in bounded memory.
   * Returns at most `limit` matches, each with its line number.
   */
  async search(
    attemptId: number,
    step: number,
    query: string,
    limit: number,
  ): Promise<LogSearchResult> {
    const scanner = new LogScanner(query, limit);
    for (let after = -1; !scanner.done;) {
      const rows = await this.db
        .selectFrom('log_chunks')
        .select(['offset', 'data'])
        .where('attempt_id', '=', attemptId)
        .where('step', '=', step)
        .where('offset', '>', after)
        .orderBy('offset')
        .limit(SEARCH_PAGE)
        .execute();
      for (const row of rows) scanner.push(Number(row.offset), row.data);
      if (rows.length < SEARCH_PAGE) break;
      after = Number(rows.at(-1)!.offset);
      // The embedded driver answers synchronously: without this, a search of a large log
      // would hold the event loop (every other request) until it ends.
      await new Promise((resolve) => setImmediate(resolve));
    }
    return scanner.result();
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
