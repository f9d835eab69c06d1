/**
 * Requests are validated by the contract's schemas (src/api/schemas.ts) before a handler
 * runs, and each refusal names what is wrong with the code of the field that failed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_TOKEN, apiApp, type ApiApp } from '../support/api-app.ts';

let api: ApiApp;
const auth = { authorization: `Bearer ${API_TOKEN}` };

beforeAll(async () => {
  api = await apiApp();
});

afterAll(async () => {
  await api.close();
});

async function refusal(method: 'GET' | 'PUT' | 'POST', url: string, payload?: unknown) {
  const response = await api.app.inject({
    method,
    url,
    headers: auth,
    ...(payload !== undefined ? { payload: payload as object } : {}),
  });
  return { status: response.statusCode, ...response.json<{ code: string; message: string }>() };
}

describe('request validation by the contract', () => {
  it.each([
    ['GET', '/api/v1/builds/abc', 'invalid_id', /^build "abc" is not a number$/],
    ['GET', '/api/v1/builds?before=x', 'invalid_id', /^before "x" is not a number$/],
    ['GET', '/api/v1/jobs/app/builds/0', 'invalid_id', /build number "0" is not a number/],
    ['GET', '/api/v1/builds/1/logs?step=one', 'invalid_step', /step must be a number/],
    ['GET', '/api/v1/builds/1/logs?attempt=1&step=0&tail=x', 'invalid_range', /byte counts/],
    ['PUT', '/api/v1/jobs/-bad', 'invalid_name', /job name "-bad" may use letters/],
  ] as const)('%s %s: 400 %s', async (method, url, code, message) => {
    const body = await refusal(method, url, method === 'PUT' ? { repo: '/x' } : undefined);
    expect(body).toMatchObject({ status: 400, statusCode: 400, code, error: 'Bad Request' });
    expect(body.message).toMatch(message);
  });

  it('names every wrong field of a body, with its path', async () => {
    const body = await refusal('PUT', '/api/v1/jobs/new', { repo: '', branches: [1], extra: 1 });
    expect(body).toMatchObject({ status: 400, code: 'invalid_body' });
    expect(body.message).toMatch(/^repo: /);
    expect(body.message).toMatch(/branches\.0: /);
    expect(body.message).toMatch(/extra/);
    // Nothing was stored.
    expect(await api.store.jobs.get('new')).toBeUndefined();
  });

  it('refuses a trigger body with a key it does not know, and takes none at all', async () => {
    const bad = await refusal('POST', '/api/v1/jobs/app/builds', { brnach: 'main' });
    expect(bad).toMatchObject({ status: 400, code: 'invalid_body' });
    expect(bad.message).toMatch(/brnach/);
    const none = await api.app.inject({
      method: 'POST',
      url: '/api/v1/jobs/app/builds',
      headers: auth,
    });
    expect(none.statusCode).toBe(201);
  });
});
