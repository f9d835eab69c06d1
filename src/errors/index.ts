/**
 * Operational errors: things that go wrong while Slipway works (a file that cannot be
 * read, an engine that does not answer). Thrown, with one base class and a stable code
 * from one catalog. This file is the catalog of every error code Slipway can produce
 * outside diagnostics and outcomes: the HTTP API's codes (each with its status) and the
 * command-line client's operational codes (`SW_*`, exit code 2). Every code is documented
 * in docs/errors.md under a `### \`code\`` heading; test/errors-doc.test.ts keeps both in
 * step, both ways. (One file on purpose: every CLI command loads it, see cli-startup.)
 *
 * Problems in a user's configuration are diagnostics (src/pipeline/diagnostics.ts), and
 * how a step ended is an outcome; neither is thrown.
 */

/** An API error code: the HTTP status it is answered with, and what it means. */
export interface ApiErrorEntry {
  readonly status: number;
  readonly meaning: string;
}

/** Every code the HTTP API answers with, in the body `{statusCode, code, error, message}`. */
export const API_ERRORS = {
  bad_request: {
    status: 400,
    meaning: 'A request that is not valid HTTP, or another malformed request.',
  },
  invalid_body: {
    status: 400,
    meaning:
      'The body does not match the route (or is JSON that does not parse); the message names the field.',
  },
  invalid_id: {
    status: 400,
    meaning:
      'A build, attempt or build number in the path or query is not a positive whole number, or a credential id is malformed.',
  },
  invalid_name: {
    status: 400,
    meaning: 'A job name that is not letters, digits, ".", "_" and "-" (up to 63).',
  },
  invalid_query: {
    status: 400,
    meaning: 'A query parameter is missing or malformed; the message says what to send.',
  },
  invalid_range: {
    status: 400,
    meaning: "A log window's `tail`, `from` or `to` is not a byte count or offset.",
  },
  invalid_step: { status: 400, meaning: 'A `step` that is not a whole number.' },
  invalid_url: { status: 400, meaning: 'The path has a percent-encoding that cannot be decoded.' },
  invalid_pipeline_path: {
    status: 400,
    meaning: "A job's `pipeline` is not a path inside the repository.",
  },
  invalid_webhook_secret: {
    status: 400,
    meaning: "A job's `webhook_secret` reference does not resolve now.",
  },
  invalid_delivery: { status: 400, meaning: 'A signed webhook body that is not a usable payload.' },
  invalid_config: {
    status: 400,
    meaning: 'A configuration reload was refused; the running configuration stays.',
  },
  unauthorized: { status: 401, meaning: 'No `Authorization: Bearer <token>`, or the wrong token.' },
  bad_signature: {
    status: 401,
    meaning: 'A webhook without a valid signature or token; nothing was queued.',
  },
  forbidden: { status: 403, meaning: 'The request is not allowed.' },
  webhooks_disabled: { status: 403, meaning: 'A webhook for a job without a `webhook_secret`.' },
  not_found: { status: 404, meaning: 'No such route.' },
  job_not_found: { status: 404, meaning: 'No such job.' },
  build_not_found: { status: 404, meaning: 'No such build.' },
  attempt_not_found: { status: 404, meaning: 'The attempt is not part of the build in the path.' },
  branch_not_found: { status: 404, meaning: "The job's repository has no such branch." },
  credential_not_found: { status: 404, meaning: 'No credential with this id.' },
  unknown_provider: {
    status: 404,
    meaning: 'A webhook path other than `/hooks/github|gitlab|gitea/JOB`.',
  },
  method_not_allowed: { status: 405, meaning: 'The route does not take this method.' },
  request_timeout: {
    status: 408,
    meaning: 'The request was not received within `limits.request_timeout`.',
  },
  job_read_only: {
    status: 409,
    meaning: 'The job comes from the configuration file; change it there.',
  },
  build_running: { status: 409, meaning: 'A re-run of a build that has not finished.' },
  nothing_to_rerun: { status: 409, meaning: 'A re-run of a build that has no jobs.' },
  not_triggered: { status: 409, meaning: 'The API was asked for a build that was not created.' },
  body_too_large: { status: 413, meaning: 'A body over the limit.' },
  uri_too_long: { status: 414, meaning: 'A path parameter over the length limit.' },
  unsupported_media_type: {
    status: 415,
    meaning: 'A body whose `Content-Type` the route does not take.',
  },
  invalid_inputs: {
    status: 422,
    meaning: 'Manual inputs do not match `on.manual.inputs`; `diagnostics` lists each.',
  },
  too_many_requests: {
    status: 429,
    meaning: 'Too many wrong tokens from this address; see `Retry-After`.',
  },
  headers_too_large: { status: 431, meaning: 'The request headers are larger than allowed.' },
  internal: {
    status: 500,
    meaning: 'A bug or a broken dependency; the message has only a request id.',
  },
  fetch_failed: { status: 502, meaning: "The job's repository could not be fetched." },
  store_unavailable: {
    status: 503,
    meaning: 'The store cannot do this now (full disk, I/O error, damaged file).',
  },
  credentials_unavailable: {
    status: 503,
    meaning: 'The server was made without a credentials store (an embedding or a test).',
  },
} as const satisfies Record<string, ApiErrorEntry>;

/** A code of the HTTP API. */
export type ApiErrorCode = keyof typeof API_ERRORS;

/** Every API code, for schemas and tests. */
export const API_ERROR_CODES = Object.keys(API_ERRORS) as [ApiErrorCode, ...ApiErrorCode[]];

/** The HTTP status of an API code. */
export function apiErrorStatus(code: ApiErrorCode): number {
  return API_ERRORS[code].status;
}

/** True when `code` is a code of the API catalog. */
export function isApiErrorCode(code: string): code is ApiErrorCode {
  return Object.hasOwn(API_ERRORS, code);
}

/** The operational error codes of the command-line client (`SlipwayError`, exit code 2). */
export const ERROR_CODES = {
  SW_FILE_NOT_FOUND: 'A file or directory named on the command line does not exist.',
  SW_FILE_UNREADABLE: 'A file exists but could not be read.',
  SW_INVALID_ARGUMENT: 'An option value is malformed, such as `--input x` without `=`.',
  SW_ENGINE_UNREACHABLE: 'The container engine (Docker) does not answer.',
  SW_CONFIG_INVALID: 'The controller configuration file is invalid or references a missing secret.',
  SW_STORE_UNUSABLE:
    "The controller's store file cannot be opened, is not a SQLite database, or is damaged.",
  SW_SERVER_UNREACHABLE: 'The controller named by --server / SLIPWAY_SERVER does not answer.',
  SW_API_ERROR: 'The controller refused a request; its error code and message are shown.',
  SW_CREDENTIALS_KEY:
    'The credentials key is missing, malformed, or not the key the stored credentials were encrypted with.',
  SW_INTERNAL: 'A bug in Slipway: something that should not happen did. Please report it.',
} as const;

/** A code of `SlipwayError`. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** The one base class of Slipway's operational errors. */
export class SlipwayError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SlipwayError';
  }
}

/** True for a SlipwayError with the given code. */
export function isSlipwayError(error: unknown, code?: ErrorCode): error is SlipwayError {
  return error instanceof SlipwayError && (code === undefined || error.code === code);
}
