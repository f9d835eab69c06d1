/**
 * The one JSON error shape of the HTTP API, `{statusCode, code, error, message}`, for
 * every way a request can fail: our own refusals, fastify's (bad JSON, wrong media type,
 * a bad URL), broken client connections, and bugs. Fastify's `FST_ERR_*` codes are mapped
 * to ours. A 5xx that is not one of our own answers tells the client only a request id;
 * the details go to the server's log under that id.
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { isApiErrorCode, type ApiErrorCode } from '../errors/index.ts';
import { ControllerError } from './api-error.ts';

const STATUS_NAMES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Payload Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

/** The reason phrase of a status code, for the `error` field. */
export function httpError(statusCode: number): string {
  return STATUS_NAMES[statusCode] ?? (statusCode >= 500 ? 'Internal Server Error' : 'Error');
}

/** Fastify's own error codes, as ours. */
const FASTIFY_CODES: Record<string, ApiErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_body',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_body',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_body',
  FST_ERR_VALIDATION: 'invalid_body',
  FST_ERR_CTP_BODY_TOO_LARGE: 'body_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_BAD_URL: 'invalid_url',
  FST_ERR_MAX_PARAM_LENGTH: 'uri_too_long',
};

/** Codes for client errors that carry no code of ours, by status. */
const CODES_BY_STATUS: Record<number, ApiErrorCode> = {
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  408: 'request_timeout',
  413: 'body_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  429: 'too_many_requests',
  431: 'headers_too_large',
};

/** The code of a request that fails its schema, by the part that failed. */
const CODES_BY_PART: Record<string, ApiErrorCode> = {
  body: 'invalid_body',
  querystring: 'invalid_query',
  params: 'invalid_id',
};

/**
 * A request that failed its route's schema (src/api/schemas.ts), as our error: the code
 * the failing field names (a custom issue's `params.code`), else the failing part's; the
 * message of each issue, a body's prefixed with the field's path.
 */
function validationError(
  error: FastifyError & { validationContext?: string },
): ControllerError | undefined {
  if (!hasZodFastifySchemaValidationErrors(error)) return undefined;
  const part = error.validationContext ?? 'body';
  const issues = error.validation;
  const named = (issues[0]?.params as { params?: { code?: unknown } } | undefined)?.params?.code;
  const code =
    typeof named === 'string' && isApiErrorCode(named)
      ? named
      : (CODES_BY_PART[part] ?? 'bad_request');
  const messages = issues.map((issue) =>
    part === 'body'
      ? `${issue.instancePath.slice(1).replaceAll('/', '.') || 'body'}: ${issue.message}`
      : issue.message,
  );
  return new ControllerError(code, [...new Set(messages)].join('; '));
}

/** A short random id for a request, for matching a 500 with its log line. */
export function requestId(): string {
  return randomBytes(6).toString('hex');
}

/** The error body for a status, code and message. */
export function errorBody(
  statusCode: number,
  code: string,
  message: string,
): { statusCode: number; code: string; error: string; message: string } {
  return { statusCode, code, error: httpError(statusCode), message };
}

/** What the client is told about an error: the status, our code and a safe message. */
export function clientError(
  error: Error & { statusCode?: number; code?: string },
  id: string,
): Record<string, unknown> & { statusCode: number } {
  if (error instanceof ControllerError)
    return errorBody(error.statusCode, error.code, error.message);
  const invalid = validationError(error as FastifyError);
  if (invalid) return errorBody(invalid.statusCode, invalid.code, invalid.message);
  const statusCode =
    typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 600
      ? error.statusCode
      : 500;
  if (statusCode >= 500)
    return {
      ...errorBody(500, 'internal', `internal error; request id ${id}`),
      requestId: id,
    };
  const code =
    (error.code !== undefined ? FASTIFY_CODES[error.code] : undefined) ??
    (statusCode === 400 && (error instanceof SyntaxError || error.code?.startsWith('FST_ERR_CTP_'))
      ? 'invalid_body'
      : (CODES_BY_STATUS[statusCode] ?? 'bad_request'));
  return errorBody(statusCode, code, error.message);
}

/** The error handler: answers in the one shape, and logs what a client is not told. */
export function createErrorHandler(
  log: (line: string) => void,
): (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => void {
  return (error, request, reply) => {
    const body = clientError(error, request.id);
    if (body.code === 'internal')
      log(
        `slipway: request ${request.id} (${request.method} ${request.url}) failed: ${error.stack ?? error.message}`,
      );
    void reply.status(body.statusCode).send(body);
  };
}

/**
 * Errors fastify raises before routing (a URL that cannot be decoded, a parameter over
 * the length limit), in the one shape.
 */
export function frameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const body = clientError(error, request.id);
  void reply.status(body.statusCode).send(body);
}

/**
 * Broken requests node refuses itself (a request not received within the timeout, headers
 * too large, malformed HTTP): answered in the one shape, then the socket is closed.
 */
export function clientErrorHandler(requestTimeoutMs: number) {
  return (error: Error & { code?: string }, socket: Socket): void => {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const body =
      error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? errorBody(
            408,
            'request_timeout',
            `the request was not received within ${Math.round(requestTimeoutMs / 1000)}s (limits.request_timeout); it was dropped`,
          )
        : error.code === 'HPE_HEADER_OVERFLOW'
          ? errorBody(431, 'headers_too_large', 'the request headers are larger than allowed')
          : errorBody(400, 'bad_request', 'the request is not valid HTTP');
    const text = JSON.stringify(body);
    if (socket.writable)
      socket.write(
        `HTTP/1.1 ${body.statusCode} ${body.error}\r\nContent-Length: ${Buffer.byteLength(text)}\r\n` +
          `Content-Type: application/json\r\nConnection: close\r\n\r\n${text}`,
      );
    socket.destroy(error);
  };
}
