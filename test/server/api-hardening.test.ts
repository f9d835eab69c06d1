/**
 * What the API tells a client when something goes wrong, and what it accepts: a 500 says
 * only "internal error" and a request id (the details go to the server's log under that
 * id), fastify's own error codes never reach a client, settings given through the API
 * are checked like the configuration file's, and webhook answers say what is wrong.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_TOKEN, apiApp, HOOK_SECRET, type ApiApp } from '../support/api-app.ts';
import { jobInput } from '../support/jobs.ts';
import { rawRequest } from '../support/raw-http.ts';

const auth = { authorization: `Bearer ${API_TOKEN}` };
let api: ApiApp;

beforeAll(async () => {
  api = await apiApp();
});

afterAll(async () => {
  await api.close();
});

function push(secret = HOOK_SECRET): { headers: Record<string, string>; payload: string } {
  const payload = JSON.stringify({ ref: 'refs/heads/main', after: 'a'.repeat(40) });
  return {
    payload,
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'push',
      'x-github-delivery': `d-${Math.random()}`,
      'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(payload).digest('hex')}`,
    },
  };
}

describe('a 500', () => {
  it('tells the client only a request id, and logs the error with that id', async () => {
    // A job stored before paths were checked: git refuses the path with its own text.
    await api.store.jobs.put(
      jobInput('escape', api.repo.dir, { pipelinePath: '../../../../etc/passwd', source: 'api' }),
      Date.now(),
    );
    const response = await api.app.inject({
      method: 'POST',
      url: '/api/v1/jobs/escape/builds',
      headers: auth,
      payload: {},
    });
    expect(response.statusCode).toBe(500);
    const body = response.json<{ requestId: string }>();
    expect(body.requestId).toMatch(/^[0-9a-f]{12}$/);
    expect(body).toEqual({
      statusCode: 500,
      code: 'internal',
      error: 'Internal Server Error',
      message: `internal error; request id ${body.requestId}`,
      requestId: body.requestId,
    });
    expect(response.body).not.toMatch(/fatal|passwd|git/i);
    const line = api.logged.find((l) => l.includes(body.requestId));
    expect(line).toMatch(/POST \/api\/v1\/jobs\/escape\/builds/);
    expect(line).toMatch(/fatal: relative path syntax/);
  });
});

describe('fastify errors in our shape', () => {
  it('answers bad JSON, an empty JSON body, a wrong media type and a bad URL with our codes', async () => {
    const cases = [
      {
        request: { payload: '{"branch": ', headers: { 'content-type': 'application/json' } },
        status: 400,
        code: 'invalid_body',
      },
      {
        request: { payload: '', headers: { 'content-type': 'application/json' } },
        status: 400,
        code: 'invalid_body',
      },
      {
        request: { payload: 'branch=main', headers: { 'content-type': 'text/x-nothing' } },
        status: 415,
        code: 'unsupported_media_type',
      },
    ];
    for (const { request, status, code } of cases) {
      const response = await api.app.inject({
        method: 'POST',
        url: '/api/v1/jobs/app/builds',
        ...request,
        headers: { ...auth, ...request.headers },
      });
      const body = response.json<Record<string, unknown>>();
      expect({ status: response.statusCode, code: body.code }).toEqual({ status, code });
      expect(Object.keys(body).sort()).toEqual(['code', 'error', 'message', 'statusCode']);
      expect(response.body).not.toMatch(/FST_/i);
    }
    const base = await api.app.listen({ host: '127.0.0.1', port: 0 });
    const badUrl = await rawRequest(base, {
      method: 'GET',
      path: '/api/v1/jobs/%zz',
      headers: auth,
    });
    expect(badUrl.status).toBe(400);
    expect(badUrl.json).toMatchObject({ statusCode: 400, code: 'invalid_url' });
    expect(badUrl.body).not.toMatch(/FST_/i);
  });
});

describe('job settings through the API', () => {
  it('refuses a pipeline path that is absolute, climbs out or is malformed, with 400', async () => {
    for (const pipeline of [
      '../../../../etc/passwd',
      '/etc/passwd',
      'ci/../../secrets.yml',
      'ci\\build.yml',
      'ci/build\u0000.yml',
      'C:/build.yml',
      './.slipway.yml',
      'ci//build.yml',
    ]) {
      const response = await api.app.inject({
        method: 'PUT',
        url: '/api/v1/jobs/paths',
        headers: auth,
        payload: { repo: api.repo.dir, pipeline },
      });
      expect({ pipeline, status: response.statusCode }).toEqual({ pipeline, status: 400 });
      const body = response.json<{ code: string; message: string }>();
      expect(body.code).toBe('invalid_pipeline_path');
      expect(body.message).toMatch(/^pipeline: /);
    }
    expect(await api.store.jobs.get('paths')).toBeUndefined();
    const fine = await api.app.inject({
      method: 'PUT',
      url: '/api/v1/jobs/paths',
      headers: auth,
      payload: { repo: api.repo.dir, pipeline: 'ci/build.yml' },
    });
    expect(fine.statusCode).toBe(201);
  });

  it('refuses a webhook secret reference that does not resolve, at PUT time', async () => {
    const response = await api.app.inject({
      method: 'PUT',
      url: '/api/v1/jobs/unset-secret',
      headers: auth,
      payload: { repo: api.repo.dir, webhook_secret: 'env:SLIPWAY_TEST_UNSET_VARIABLE' },
    });
    expect(response.statusCode).toBe(400);
    const body = response.json<{ code: string; message: string }>();
    expect(body.code).toBe('invalid_webhook_secret');
    expect(body.message).toMatch(/SLIPWAY_TEST_UNSET_VARIABLE is not set/);
    expect(await api.store.jobs.get('unset-secret')).toBeUndefined();
  });
});

describe('webhook answers', () => {
  it('answers 404 for an unknown job and 403 with how to enable them for a job without a secret', async () => {
    const unknown = await api.app.inject({
      method: 'POST',
      url: '/hooks/github/no-such-job',
      ...push(),
    });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ code: 'job_not_found' });
    await api.store.jobs.put(jobInput('no-hooks', api.repo.dir), Date.now());
    const off = await api.app.inject({ method: 'POST', url: '/hooks/github/no-hooks', ...push() });
    expect(off.statusCode).toBe(403);
    const body = off.json<{ statusCode: number; code: string; message: string }>();
    expect(body).toMatchObject({ statusCode: 403, code: 'webhooks_disabled' });
    expect(body.message).toMatch(/set its webhook_secret/);
  });

  it('never names a secret that cannot be resolved: the delivery gets a 500 with a request id, the log has the reason', async () => {
    await api.store.jobs.put(
      jobInput('gone-secret', api.repo.dir, { webhookSecret: 'env:SLIPWAY_TEST_GONE_SECRET' }),
      Date.now(),
    );
    const response = await api.app.inject({
      method: 'POST',
      url: '/hooks/github/gone-secret',
      ...push(),
    });
    expect(response.statusCode).toBe(500);
    expect(response.body).not.toMatch(/SLIPWAY_TEST_GONE_SECRET|webhook_secret|env:/);
    const { requestId } = response.json<{ requestId: string }>();
    expect(api.logged.find((l) => l.includes(requestId))).toMatch(
      /SLIPWAY_TEST_GONE_SECRET is not set/,
    );
  });
});
