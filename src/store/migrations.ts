/**
 * Versioned migrations, applied in order at start-up inside one transaction each.
 * Written with kysely's schema builder so the same migrations serve SQLite and PostgreSQL.
 * Never edit a released migration: add a new one.
 */
import type { Kysely, Migration } from 'kysely';
import { sql } from './kysely.ts';

type Db = Kysely<unknown>;

export const MIGRATIONS: Record<string, Migration> = {
  '0001_initial': {
    async up(db: Db) {
      await db.schema
        .createTable('jobs')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('repo', 'text', (c) => c.notNull())
        .addColumn('branches', 'text', (c) => c.notNull())
        .addColumn('default_branch', 'text', (c) => c.notNull())
        .addColumn('pipeline_path', 'text', (c) => c.notNull())
        .addColumn('concurrency', 'integer')
        .addColumn('cancel_older', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('schedules', 'text', (c) => c.notNull())
        .addColumn('webhook_secret', 'text')
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('builds')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('job', 'text', (c) => c.notNull())
        .addColumn('number', 'integer', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('cause', 'text', (c) => c.notNull())
        .addColumn('cause_detail', 'text', (c) => c.notNull())
        .addColumn('event', 'text', (c) => c.notNull())
        .addColumn('branch', 'text')
        .addColumn('tag', 'text')
        .addColumn('pr', 'integer')
        .addColumn('sha', 'text', (c) => c.notNull())
        .addColumn('inputs', 'text', (c) => c.notNull())
        .addColumn('diagnostics', 'text', (c) => c.notNull())
        .addColumn('pipeline_text', 'text')
        .addColumn('cancel_requested', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('started_at', 'bigint')
        .addColumn('finished_at', 'bigint')
        .addUniqueConstraint('builds_job_number', ['job', 'number'])
        .execute();
      await db.schema.createIndex('builds_status').on('builds').column('status').execute();
      await db.schema
        .createTable('job_runs')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('build_id', 'integer', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('ordinal', 'integer', (c) => c.notNull())
        .addColumn('stage', 'integer', (c) => c.notNull())
        .addColumn('needs', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('outcome', 'text')
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('plan_job', 'text', (c) => c.notNull())
        .addColumn('labels', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('started_at', 'bigint')
        .addColumn('finished_at', 'bigint')
        .addUniqueConstraint('job_runs_build_name', ['build_id', 'name'])
        .execute();
      await db.schema
        .createTable('attempts')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('job_run_id', 'integer', (c) => c.notNull())
        .addColumn('build_id', 'integer', (c) => c.notNull())
        .addColumn('number', 'integer', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('outcome', 'text')
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('priority', 'integer', (c) => c.notNull())
        .addColumn('agent', 'text')
        .addColumn('lease_until', 'bigint')
        .addColumn('deadline', 'bigint')
        .addColumn('cancel_requested', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('queued_at', 'bigint', (c) => c.notNull())
        .addColumn('started_at', 'bigint')
        .addColumn('finished_at', 'bigint')
        .addUniqueConstraint('attempts_run_number', ['job_run_id', 'number'])
        .execute();
      await db.schema.createIndex('attempts_status').on('attempts').column('status').execute();
      await db.schema
        .createTable('steps')
        .addColumn('attempt_id', 'integer', (c) => c.notNull())
        .addColumn('idx', 'integer', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('outcome', 'text')
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('exit_code', 'integer')
        .addColumn('log_bytes', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('truncated', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('started_at', 'bigint')
        .addColumn('finished_at', 'bigint')
        .addPrimaryKeyConstraint('steps_pk', ['attempt_id', 'idx'])
        .execute();
      await db.schema
        .createTable('log_chunks')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('build_id', 'integer', (c) => c.notNull())
        .addColumn('attempt_id', 'integer', (c) => c.notNull())
        .addColumn('step', 'integer', (c) => c.notNull())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('offset', 'bigint', (c) => c.notNull())
        .addColumn('stream', 'text', (c) => c.notNull())
        .addColumn('data', 'blob', (c) => c.notNull())
        .addUniqueConstraint('log_chunks_step_seq', ['attempt_id', 'step', 'seq'])
        .execute();
      await db.schema
        .createIndex('log_chunks_build')
        .on('log_chunks')
        .columns(['build_id', 'id'])
        .execute();
      await db.schema
        .createTable('deliveries')
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('delivery_id', 'text', (c) => c.notNull())
        .addColumn('job', 'text', (c) => c.notNull())
        .addColumn('build_id', 'integer')
        .addColumn('received_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('deliveries_pk', ['provider', 'delivery_id'])
        .execute();
      await db.schema
        .createTable('cron_fires')
        .addColumn('job', 'text', (c) => c.notNull())
        .addColumn('schedule', 'text', (c) => c.notNull())
        .addColumn('last_fire', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('cron_fires_pk', ['job', 'schedule'])
        .execute();
      await db.schema
        .createTable('meta')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();
      await sql`select 1`.execute(db);
    },
  },
  '0002_log_offsets': {
    async up(db: Db) {
      // Ranged reads of one step's log (the UI opens a huge log on its tail).
      await db.schema
        .createIndex('log_chunks_step_offset')
        .on('log_chunks')
        .columns(['attempt_id', 'step', 'offset'])
        .execute();
      // When the controller stored each chunk: the UI's timestamps.
      await db.schema
        .alterTable('log_chunks')
        .addColumn('created_at', 'bigint', (c) => c.notNull().defaultTo(0))
        .execute();
    },
  },
  '0003_log_raw_offsets': {
    async up(db: Db) {
      // Where each chunk ends in the step's raw (unmasked) stdout and stderr: an adopted
      // step resumes its spool there. Null for chunks stored before this migration.
      await db.schema.alterTable('log_chunks').addColumn('raw_stdout', 'bigint').execute();
      await db.schema.alterTable('log_chunks').addColumn('raw_stderr', 'bigint').execute();
    },
  },
  '0004_build_pr_fields': {
    async up(db: Db) {
      // Pull requests are builds of no branch: their target, head and forge ref stand apart,
      // with whether they are trusted; and what the commit says and who wrote it.
      for (const column of [
        'pr_target_branch',
        'pr_head_branch',
        'pr_head_repo',
        'ref',
        'trust_reason',
        'commit_message',
        'commit_author',
      ])
        await db.schema.alterTable('builds').addColumn(column, 'text').execute();
      await db.schema
        .alterTable('builds')
        .addColumn('trust', 'text', (c) => c.notNull().defaultTo('trusted'))
        .execute();
    },
  },
  '0005_credentials': {
    async up(db: Db) {
      // Credentials, their values sealed by src/credentials (never stored in clear).
      await db.schema
        .createTable('credentials')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('ciphertext', 'blob', (c) => c.notNull())
        .addColumn('nonce', 'blob', (c) => c.notNull())
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('fingerprint', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .execute();
    },
  },
};
