/**
 * The controller's API from the browser. The admin token lives in sessionStorage and goes
 * only in the Authorization header, never in a URL. Live data comes from Server-Sent
 * Events read with fetch (EventSource cannot send headers), resumed by Last-Event-ID.
 */
import { followSse, type SseEvent } from '../../src/api/sse-client.ts';

// The API's shapes come from its one contract (src/api/schemas.ts); types only, so the
// bundle carries no schema code.
export type {
  Agent,
  Attempt,
  Build,
  BuildDetail,
  Diagnostic,
  Input,
  JobRun,
  JobWithLastBuild as Job,
  LogChunk,
  LogSearchResult,
  LogWindow as LogWindowAnswer,
  QueueEntry,
  Step,
} from '../../src/api/schemas.ts';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const TOKEN_KEY = 'slipway.token';

export function token(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value: string | null): void {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

const sessionListeners = new Set<() => void>();

/**
 * Calls `listener` when the server stops accepting the token of a signed-in tab (a 401 to
 * any request or stream): the token is dropped from session storage first.
 * Returns the unsubscribe function.
 */
export function onSessionEnd(listener: () => void): () => void {
  sessionListeners.add(listener);
  return () => {
    sessionListeners.delete(listener);
  };
}

function unauthorized(): void {
  if (token() === null) return;
  setToken(null);
  for (const listener of sessionListeners) listener();
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  return { authorization: `Bearer ${token() ?? ''}`, ...extra };
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(path, {
    method,
    headers: headers(body !== undefined ? { 'content-type': 'application/json' } : {}),
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  const data = text ? (JSON.parse(text) as unknown) : undefined;
  if (!response.ok) {
    const error = (data ?? {}) as { code?: string; message?: string };
    if (response.status === 401) unauthorized();
    throw new ApiError(
      response.status,
      error.code ?? 'error',
      error.message ?? response.statusText,
    );
  }
  return data as T;
}

export function decode(b64: string): Uint8Array {
  const binary = atob(b64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export type { SseEvent };

/**
 * Follows an SSE endpoint until `signal` aborts, with the shared client: reconnects a
 * second after a drop from the last event id, so nothing is lost or repeated; a 401 ends
 * the session and the stream.
 */
export function follow(
  path: string,
  onEvent: (event: SseEvent) => void,
  signal: AbortSignal,
  lastEventId?: string,
): Promise<void> {
  return followSse({
    signal,
    ...(lastEventId ? { lastEventId } : {}),
    connect: (extra, connection) => fetch(path, { headers: headers(extra), signal: connection }),
    onEvent(event) {
      onEvent(event);
      if (event.event === 'end') return 'end';
    },
    onLost({ response }) {
      if (response?.status === 401) {
        unauthorized();
        return false;
      }
      return 1000;
    },
  });
}

/** Downloads a URL that needs the token, through a blob (the token never goes in a URL). */
export async function download(path: string, name: string): Promise<void> {
  const response = await fetch(path, { headers: headers() });
  if (response.status === 401) unauthorized();
  if (!response.ok) throw new ApiError(response.status, 'download', response.statusText);
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
