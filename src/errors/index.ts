/**
 * Operational errors: things that go wrong while Slipway works (a file that cannot be
 * read, an engine that does not answer). Thrown, with one base class and a stable code
 * from one catalog. Every code is documented in docs/errors.md; a test keeps them in step.
 *
 * Problems in a user's configuration are diagnostics (src/pipeline/diagnostics.ts), and
 * how a step ended is an outcome; neither is thrown.
 */

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
