/** Turning Docker Engine API failures into messages people can act on. */

interface EngineError {
  statusCode?: number;
  code?: string;
  json?: { message?: string } | null;
  reason?: string;
  message?: string;
}

/** True when the error says the engine cannot be reached at all. */
export function isEngineUnreachable(error: unknown): boolean {
  const code = (error as EngineError | undefined)?.code;
  return (
    code === 'ECONNREFUSED' ||
    code === 'ENOENT' ||
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    code === 'EACCES'
  );
}

/** True when the container or exec the call was about no longer exists. */
export function isGone(error: unknown): boolean {
  const e = error as EngineError | undefined;
  if (e?.statusCode === 404) return true;
  if (
    e?.statusCode === 409 &&
    /is not running|is restarting|removal/.test(describeDockerError(error))
  )
    return true;
  return isEngineUnreachable(error);
}

/** The engine's own message when there is one, else the transport error. */
export function describeDockerError(error: unknown): string {
  const e = error as EngineError | undefined;
  if (isEngineUnreachable(error)) {
    return `the Docker engine is not reachable (${e?.code ?? 'no connection'}); is dockerd running? (scripts/setup.sh starts it)`;
  }
  const message = e?.json?.message ?? e?.reason ?? e?.message ?? String(error);
  return message.replace(/^\(HTTP code \d+\) [a-z ]+ - /, '').trim();
}

/** Rejects when the promise takes longer than `ms`, naming what timed out. */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} took longer than ${Math.round(ms / 1000)}s`)),
      ms,
    );
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
