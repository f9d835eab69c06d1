/**
 * The kinds of credential: what each holds, how it is checked, what a build's variable
 * gets, and every string the masker must hide for it. A value is held as a small JSON
 * object (the plaintext that is sealed); no function here ever puts it in a message.
 */
import { createHash } from 'node:crypto';
import * as z from 'zod';
import { CREDENTIAL_KINDS, CREDENTIAL_VALUES } from '../api/requests.ts';
import { MIN_SECRET_LENGTH } from '../logs/secret-forms.ts';

export { CREDENTIAL_KINDS };

export type CredentialKind = (typeof CREDENTIAL_KINDS)[number];

const secret = (what: string) =>
  z
    .string({ error: `${what} is required (a string)` })
    .min(
      MIN_SECRET_LENGTH,
      `${what} must be at least ${MIN_SECRET_LENGTH} characters, or it could not be masked in logs`,
    )
    .max(1024 * 1024, `${what} is over 1 MiB`);

const SSH_KEY =
  /^-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----\r?\n[\s\S]+\r?\n-----END \1PRIVATE KEY-----\s*$/;

/**
 * The value fields of each kind, as the API takes them: the contract's shapes
 * (src/api/requests.ts, which the API document shows) with the rules of each field.
 */
export const KIND_SCHEMAS = {
  secret_text: CREDENTIAL_VALUES.secret_text.extend({ value: secret('value') }),
  username_password: CREDENTIAL_VALUES.username_password.extend({
    username: z.string().min(1, 'username is required').max(1024),
    password: secret('password'),
  }),
  ssh_key: CREDENTIAL_VALUES.ssh_key.extend({
    private_key: secret('private_key').regex(
      SSH_KEY,
      'private_key must be a PEM or OpenSSH private key (-----BEGIN … PRIVATE KEY----- to -----END … PRIVATE KEY-----)',
    ),
    passphrase: secret('passphrase').optional(),
  }),
  secret_file: CREDENTIAL_VALUES.secret_file.extend({
    file_name: z
      .string()
      .regex(
        /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/,
        'file_name must be a plain file name (letters, digits, ".", "_", "-"; no directories)',
      ),
    content_base64: z
      .string()
      .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'content_base64 must be the file content in base64')
      .refine((b64) => Buffer.from(b64, 'base64').length >= MIN_SECRET_LENGTH, {
        message: `the file must hold at least ${MIN_SECRET_LENGTH} bytes`,
      }),
  }),
  registry_auth: CREDENTIAL_VALUES.registry_auth.extend({
    docker_config: z.string().max(1024 * 1024),
  }),
  git_token: CREDENTIAL_VALUES.git_token.extend({
    token: secret('token'),
    username: z.string().min(1).max(1024).optional(),
  }),
} as const satisfies Record<CredentialKind, z.ZodType>;

export type CredentialValue<K extends CredentialKind = CredentialKind> = z.infer<
  (typeof KIND_SCHEMAS)[K]
>;

/** One registry's entry in a docker config. */
interface RegistryAuth {
  registry: string;
  username: string | null;
  password: string | null;
  auth: string | null;
  identityToken: string | null;
}

/**
 * The registries of a docker config (`{"auths": {"host": {"auth": base64(user:password)}}}`,
 * or `username`/`password`, or `identitytoken`), or why its shape is wrong. Messages never
 * quote a value.
 */
export function parseDockerConfig(text: string): RegistryAuth[] | { error: string } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return { error: 'docker_config is not JSON; give the content of a docker config.json' };
  }
  const auths = (doc as { auths?: unknown } | null)?.auths;
  if (typeof auths !== 'object' || auths === null || Array.isArray(auths))
    return { error: 'docker_config must be an object with "auths": {"registry": {...}}' };
  const entries = Object.entries(auths as Record<string, unknown>);
  if (entries.length === 0) return { error: 'docker_config.auths names no registry' };
  const result: RegistryAuth[] = [];
  for (const [registry, raw] of entries) {
    const where = `docker_config.auths["${registry}"]`;
    if (typeof raw !== 'object' || raw === null) return { error: `${where} must be an object` };
    const entry = raw as Record<string, unknown>;
    const text = (key: string): string | null | { error: string } => {
      const value = entry[key];
      if (value === undefined) return null;
      return typeof value === 'string' ? value : { error: `${where}.${key} must be a string` };
    };
    const fields = ['auth', 'username', 'password', 'identitytoken'].map(text);
    const bad = fields.find((f) => typeof f === 'object' && f !== null);
    if (bad) return bad;
    const [auth = null, first = null, second = null, identityToken = null] = fields as (
      string | null
    )[];
    let username = first;
    let password = second;
    if (auth !== null) {
      const decoded = /^[A-Za-z0-9+/]+={0,2}$/.test(auth)
        ? Buffer.from(auth, 'base64').toString('utf8')
        : '';
      const colon = decoded.indexOf(':');
      if (colon <= 0) return { error: `${where}.auth must be base64 of "username:password"` };
      username ??= decoded.slice(0, colon);
      password ??= decoded.slice(colon + 1);
    }
    if (password === null && identityToken === null)
      return {
        error: `${where} has no credentials: give "auth" (base64 of username:password), "username" and "password", or "identitytoken"`,
      };
    for (const [key, value] of [
      ['password', password],
      ['identitytoken', identityToken],
    ] as const)
      if (value !== null && value.length < MIN_SECRET_LENGTH)
        return {
          error: `${where}.${key} must be at least ${MIN_SECRET_LENGTH} characters, or it could not be masked in logs`,
        };
    result.push({ registry, username, password, auth, identityToken });
  }
  return result;
}

/**
 * Checks the value fields of a kind. Returns the value, or the problems (field and what
 * to do, never the value itself).
 */
export function parseValue(
  kind: CredentialKind,
  fields: unknown,
): { value: CredentialValue } | { errors: string[] } {
  const parsed = KIND_SCHEMAS[kind].safeParse(fields);
  if (!parsed.success)
    return {
      errors: parsed.error.issues.map((issue) => {
        const path = issue.path.join('.');
        // zod's messages for unknown keys and types are about shape, never the value.
        return path ? `${path}: ${issue.message}` : issue.message;
      }),
    };
  if (kind === 'registry_auth') {
    const auths = parseDockerConfig((parsed.data as { docker_config: string }).docker_config);
    if ('error' in auths) return { errors: [auths.error] };
  }
  return { value: parsed.data };
}

/** A SHA-256 prefix of the value: tells two values apart, safe to show. */
export function fingerprint(kind: CredentialKind, value: CredentialValue): string {
  const digest = createHash('sha256')
    .update(`${kind}\0${canonicalJson(value)}`)
    .digest('hex');
  return `sha256:${digest.slice(0, 16)}`;
}

/** JSON with sorted keys, so a fingerprint does not depend on the order fields came in. */
export function canonicalJson(value: CredentialValue): string {
  const record = value as Record<string, unknown>;
  return JSON.stringify(
    Object.fromEntries(
      Object.keys(record)
        .sort()
        .map((k) => [k, record[k]]),
    ),
  );
}

/** What a build's variable of this credential holds. */
export function envValue(kind: CredentialKind, value: CredentialValue): string {
  const v = value as Record<string, string | undefined>;
  switch (kind) {
    case 'secret_text':
      return v.value!;
    case 'username_password':
      return `${v.username}:${v.password}`;
    case 'ssh_key':
      return v.private_key!;
    case 'secret_file':
      return Buffer.from(v.content_base64!, 'base64').toString('utf8');
    case 'registry_auth':
      return v.docker_config!;
    case 'git_token':
      return v.token!;
  }
}

/**
 * Every string the masker must hide for this value, beyond the variable's own value: the
 * masker adds their encodings (base64, URL, JSON, hex) and, for multi-line ones, each
 * line. The SSH key's base64 body is added joined on one line (a tool that prints the key
 * without its line breaks), the docker config's `auth` and what it decodes to, the
 * password alone, and `user:token` (what HTTP basic auth encodes).
 */
export function maskingForms(kind: CredentialKind, value: CredentialValue): string[] {
  const v = value as Record<string, string | undefined>;
  const forms = [envValue(kind, value)];
  switch (kind) {
    case 'username_password':
      forms.push(v.password!);
      break;
    case 'ssh_key': {
      const body = v
        .private_key!.split(/\r?\n/)
        .filter((line) => line !== '' && !line.startsWith('-----') && !/^[A-Za-z-]+: /.test(line));
      forms.push(body.join(''), ...body);
      if (v.passphrase) forms.push(v.passphrase);
      break;
    }
    case 'secret_file': {
      const bytes = Buffer.from(v.content_base64!, 'base64');
      // Binary content has no text form to match; its base64 is what a log would show.
      if (Buffer.from(bytes.toString('utf8')).equals(bytes)) forms.push(bytes.toString('utf8'));
      forms.push(v.content_base64!);
      break;
    }
    case 'registry_auth': {
      const auths = parseDockerConfig(v.docker_config!);
      if (!('error' in auths))
        for (const entry of auths) {
          if (entry.auth) forms.push(entry.auth);
          if (entry.password) {
            forms.push(entry.password);
            if (entry.username) forms.push(`${entry.username}:${entry.password}`);
          }
          if (entry.identityToken) forms.push(entry.identityToken);
        }
      break;
    }
    case 'git_token':
      forms.push(`${v.username ?? 'x-access-token'}:${v.token}`, `oauth2:${v.token}`);
      break;
    case 'secret_text':
      break;
  }
  return [...new Set(forms)].filter((form) => form.length >= MIN_SECRET_LENGTH);
}
