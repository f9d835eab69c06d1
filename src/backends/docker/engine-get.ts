/**
 * Read-only Engine API calls without dockerode: the ping and the listings a controller
 * makes when it starts (sweeping its dead predecessor's pods). dockerode loads ssh2 and
 * its crypto (about 15 MiB resident) and is only needed once the engine runs something;
 * an idle controller makes these calls and nothing else.
 */
import { request } from 'node:http';

/** An Engine API error, shaped like dockerode's (`statusCode`, `json.message`). */
export class EngineGetError extends Error {
  constructor(
    readonly statusCode: number,
    readonly json: { message?: string } | null,
  ) {
    super(`(HTTP code ${statusCode}) ${json?.message ?? 'engine error'}`);
  }
}

/** GETs `path` from the engine on `socketPath`; resolves with the body (JSON when it is). */
export function engineGet<T>(socketPath: string, path: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const req = request({ socketPath, path, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        if (/json/.test(res.headers['content-type'] ?? '')) {
          try {
            body = JSON.parse(text) as unknown;
          } catch {
            reject(new Error(`the engine answered ${path} with invalid JSON`));
            return;
          }
        }
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) resolve(body as T);
        else reject(new EngineGetError(status, typeof body === 'object' ? body : null));
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** The `filters` query parameter of the Engine API. */
export function filtersQuery(filters: Record<string, string[]>): string {
  return `filters=${encodeURIComponent(JSON.stringify(filters))}`;
}
