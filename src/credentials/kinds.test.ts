/**
 * Each kind's validation, and the masker's suite for each kind: a build that prints the
 * value, or any part a tool could print alone (the password, a line of the SSH key, its
 * base64 body, the docker config's auth and what it decodes to), shows only `***`.
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CREDENTIAL_VALUES } from '../api/requests.ts';
import { createMasker } from '../logs/masker.ts';
import {
  CREDENTIAL_KINDS,
  envValue,
  fingerprint,
  KIND_SCHEMAS,
  maskingForms,
  parseValue,
  type CredentialKind,
  type CredentialValue,
} from './kinds.ts';
import { outOfScope, parseScope } from './scope.ts';

const SSH_KEY = generateKeyPairSync('ed25519').privateKey.export({
  type: 'pkcs8',
  format: 'pem',
}) as string;
const RSA_KEY = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({
  type: 'pkcs1',
  format: 'pem',
}) as string;
const DOCKER_CONFIG = JSON.stringify({
  auths: {
    'registry.example.com': { auth: Buffer.from('robot:r3gistry-pass').toString('base64') },
    'ghcr.io': { username: 'octo', password: 'ghcr-pass-0001' },
    'quay.io': { identitytoken: 'quay-identity-token' },
  },
});

/** One value of each kind, and what a careless build would print of it. */
const SAMPLES: Record<CredentialKind, { fields: Record<string, string>; leaks: string[] }> = {
  secret_text: { fields: { value: 'plain-s3cret' }, leaks: ['plain-s3cret'] },
  username_password: {
    fields: { username: 'deployer', password: 'pa55-word!' },
    leaks: [
      'pa55-word!',
      'deployer:pa55-word!',
      Buffer.from('deployer:pa55-word!').toString('base64'),
    ],
  },
  ssh_key: {
    fields: { private_key: RSA_KEY, passphrase: 'key-passphrase' },
    leaks: [
      RSA_KEY,
      ...RSA_KEY.split('\n').filter((l) => l !== '' && !l.startsWith('-----')),
      RSA_KEY.split('\n')
        .filter((l) => !l.startsWith('-----'))
        .join(''),
      'key-passphrase',
    ],
  },
  secret_file: {
    fields: {
      file_name: 'settings.xml',
      content_base64: Buffer.from('<password>file-secret-42</password>\n').toString('base64'),
    },
    leaks: [
      '<password>file-secret-42</password>',
      Buffer.from('<password>file-secret-42</password>\n').toString('base64'),
    ],
  },
  registry_auth: {
    fields: { docker_config: DOCKER_CONFIG },
    leaks: [
      DOCKER_CONFIG,
      Buffer.from('robot:r3gistry-pass').toString('base64'),
      'robot:r3gistry-pass',
      'r3gistry-pass',
      'ghcr-pass-0001',
      'octo:ghcr-pass-0001',
      'quay-identity-token',
    ],
  },
  git_token: {
    fields: { token: 'ghp_abcdefghijklmnop' },
    leaks: [
      'ghp_abcdefghijklmnop',
      Buffer.from('x-access-token:ghp_abcdefghijklmnop').toString('base64'),
    ],
  },
};

function value(kind: CredentialKind, fields: Record<string, string>): CredentialValue {
  const parsed = parseValue(kind, fields);
  if ('errors' in parsed) throw new Error(parsed.errors.join('; '));
  return parsed.value;
}

function masked(secrets: string[], text: string): string {
  const masker = createMasker(secrets);
  // Written in small pieces: a value split across writes is still caught.
  const bytes = Buffer.from(text);
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 7) out.push(masker.write(bytes.subarray(i, i + 7)));
  out.push(masker.end());
  return Buffer.concat(out).toString();
}

describe('credential kinds', () => {
  it.each(CREDENTIAL_KINDS)('%s: every form a build could print is masked', (kind) => {
    const sample = SAMPLES[kind];
    const v = value(kind, sample.fields);
    const forms = maskingForms(kind, v);
    expect(forms).toContain(envValue(kind, v));
    for (const leak of sample.leaks) {
      const log = `before ${leak} after\n`;
      const out = masked(forms, log);
      expect(out, `${kind}: ${leak.slice(0, 30)}`).toContain('***');
      expect(out).toMatch(/^before /);
      expect(out.includes(leak)).toBe(false);
    }
  });

  it('the SSH key of another algorithm (ed25519, PKCS#8) is accepted and masked line by line', () => {
    const v = value('ssh_key', { private_key: SSH_KEY });
    const line = SSH_KEY.split('\n')[1]!;
    expect(masked(maskingForms('ssh_key', v), `key: ${line}\n`)).toBe('key: ***\n');
  });

  it('refuses malformed values with the field and what to do, never quoting the value', () => {
    const cases: [CredentialKind, Record<string, unknown>, RegExp][] = [
      ['secret_text', {}, /value is required/],
      ['secret_text', { value: 'abc' }, /value must be at least 4 characters/],
      ['secret_text', { value: 'long-enough', extra: 'x' }, /unrecognized key.*extra/i],
      ['username_password', { username: '', password: 'pa55-word' }, /username is required/],
      ['ssh_key', { private_key: 'not-a-key-at-all' }, /PEM or OpenSSH private key/],
      [
        'secret_file',
        { file_name: '../etc/passwd', content_base64: 'YWJjZGVm' },
        /plain file name/,
      ],
      ['secret_file', { file_name: 'a.txt', content_base64: 'not base64!' }, /base64/],
      ['registry_auth', { docker_config: 'not-json-secret' }, /not JSON/],
      ['registry_auth', { docker_config: '{"auths":{}}' }, /names no registry/],
      [
        'registry_auth',
        { docker_config: '{"auths":{"r.io":{"auth":"bm9jb2xvbg=="}}}' },
        /base64 of "username:password"/,
      ],
      [
        'registry_auth',
        { docker_config: '{"auths":{"r.io":{"username":"u"}}}' },
        /has no credentials/,
      ],
      ['registry_auth', { docker_config: '{"registries":{}}' }, /"auths"/],
      ['git_token', { token: 12345 }, /token/],
    ];
    for (const [kind, fields, expected] of cases) {
      const parsed = parseValue(kind, fields);
      expect(parsed, `${kind} ${JSON.stringify(fields)}`).toHaveProperty('errors');
      const text = (parsed as { errors: string[] }).errors.join('; ');
      expect(text).toMatch(expected);
      for (const v of Object.values(fields))
        if (typeof v === 'string' && v.length > 5) expect(text).not.toContain(v);
    }
  });

  it.each(CREDENTIAL_KINDS)(
    '%s: takes exactly the fields the API contract documents, and refuses others',
    (kind) => {
      const shape = (schema: { shape: object }) => Object.keys(schema.shape).sort();
      expect(shape(KIND_SCHEMAS[kind])).toEqual(shape(CREDENTIAL_VALUES[kind]));
      const extra = parseValue(kind, { ...SAMPLES[kind].fields, extra_field: 'x' });
      expect('errors' in extra && extra.errors.join('; ')).toMatch(/extra_field/);
    },
  );

  it('fingerprints tell values apart, not field order, and show nothing of the value', () => {
    const a = fingerprint(
      'username_password',
      value('username_password', { username: 'u1', password: 'pass-1' }),
    );
    const b = fingerprint(
      'username_password',
      value('username_password', { password: 'pass-1', username: 'u1' }),
    );
    const c = fingerprint(
      'username_password',
      value('username_password', { username: 'u1', password: 'pass-2' }),
    );
    expect(a).toMatch(/^sha256:[0-9a-f]{16}$/);
    expect(a).toBe(b);
    expect(a).not.toBe(c);
  });
});

describe('credential scopes', () => {
  it('admits the jobs and branches it names, and refuses builds of no branch when branches are named', () => {
    const scope = { jobs: ['deploy'], branches: ['main', 'release/*'] };
    expect(outOfScope(scope, 'deploy', 'main')).toBeNull();
    expect(outOfScope(scope, 'deploy', 'release/1.2')).toBeNull();
    expect(outOfScope(scope, 'app', 'main')).toMatch(/scoped to job deploy, not app/);
    expect(outOfScope(scope, 'deploy', 'feature/x')).toMatch(
      /branches main, release\/\*.*branch feature\/x/,
    );
    expect(outOfScope(scope, 'deploy', null)).toMatch(/of no branch/);
    expect(outOfScope({ jobs: [], branches: [] }, 'any', null)).toBeNull();
  });

  it('refuses malformed scopes', () => {
    expect(parseScope({ jobs: ['a b'] })).toEqual({
      errors: ['scope.jobs: "a b" is not a job name'],
    });
    expect(parseScope({ branches: [' '] })).toHaveProperty('errors');
    expect(parseScope({ job: ['x'] })).toHaveProperty('errors');
    expect(parseScope(undefined)).toEqual({ scope: { jobs: [], branches: [] } });
  });
});
