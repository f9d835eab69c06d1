/**
 * The raw bytes of a build's log as a stream read from the store page by page, only as
 * fast as the client takes them: a download of a huge log holds about one page in
 * memory, not the whole log (ten parallel reads of a 40 MiB log used to add ~280 MB).
 */
import { Readable } from 'node:stream';
import type { LogsPort } from '../store/ports.ts';

/** About how many bytes one page read from the store holds. */
const PAGE_BYTES = 1024 * 1024;

export interface LogFilter {
  buildId: number;
  attemptId?: number;
  step?: number;
}

/** The log's bytes after chunk id `after`, in chunk order. */
export function logDownload(logs: LogsPort, filter: LogFilter, after: number): Readable {
  let last = after;
  // Chunks are a few bytes to a few hundred KiB: the page size in chunks follows the
  // sizes seen, so a page stays near PAGE_BYTES either way.
  let limit = 16;
  let reading = false;
  const stream: Readable = new Readable({
    highWaterMark: 256 * 1024,
    read() {
      if (reading) return;
      reading = true;
      // SQLite answers synchronously and loopback sockets take megabytes without
      // blocking, so without a turn of the event loop between pages one download could
      // keep the process busy for seconds: others would wait, and new connections would
      // even be dropped by the request timeout before their first byte was read.
      setImmediate(() => void page());
    },
  });
  const page = async (): Promise<void> => {
    try {
      const chunks = await logs.read({ ...filter, afterId: last, limit });
      reading = false;
      if (stream.destroyed) return; // the client went away meanwhile
      if (chunks.length === 0) {
        stream.push(null);
        return;
      }
      let bytes = 0;
      for (const chunk of chunks) bytes += chunk.data.length;
      last = chunks.at(-1)!.id;
      limit = Math.max(1, Math.min(1000, Math.floor(PAGE_BYTES / (bytes / chunks.length || 1))));
      // The whole page is pushed; the stream calls read() again only once the client
      // has taken it down below the high-water mark.
      for (const chunk of chunks) stream.push(chunk.data);
    } catch (error) {
      reading = false;
      stream.destroy(error as Error);
    }
  };
  return stream;
}
