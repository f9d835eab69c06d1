/**
 * The error the API shows as it is: a status code, a stable code, a sentence. Thrown by
 * the controller and the HTTP layer; the error handler (http-errors.ts) answers with it.
 */
export class ControllerError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
