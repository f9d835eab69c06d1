/**
 * The error the API shows as it is: a code from the catalog (src/errors/catalog.ts), its
 * status from there, and a sentence. Thrown by the controller and the HTTP layer; the
 * error handler (http-errors.ts) answers with it.
 */
import { apiErrorStatus, type ApiErrorCode } from '../errors/index.ts';

export class ControllerError extends Error {
  readonly statusCode: number;
  readonly code: ApiErrorCode;

  /**
   * `new ControllerError(code, message)`; the older `(status, code, message)` form is kept
   * for call sites being moved (the status must be the catalog's; it is not trusted).
   */
  constructor(code: ApiErrorCode, message: string);
  constructor(status: number, code: ApiErrorCode, message: string);
  constructor(first: ApiErrorCode | number, second: string, third?: string) {
    const code = (typeof first === 'number' ? second : first) as ApiErrorCode;
    super(typeof first === 'number' ? (third ?? '') : second);
    this.code = code;
    this.statusCode = apiErrorStatus(code);
  }
}
