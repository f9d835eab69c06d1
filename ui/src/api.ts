/**
 * The controller's API from the browser. The admin token lives in sessionStorage and goes
 * only in the Authorization header, never in a URL. Live data comes from Server-Sent
 * Events read with fetch (EventSource cannot send headers), resumed by Last-Event-ID.
 */

export interface Build {
  id: number;
  job: string;
  number: number;
  status: string;
  reason: string;
  cause: string;
  causeDetail: string;
  event: string;
  branch: string | null;
  tag: string | null;
  pr: number | null;
  sha: string;
  inputs: Record<string, unknown>;
  /** The commit's message and author, when the controller knows them. */
  commitMessage?: string | null;
  commitAuthor?: string | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

export interface Step {
  index: number;
  name: string;
  status: string;
  outcome: string | null;
  reason: string;
  exitCode: number | null;
  logBytes: number;
  truncated: boolean;
  startedAt: number | null;
  finishedAt: number | null;
}

export interface Attempt {
  id: number;
  number: number;
  status: string;
  outcome: string | null;
  reason: string;
  agent: string | null;
  queuedAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  steps: Step[];
}

export interface JobRun {
  id: number;
  name: string;
  job: string;
  matrix: Record<string, unknown>;
  stage: number;
  needs: string[];
  status: string;
  outcome: string | null;
  reason: string;
  labels: string;
  startedAt: number | null;
  finishedAt: number | null;
  attempts: Attempt[];
}

export interface Diagnostic {
  severity: string;
  code: string;
  message: string;
  file: string;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  path: string;
}

export interface BuildDetail extends Build {
  diagnostics: Diagnostic[];
  pipelineText: string | null;
  jobRuns: JobRun[];
}

export interface Job {
  name: string;
  repo: string;
  branch: string;
  source: string;
  lastBuild: Build | null;
}

export interface Input {
  type: 'string' | 'number' | 'boolean' | 'choice';
  description: string;
  required: boolean;
  default: string | number | boolean | null;
  options: string[];
}

export interface QueueEntry {
  attemptId: number;
  buildId: number;
  buildNumber: number;
  job: string;
  jobRun: string;
  labels: string;
  queuedAt: number;
  waitingFor: string;
}

export interface Agent {
  id: string;
  name: string;
  labels: string[];
  executors: number;
  backend: string;
  running: number[];
  runs: { attemptId: number; buildId: number; job: string; buildNumber: number; jobRun: string }[];
  connectedAt: number;
  lastSeen: number;
}

export interface LogChunk {
  id: number;
  offset: number;
  stream: string;
  time: number;
  b64: string;
}

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

export interface SseEvent {
  id: string | undefined;
  event: string;
  data: string;
}

/**
 * Follows an SSE endpoint until `signal` aborts; reconnects after a drop from the last
 * event id, so nothing is lost or repeated.
 */
export async function follow(
  path: string,
  onEvent: (event: SseEvent) => void,
  signal: AbortSignal,
  lastEventId?: string,
): Promise<void> {
  let last = lastEventId;
  while (!signal.aborted) {
    try {
      const response = await fetch(path, {
        headers: headers({
          accept: 'text/event-stream',
          ...(last ? { 'last-event-id': last } : {}),
        }),
        signal,
      });
      if (response.status === 401) unauthorized();
      if (!response.ok || !response.body)
        throw new ApiError(response.status, 'stream', 'stream failed');
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        for (let at = buffer.indexOf('\n\n'); at >= 0; at = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, at);
          buffer = buffer.slice(at + 2);
          let id: string | undefined;
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (field === 'id') id = value;
            else if (field === 'event') event = value;
            else if (field === 'data') data.push(value);
          }
          if (id) last = id;
          if (data.length > 0) onEvent({ id, event, data: data.join('\n') });
          if (event === 'end') return;
        }
      }
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiError && error.status === 401) return;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
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
