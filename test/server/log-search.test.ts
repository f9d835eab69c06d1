/**
 * GET /api/v1/builds/:id/logs/search in-process: a step log stored in many chunks on a real
 * store, searched on the server; bad queries get a clear 400, other builds' attempts a 404.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Controller } from '../../src/server/controller.ts';
import { createHttpServer } from '../../src/server/http.ts';
import { queuedAttempt } from '../../src/store/builds.ts';
import { openStore, type Store } from '../../src/store/open.ts';

const TOKEN = 'search-token';
const auth = { authorization: `Bearer ${TOKEN}` };
let dataDir: string;
let store: Store;
let app: FastifyInstance;
let buildId: number;
let attemptId: number;
let otherAttempt: number;
const text = Array.from({ length: 20_000 }, (_, i) =>
  i === 3 || i === 19_990 ? `line ${i}: Build FAILED here\n` : `line ${i}: fine\n`,
).join('');

async function newBuild(): Promise<{ build: number; attempt: number }> {
  return store.builds.create(
    () => ({
      build: {
        job: 'app',
        status: 'success',
        reason: '',
        cause: 'api',
        cause_detail: 'test',
        event: 'manual',
        branch: 'main',
        tag: null,
        pr: null,
        sha: 'a'.repeat(40),
        inputs: '{}',
        diagnostics: '[]',
        pipeline_text: null,
        cancel_requested: 0,
        created_at: 1,
        started_at: null,
        finished_at: null,
      },
      jobRuns: [
        {
          name: 'build',
          ordinal: 0,
          stage: 0,
          needs: '[]',
          status: 'success',
          outcome: 'success',
          reason: '',
          plan_job: '{}',
          labels: '',
          created_at: 1,
          started_at: null,
          finished_at: null,
        },
      ],
    }),
    async (tx, build, runs) => {
      const attempt = await store.builds.addAttempt(
        queuedAttempt({ jobRunId: runs[0]!.id, buildId: build.id, number: 1, queuedAt: 1 }),
        tx,
      );
      return { build: build.id, attempt: attempt.id };
    },
  );
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'slipway-search-'));
  store = await openStore(join(dataDir, 'slipway.db'));
  const controller = new Controller({
    store,
    gitCacheDir: join(dataDir, 'git'),
    logCapBytes: 64 * 1024 * 1024,
    graceMs: 1000,
    secrets: {},
  });
  app = await createHttpServer({
    controller,
    adminToken: TOKEN,
    webhookBodyBytes: 4096,
    resolveRef: () => '',
    reload: () => Promise.reject(new Error('no configuration file')),
    version: 'test',
  });
  ({ build: buildId, attempt: attemptId } = await newBuild());
  otherAttempt = (await newBuild()).attempt;
  const bytes = Buffer.from(text);
  for (let seq = 0, at = 0; at < bytes.length; seq++, at += 4096)
    await store.logs.append({
      buildId,
      attemptId,
      step: 0,
      seq,
      offset: at,
      stream: 'stdout',
      data: bytes.subarray(at, at + 4096),
    });
});

afterAll(async () => {
  await app.close();
  await store.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const search = (query: string) =>
  app.inject({ url: `/api/v1/builds/${buildId}/logs/search?${query}`, headers: auth });

describe('log search', () => {
  it('finds matches anywhere in a log of many chunks, with byte offsets and line numbers', async () => {
    const response = await search(`attempt=${attemptId}&step=0&q=build%20failed`);
    expect(response.statusCode).toBe(200);
    const body = response.json<{
      matches: { offset: number; line: number; lineStart: number }[];
      truncated: boolean;
      scanned: number;
      newlines: number;
    }>();
    expect(body.matches).toEqual(
      [3, 19_990].map((i) => {
        const lineStart = text.indexOf(`line ${i}:`);
        return { offset: text.indexOf('Build', lineStart), line: i + 1, lineStart };
      }),
    );
    expect(body).toMatchObject({ truncated: false, scanned: text.length, newlines: 20_000 });
    const limited = (await search(`attempt=${attemptId}&step=0&q=fine&limit=5`)).json<{
      matches: unknown[];
      truncated: boolean;
    }>();
    expect(limited.matches).toHaveLength(5);
    expect(limited.truncated).toBe(true);
  });

  it('answers a bad query with a 400 that says what to send', async () => {
    for (const [query, message] of [
      [`attempt=${attemptId}&step=0`, /q is the text to find/],
      [`attempt=${attemptId}&step=0&q=a%0Ab`, /one line/],
      [
        `attempt=${attemptId}&step=0&q=x&limit=0`,
        /limit "0" must be a whole number from 1 to 1000/,
      ],
      [`step=0&q=x`, /needs \?attempt=ID&step=N&q=TEXT/],
    ] as const) {
      const response = await search(query);
      expect(response.statusCode, query).toBe(400);
      expect(response.json()).toMatchObject({ statusCode: 400, code: 'invalid_query' });
      expect(response.json<{ message: string }>().message).toMatch(message);
    }
  });

  it('does not search another build through this one, and needs the token', async () => {
    const other = await search(`attempt=${otherAttempt}&step=0&q=fine`);
    expect(other.statusCode).toBe(404);
    expect(other.json()).toMatchObject({ code: 'attempt_not_found' });
    const missing = await app.inject({
      url: `/api/v1/builds/99999/logs/search?attempt=${attemptId}&step=0&q=x`,
      headers: auth,
    });
    expect(missing.json()).toMatchObject({ statusCode: 404, code: 'build_not_found' });
    const anonymous = await app.inject({
      url: `/api/v1/builds/${buildId}/logs/search?attempt=${attemptId}&step=0&q=x`,
    });
    expect(anonymous.statusCode).toBe(401);
  });
});
