/**
 * The one Server-Sent Events client of the web UI and the CLI: events read with
 * eventsource-parser from a fetch body, and a follower that reconnects after a drop with
 * `Last-Event-ID`, so nothing is lost or repeated. Only fetch, streams and timers: it runs
 * in Node and in the browser alike. EventSource itself is not used because it cannot send
 * the Authorization header (the token never goes in a URL).
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';

export interface SseEvent {
  /** `message` when the stream names none. */
  event: string;
  data: string;
  /** The `id` field of this event, when it had one. */
  id: string | undefined;
}

type Body = ReadableStream<Uint8Array> | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/** The pieces of a body; a ReadableStream through its reader (not every browser iterates one). */
async function* pieces(body: Body): AsyncGenerator<Uint8Array> {
  if ('getReader' in body) {
    const reader = body.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        yield value;
      }
    } finally {
      reader.releaseLock();
    }
  }
  yield* body;
}

/** The events of a stream of bytes, in order; ends with the stream (an unfinished event is dropped). */
export async function* readSse(body: Body): AsyncGenerator<SseEvent> {
  const ready: SseEvent[] = [];
  const parser = createParser({
    onEvent: (message: EventSourceMessage) =>
      ready.push({ event: message.event ?? 'message', data: message.data, id: message.id }),
  });
  const decoder = new TextDecoder();
  let endsInCr = false;
  const feed = (text: string): void => {
    if (text === '') return;
    endsInCr = text.endsWith('\r');
    parser.feed(text);
  };
  for await (const piece of pieces(body)) {
    feed(decoder.decode(piece, { stream: true }));
    yield* ready.splice(0);
  }
  feed(decoder.decode());
  // The parser waits after a final `\r` for a `\n` that may follow; at the end none can,
  // so the line it ends is complete (and only that: an unfinished event stays dropped).
  if (endsInCr) parser.feed('\n');
  yield* ready.splice(0);
}

/** Why a connection ended, for `onLost`. */
export interface SseLoss {
  /** In words: `the controller answered 503`, `the connection closed`, ... */
  reason: string;
  /** The answer, when the server answered without a stream. */
  response?: Response;
  /** What was thrown, when connecting or reading failed. */
  error?: unknown;
  /** True when nothing (not even a heartbeat) came for `idleMs`. */
  idle: boolean;
}

export interface FollowSseOptions {
  /** Opens the stream with these headers (Accept, Last-Event-ID when resuming). */
  connect(headers: Record<string, string>, signal: AbortSignal): Promise<Response>;
  /** Each event; `'end'` stops following. The id is remembered after it returns. */
  onEvent(event: SseEvent): 'end' | void | Promise<'end' | void>;
  /**
   * The stream could not be opened or ended: the milliseconds to wait before reconnecting,
   * or `false` to stop. Throwing stops too, with that error.
   */
  onLost(loss: SseLoss): number | false | Promise<number | false>;
  /** A stream opened (again). */
  onOpen?(): void;
  /** Stops following. */
  signal?: AbortSignal;
  /** Silence after which a connection counts as lost (the server's heartbeat is 15 s). */
  idleMs?: number;
  /** Resume after this event id. */
  lastEventId?: string;
}

/** Follows a stream until `onEvent` says `'end'`, `onLost` says stop, or the signal aborts. */
export async function followSse(options: FollowSseOptions): Promise<void> {
  let last = options.lastEventId;
  const outer = options.signal;
  while (!outer?.aborted) {
    const connection = new AbortController();
    const abort = (): void => connection.abort();
    outer?.addEventListener('abort', abort);
    let idle = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const alive = (): void => {
      if (options.idleMs === undefined) return;
      clearTimeout(timer);
      timer = setTimeout(() => {
        idle = true;
        connection.abort();
      }, options.idleMs);
    };
    let loss: SseLoss;
    try {
      alive();
      const response = await options.connect(
        { accept: 'text/event-stream', ...(last ? { 'last-event-id': last } : {}) },
        connection.signal,
      );
      if (!response.ok || !response.body) {
        loss = { reason: `the controller answered ${response.status}`, response, idle };
      } else {
        options.onOpen?.();
        for await (const event of readSse(watch(response.body, alive))) {
          const result = await options.onEvent(event);
          if (event.id) last = event.id;
          if (result === 'end') return;
        }
        loss = { reason: 'the connection closed', idle };
      }
    } catch (error) {
      if (outer?.aborted) return;
      loss = { reason: `the connection broke (${(error as Error).message})`, error, idle };
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener('abort', abort);
    }
    const delay = await options.onLost(loss);
    if (delay === false || outer?.aborted) return;
    await sleep(delay, outer);
  }
}

/** Passes a body's pieces through, telling `alive` of each (heartbeats included). */
async function* watch(body: Body, alive: () => void): AsyncGenerator<Uint8Array> {
  for await (const piece of pieces(body)) {
    alive();
    yield piece;
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done);
  });
}
