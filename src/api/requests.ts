/**
 * The requests of the HTTP API's contract: path parameters, query strings and bodies (the
 * answers are in schemas.ts). A field that fails carries the API error code the refusal
 * uses (`params.code` of a custom issue, see `refuse`; http-errors.ts reads it); other
 * failures take the code of their part of the request (body: `invalid_body`, query:
 * `invalid_query`, path: `invalid_id`).
 */
import * as z from 'zod';
import type { ApiErrorCode } from '../errors/index.ts';

/** Adds an issue that carries the API error code the refusal answers with. */
function refuse(ctx: z.RefinementCtx, code: ApiErrorCode, message: string): typeof z.NEVER {
  ctx.addIssue({ code: 'custom', message, params: { code } });
  return z.NEVER;
}

/** A positive whole number in a path or query (`build "x" is not a number`). */
export function idOf(what: string) {
  return z
    .string()
    .meta({ description: `the ${what}, a positive whole number` })
    .transform((value, ctx) => {
      const id = Number(value);
      if (!Number.isInteger(id) || id <= 0)
        return refuse(ctx, 'invalid_id', `${what} "${value}" is not a number`);
      return id;
    });
}

/** A whole number in a query (`step`, `from`): refused with `code` when it is not one. */
function wholeNumber(code: ApiErrorCode, message: string) {
  return z.string().transform((value, ctx) => {
    const n = Number(value);
    return Number.isInteger(n) ? n : refuse(ctx, code, message);
  });
}

// ---------------------------------------------------------------------------------------
// Requests

const JOB_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export const JobParams = z.strictObject({ name: z.string() });
export const JobNameParams = z.strictObject({
  name: z
    .string()
    .transform((name, ctx) =>
      JOB_NAME.test(name)
        ? name
        : refuse(
            ctx,
            'invalid_name',
            `job name "${name}" may use letters, digits, ".", "_" and "-" (up to 63)`,
          ),
    ),
});
export const BuildParams = z.strictObject({ id: idOf('build') });
export const BuildNumberParams = z.strictObject({ job: z.string(), number: idOf('build number') });
export const HookParams = z.strictObject({ provider: z.string(), job: z.string() });

export const JobBody = z.strictObject({
  repo: z.string().min(1),
  branch: z.string().min(1).optional(),
  branches: z.array(z.string()).optional(),
  pipeline: z.string().min(1).optional(),
  concurrency: z.int().positive().nullable().optional(),
  cancel_older: z.boolean().optional(),
  webhook_secret: z
    .string()
    .regex(/^(env|file):.+$/)
    .nullable()
    .optional(),
});

/** A trigger's body; none at all is `{}`. */
export const TriggerBody = z
  .strictObject({
    branch: z.string().min(1).optional(),
    tag: z.string().min(1).optional(),
    sha: z
      .string()
      .regex(/^[0-9a-f]{7,40}$/)
      .optional(),
    inputs: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  })
  .nullish();

/** A re-run's body: `{failedOnly: true}` re-runs only the job runs that did not succeed. */
export const RerunBody = z.looseObject({ failedOnly: z.unknown().optional() }).nullish();

export const BuildsQuery = z.looseObject({
  job: z.string().optional(),
  status: z.string().optional(),
  before: idOf('before').optional(),
  limit: z
    .string()
    .optional()
    .transform((v) => Math.min(200, Math.max(1, Number(v ?? 50) || 50)))
    .meta({ description: 'how many, 1 to 200 (default 50)' }),
});

const stepQuery = wholeNumber('invalid_step', 'step must be a number');
const byteQuery = wholeNumber('invalid_range', 'tail, from and to are byte counts or offsets');

export const LogsQuery = z.looseObject({
  attempt: idOf('attempt').optional(),
  step: stepQuery.optional(),
  after: z.string().optional().meta({ description: 'the last chunk id seen' }),
  follow: z.string().optional().meta({ description: '1 or true: Server-Sent Events' }),
  tail: byteQuery.optional(),
  from: byteQuery.optional(),
  to: byteQuery.optional(),
});

const SEARCH_NEEDS = 'a log search needs ?attempt=ID&step=N&q=TEXT';
const SEARCH_TEXT = 'q is the text to find: one line of 1 to 1000 characters';

export const LogSearchQuery = z.looseObject({
  attempt: z.string({ error: SEARCH_NEEDS }).pipe(idOf('attempt')),
  step: z.string({ error: SEARCH_NEEDS }).pipe(stepQuery),
  q: z
    .string({ error: SEARCH_TEXT })
    .transform((q, ctx) =>
      q.length === 0 || q.length > 1000 || /[\r\n]/.test(q)
        ? refuse(ctx, 'invalid_query', SEARCH_TEXT)
        : q,
    ),
  limit: z
    .string()
    .optional()
    .transform((limit, ctx) => {
      const max = limit === undefined ? 100 : Number(limit);
      return Number.isInteger(max) && max >= 1 && max <= 1000
        ? max
        : refuse(ctx, 'invalid_query', `limit "${limit}" must be a whole number from 1 to 1000`);
    }),
});

export const InputsQuery = z.looseObject({ branch: z.string().optional() });

// ---------------------------------------------------------------------------------------
// Credentials (the rules beyond shape, like minimum lengths, are src/credentials/kinds.ts's)

/** What may name a credential: no path separators, no encodings, no leading dot. */
export const CREDENTIAL_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/;

/** The kinds of credential (src/credentials/kinds.ts says what each holds). */
export const CREDENTIAL_KINDS = [
  'secret_text',
  'username_password',
  'ssh_key',
  'secret_file',
  'registry_auth',
  'git_token',
] as const;

export const CredentialParams = z.strictObject({
  id: z
    .string()
    .meta({ description: 'the credential id: 1 to 64 letters, digits, ".", "_" or "-"' })
    .transform((id, ctx) =>
      CREDENTIAL_ID.test(id)
        ? id
        : refuse(
            ctx,
            'invalid_id',
            'a credential id is 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit',
          ),
    ),
});

/** The value fields of each kind (write-only: no answer ever carries them). */
export const CREDENTIAL_VALUES = {
  secret_text: z.strictObject({ value: z.string() }),
  username_password: z.strictObject({ username: z.string(), password: z.string() }),
  ssh_key: z.strictObject({ private_key: z.string(), passphrase: z.string().optional() }),
  secret_file: z.strictObject({
    file_name: z.string(),
    content_base64: z.string().meta({ description: 'the file content in base64' }),
  }),
  registry_auth: z.strictObject({
    docker_config: z.string().meta({ description: 'the content of a docker config.json' }),
  }),
  git_token: z.strictObject({ token: z.string(), username: z.string().optional() }),
} as const satisfies Record<(typeof CREDENTIAL_KINDS)[number], z.ZodType>;

/** Where a credential may be used; a missing list (or scope) means any. */
export const CredentialScopeBody = z.strictObject({
  jobs: z.array(z.string()).optional().meta({ description: 'job names; empty: every job' }),
  branches: z
    .array(z.string())
    .optional()
    .meta({ description: 'branch globs; empty: every build, branch or not' }),
});

const BODY_SHAPE =
  'the body is a JSON object {"kind": ..., "value": {...}, "scope": {"jobs": [...], "branches": [...]}}';

function credentialBody<K extends (typeof CREDENTIAL_KINDS)[number]>(kind: K) {
  return z.strictObject(
    { kind: z.literal(kind), value: CREDENTIAL_VALUES[kind], scope: CredentialScopeBody.nullish() },
    {
      error: (issue) =>
        issue.code === 'unrecognized_keys'
          ? `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}: the body has kind, value and scope`
          : undefined,
    },
  );
}

/** The body of `PUT /api/v1/credentials/:id`, one shape per kind. */
export const CredentialBody = z.discriminatedUnion(
  'kind',
  [
    credentialBody('secret_text'),
    credentialBody('username_password'),
    credentialBody('ssh_key'),
    credentialBody('secret_file'),
    credentialBody('registry_auth'),
    credentialBody('git_token'),
  ],
  {
    error: (issue) =>
      typeof issue.input !== 'object' || issue.input === null || Array.isArray(issue.input)
        ? BODY_SHAPE
        : `kind must be one of ${CREDENTIAL_KINDS.join(', ')}`,
  },
);

/** The body of `PUT /api/v1/jobs/:name`. */
export type JobBody = z.input<typeof JobBody>;
/** The body of `POST /api/v1/jobs/:name/builds`. */
export type TriggerBody = z.input<typeof TriggerBody>;
/** The body of `PUT /api/v1/credentials/:id`. */
export type CredentialBody = z.input<typeof CredentialBody>;
