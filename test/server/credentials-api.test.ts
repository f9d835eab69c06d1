/**
 * The credentials API in-process (real store and key in a temp data directory, the fake
 * backend): create, replace, list, read and delete every kind; values are write-only (no
 * answer of any route carries a value or any of its masking forms); ids are checked
 * however they are spelled; a build gets only the credentials in its scope, masked in its
 * log, and a build outside the scope ends `error` with a diagnostic naming both.
 */
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maskingForms, parseValue, type CredentialKind } from '../../src/credentials/kinds.ts';
import { apiApp, API_TOKEN, type ApiApp } from '../support/api-app.ts';

const auth = { authorization: `Bearer ${API_TOKEN}` };
const RSA_KEY = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({
  type: 'pkcs1',
  format: 'pem',
}) as string;

const VALUES: Record<CredentialKind, Record<string, string>> = {
  secret_text: { value: 'text-s3cret-value' },
  username_password: { username: 'deployer', password: 'pa55-w0rd-x' },
  ssh_key: { private_key: RSA_KEY, passphrase: 'ssh-passphrase' },
  secret_file: {
    file_name: 'npmrc',
    content_base64: Buffer.from('//registry/:_authToken=file-t0ken\n').toString('base64'),
  },
  registry_auth: {
    docker_config: JSON.stringify({
      auths: { 'r.example': { auth: Buffer.from('robot:r3gistry-pass').toString('base64') } },
    }),
  },
  git_token: { token: 'glpat-0123456789abcdef' },
};

const PIPELINE = `jobs:
  deploy:
    image: fake/any
    secrets: [REG, TEXT]
    steps:
      - env REG; env TEXT
`;

let api: ApiApp;
/** Every answer body of the test: none may carry a value. */
const answers: string[] = [];

interface Meta {
  id: string;
  kind: string;
  scope: { jobs: string[]; branches: string[] };
  fingerprint: string;
}
interface Diagnostic {
  code: string;
  line: number;
  path: string;
  message: string;
}
/** Every field an answer of these routes may have, all optional: tests read what they need. */
interface Body extends Partial<Omit<Meta, 'id'>> {
  id?: string | number;
  code?: string;
  message?: string;
  credentials?: Meta[];
  status?: string;
  sha?: string;
  reason?: string;
  jobRuns?: unknown[];
  diagnostics?: Diagnostic[];
}

async function call(
  method: string,
  url: string,
  body?: unknown,
): Promise<{ status: number; body: Body }> {
  const response = await api.app.inject({
    method: method as 'GET',
    url,
    headers: auth,
    ...(body === undefined ? {} : { payload: body as object }),
  });
  answers.push(response.body);
  return { status: response.statusCode, body: response.body ? response.json<Body>() : {} };
}

async function trigger(body: object): Promise<Body & { id: number }> {
  const created = await call('POST', '/api/v1/jobs/app/builds', body);
  const id = Number(created.body.id);
  for (;;) {
    const { body: build } = await call('GET', `/api/v1/builds/${id}`);
    if (['success', 'failure', 'error', 'canceled'].includes(build.status ?? ''))
      return { ...build, id };
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

beforeAll(async () => {
  api = await apiApp({}, PIPELINE);
});
afterAll(async () => {
  await api.close();
  // Values are write-only: no answer of any route carried one, or any form of one.
  const forms = Object.entries(VALUES).flatMap(([kind, fields]) => {
    const parsed = parseValue(kind as CredentialKind, fields);
    if ('errors' in parsed) throw new Error(parsed.errors.join('; '));
    return maskingForms(kind as CredentialKind, parsed.value);
  });
  expect(answers.length).toBeGreaterThan(20);
  for (const form of forms)
    for (const answer of answers) expect(answer.includes(form), form.slice(0, 20)).toBe(false);
});

describe('credentials API', () => {
  it('creates, replaces, lists, reads and deletes each kind, showing only metadata', async () => {
    for (const [kind, value] of Object.entries(VALUES)) {
      const id = `c-${kind}`;
      const created = await call('PUT', `/api/v1/credentials/${id}`, { kind, value });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      expect(Object.keys(created.body).sort()).toEqual(
        [
          'createdAt',
          'createdBy',
          'fingerprint',
          'id',
          'keyId',
          'kind',
          'scope',
          'updatedAt',
        ].sort(),
      );
      expect(created.body).toMatchObject({ id, kind, scope: { jobs: [], branches: [] } });
      expect(created.body.fingerprint).toMatch(/^sha256:[0-9a-f]{16}$/);
      // The row holds no value in clear.
      const row = await api.store.credentials.get(id);
      for (const field of Object.values(value))
        expect(row!.ciphertext.includes(Buffer.from(field))).toBe(false);
    }
    const replaced = await call('PUT', '/api/v1/credentials/c-secret_text', {
      kind: 'secret_text',
      value: { value: 'another-value-1' },
      scope: { jobs: ['app'], branches: ['main'] },
    });
    expect(replaced.status).toBe(200);
    expect(replaced.body.scope).toEqual({ jobs: ['app'], branches: ['main'] });
    const list = await call('GET', '/api/v1/credentials');
    expect(list.body.credentials!.map((c) => c.id)).toEqual(
      Object.keys(VALUES)
        .map((k) => `c-${k}`)
        .sort(),
    );
    const one = await call('GET', '/api/v1/credentials/c-secret_text');
    expect(one.body.fingerprint).toBe(replaced.body.fingerprint);
    expect(one.body.fingerprint).not.toBe(
      list.body.credentials!.find((c) => c.id === 'c-git_token')!.fingerprint,
    );
    expect((await call('DELETE', '/api/v1/credentials/c-secret_text')).status).toBe(204);
    expect((await call('GET', '/api/v1/credentials/c-secret_text')).status).toBe(404);
    expect((await call('DELETE', '/api/v1/credentials/c-secret_text')).body.code).toBe(
      'credential_not_found',
    );
  });

  it('refuses bad ids, kinds, values and scopes with 400 and says what is wrong', async () => {
    for (const id of [
      '..',
      '%2e%2e',
      '.hidden',
      '-x',
      'a%2Fb',
      'a%00b',
      'caf%C3%A9',
      'x'.repeat(65),
      '%252e',
    ]) {
      const response = await call('PUT', `/api/v1/credentials/${id}`, {
        kind: 'secret_text',
        value: { value: 'long-enough' },
      });
      // `..` and `%2e%2e` are resolved by the URL parser before routing: no route at all.
      const expected = id === '..' || id === '%2e%2e' ? [404, 'not_found'] : [400, 'invalid_id'];
      expect([id, response.status, response.body.code]).toEqual([id, ...expected]);
      expect((await call('GET', `/api/v1/credentials/${id}`)).status).toBe(expected[0]);
    }
    const cases: [unknown, RegExp][] = [
      [{ kind: 'nope', value: {} }, /kind must be one of secret_text, /],
      [{ kind: 'secret_text', value: { value: 'ab' } }, /value\.value: value must be at least 4/],
      [{ kind: 'secret_text', value: { value: 'long-enough' }, extra: 1 }, /unknown field extra/],
      [
        { kind: 'secret_text', value: { value: 'long-enough' }, scope: { branches: [''] } },
        /scope\.branches/,
      ],
      [
        { kind: 'registry_auth', value: { docker_config: '{"auths":{"r":{"username":"u"}}}' } },
        /has no credentials/,
      ],
      [[1, 2], /JSON object/],
    ];
    for (const [body, expected] of cases) {
      const response = await call('PUT', '/api/v1/credentials/ok-id', body);
      expect(response.status).toBe(400);
      expect(response.body).toMatchObject({
        statusCode: 400,
        code: 'invalid_body',
        error: 'Bad Request',
      });
      expect(response.body.message).toMatch(expected);
    }
    expect((await call('GET', '/api/v1/credentials/ok-id')).status).toBe(404);
  });

  it('gives a build the credentials in its scope, masked with every form; a build outside it ends error', async () => {
    await call('PUT', '/api/v1/credentials/REG', {
      kind: 'registry_auth',
      value: VALUES.registry_auth,
      scope: { jobs: ['app'], branches: ['main'] },
    });
    await call('PUT', '/api/v1/credentials/TEXT', {
      kind: 'secret_text',
      value: VALUES.secret_text,
      scope: { jobs: ['app'] },
    });
    const ok = await trigger({});
    expect(ok.status).toBe('success');
    const log = await api.app.inject({ url: `/api/v1/builds/${ok.id}/logs?step=1`, headers: auth });
    answers.push(log.body);
    expect(log.body).toBe('***\n***\n');

    // The same commit by sha is a build of no branch: outside REG's branches.
    const sha = ok.sha!;
    const refused = await trigger({ sha });
    expect(refused.status).toBe('error');
    expect(refused.jobRuns).toEqual([]);
    expect(refused.diagnostics).toHaveLength(1);
    expect(refused.diagnostics![0]).toMatchObject({
      code: 'credential-out-of-scope',
      line: 4,
      path: 'jobs.deploy.secrets[0]',
    });
    expect(refused.diagnostics![0]!.message).toMatch(
      /credential REG, which this build of job app may not use: it is scoped to branch main, and this build is of no branch/,
    );
    expect(refused.reason).toMatch(/credential REG/);

    await call('PUT', '/api/v1/credentials/TEXT', {
      kind: 'secret_text',
      value: VALUES.secret_text,
      scope: { jobs: ['other'] },
    });
    const other = await trigger({});
    expect(other.status).toBe('error');
    expect(other.diagnostics!.map((d) => d.message).join('\n')).toMatch(
      /secret TEXT is credential TEXT, which this build of job app may not use: it is scoped to job other, not app/,
    );
  });
});

describe('credentials API without a credentials store', () => {
  it('answers every route with 503 credentials_unavailable, and documents them still', async () => {
    const bare = await apiApp({ credentials: undefined });
    try {
      for (const [method, url, payload] of [
        ['GET', '/api/v1/credentials'],
        ['GET', '/api/v1/credentials/x1'],
        ['PUT', '/api/v1/credentials/x1', { kind: 'secret_text', value: { value: 'long-enough' } }],
        ['DELETE', '/api/v1/credentials/x1'],
        ['POST', '/api/v1/credentials/rotate-key'],
      ] as const) {
        const response = await bare.app.inject({
          method,
          url,
          headers: auth,
          ...(payload ? { payload } : {}),
        });
        expect([method, url, response.statusCode]).toEqual([method, url, 503]);
        expect(response.json()).toMatchObject({ code: 'credentials_unavailable' });
      }
      const doc = await bare.app.inject({ url: '/api/v1/openapi.json', headers: auth });
      const paths = doc.json<{ paths: Record<string, object> }>().paths;
      expect(Object.keys(paths['/api/v1/credentials/{id}']!).sort()).toEqual([
        'delete',
        'get',
        'put',
      ]);
    } finally {
      await bare.close();
    }
  });
});
