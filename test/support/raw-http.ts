/**
 * HTTP requests with the path sent byte for byte, as curl does: `fetch` and
 * `app.inject` normalise URLs (`/./`, `//`, percent-encoding), which would hide exactly
 * the spellings security tests need.
 */
import { request } from 'node:http';

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The body; empty when only the head was awaited. */
  body: string;
  /** The body as JSON when it is JSON, else undefined. */
  json: Record<string, unknown> | undefined;
}

/**
 * Sends one request to `base` (http://host:port) with the raw `path`. With `headOnly`
 * the answer is taken at the status line (for streams that never end).
 */
export function rawRequest(
  base: string,
  options: {
    method: string;
    path: string;
    headers?: Record<string, string>;
    body?: string;
    headOnly?: boolean;
    timeoutMs?: number;
  },
): Promise<RawResponse> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method: options.method,
        path: options.path,
        agent: false,
        headers: {
          ...(options.body !== undefined
            ? {
                'content-type': 'application/json',
                'content-length': String(Buffer.byteLength(options.body)),
              }
            : {}),
          ...options.headers,
        },
      },
      (res) => {
        const done = (body: string): void => {
          let json: Record<string, unknown> | undefined;
          try {
            json = JSON.parse(body) as Record<string, unknown>;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json });
        };
        if (options.headOnly) {
          res.destroy();
          done('');
          return;
        }
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (text: string) => (body += text));
        res.on('end', () => done(body));
        res.on('error', reject);
      },
    );
    req.setTimeout(options.timeoutMs ?? 10_000, () =>
      req.destroy(new Error(`${options.method} ${options.path}: no answer in time`)),
    );
    req.on('error', reject);
    req.end(options.body);
  });
}
