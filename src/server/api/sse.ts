/**
 * Server-Sent Events on the server side: a stream on a hijacked reply with a heartbeat,
 * the events stream of live pages (`/api/v1/events`) and the live log stream
 * (`/api/v1/builds/:id/logs?follow=1`, resumable with Last-Event-ID).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { FINISHED } from '../../store/builds.ts';
import type { Controller } from '../controller.ts';
import { CSP } from './headers.ts';
import { buildView } from './views.ts';

/** One open stream. */
export interface SseStream {
  res: FastifyReply['raw'];
  isClosed(): boolean;
  /** Ends the stream; runs the owner's clean-up once, whichever side ended it. */
  close(): void;
  /** Sends what is pending, then ends the stream (the server is closing). */
  finish(): Promise<void>;
  /** Resolves when the connection is gone. */
  done: Promise<void>;
}

/** Opens a Server-Sent Events stream on a hijacked reply, with a heartbeat. */
export function openSse(
  streams: Set<SseStream>,
  request: FastifyRequest,
  reply: FastifyReply,
  onClose: () => void,
): SseStream {
  reply.hijack();
  const res = reply.raw;
  // A hijacked reply skips the onSend hook: its security headers are set here.
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    'content-security-policy': CSP,
    'x-content-type-options': 'nosniff',
  });
  res.write('retry: 1000\n\n');
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    streams.delete(stream);
    clearInterval(heartbeat);
    onClose();
    res.end();
  };
  const stream: SseStream = {
    res,
    isClosed: () => closed,
    close,
    finish: () => Promise.resolve(close()),
    done: new Promise<void>((resolve) => res.on('close', resolve)),
  };
  streams.add(stream);
  request.raw.on('close', close);
  return stream;
}

/**
 * Everything that changes, for live pages: `build` events (the build's summary) and `queue`
 * events. The first change after a quiet spell goes out at once (a build that ended is
 * told without delay); what follows within 100 ms is coalesced into one write. Clients
 * refetch what they show; nothing polls.
 */
export function streamEvents(
  controller: Controller,
  request: FastifyRequest,
  reply: FastifyReply,
  streams: Set<SseStream>,
): void {
  const builds = new Set<number>();
  let queue = false;
  let timer: NodeJS.Timeout | undefined;
  let flushed = 0;
  const onBuild = (id: number): void => {
    builds.add(id);
    schedule();
  };
  const onQueue = (): void => {
    queue = true;
    schedule();
  };
  const sse = openSse(streams, request, reply, () => {
    if (timer) clearTimeout(timer);
    controller.events.off('build', onBuild);
    controller.events.off('queue', onQueue);
  });
  const flush = async (): Promise<void> => {
    timer = undefined;
    flushed = Date.now();
    const ids = [...builds];
    builds.clear();
    let text = '';
    for (const id of ids) {
      const build = await controller.store.builds.build(id);
      if (build) text += `event: build\ndata: ${JSON.stringify(buildView(build))}\n\n`;
    }
    if (queue) text += 'event: queue\ndata: {}\n\n';
    queue = false;
    if (text && !sse.isClosed()) sse.res.write(text);
  };
  function schedule(): void {
    // A timer even when due now: the changes of one synchronous burst go out together.
    timer ??= setTimeout(
      () => void flush().catch(() => undefined),
      Math.max(0, flushed + 100 - Date.now()),
    );
  }
  controller.events.on('build', onBuild);
  controller.events.on('queue', onQueue);
}

/** Live logs over SSE: every stored chunk after `after`, then new ones as they arrive. */
export async function streamLogs(
  controller: Controller,
  request: FastifyRequest,
  reply: FastifyReply,
  filter: { buildId: number; attemptId?: number; step?: number },
  after: number,
  streams: Set<SseStream>,
): Promise<void> {
  const store = controller.store;
  let last = after;
  let pending = false;
  let running: Promise<void> | undefined;
  const wake = (buildId: number): void => {
    if (buildId !== filter.buildId || sse.isClosed()) return;
    if (running) {
      pending = true;
      return;
    }
    running = pump()
      .catch(() => sse.close())
      .finally(() => {
        running = undefined;
        if (pending && !sse.isClosed()) wake(filter.buildId);
      });
  };
  const sse = openSse(streams, request, reply, () => {
    controller.events.off('log', wake);
    controller.events.off('build', wake);
  });
  sse.finish = async () => {
    // The server closes: the last chunks (and `end` when the build is over), then the end
    // of the stream; a client too slow to take them gets 2 s.
    wake(filter.buildId);
    const flushed = (async () => {
      while (running) await running;
    })();
    await Promise.race([flushed, new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
    sse.close();
  };
  const res = sse.res;
  const pump = async (): Promise<void> => {
    do {
      pending = false;
      for (;;) {
        const chunks = await store.logs.read({ ...filter, afterId: last, limit: 500 });
        if (chunks.length === 0 || sse.isClosed()) break;
        let text = '';
        for (const chunk of chunks) {
          text += `id: ${chunk.id}\nevent: log\ndata: ${JSON.stringify({
            attempt: chunk.attemptId,
            step: chunk.step,
            stream: chunk.stream,
            offset: chunk.offset,
            time: chunk.time,
            b64: chunk.data.toString('base64'),
          })}\n\n`;
          last = chunk.id;
        }
        if (!res.write(text)) await new Promise((resolve) => res.once('drain', resolve));
      }
      const build = await store.builds.build(filter.buildId);
      if (build && !sse.isClosed()) {
        res.write(`event: build\ndata: ${JSON.stringify(buildView(build))}\n\n`);
        if (FINISHED.has(build.status) && !pending) {
          // One more read: output stored just before the build finished.
          const rest = await store.logs.read({ ...filter, afterId: last, limit: 1 });
          if (rest.length === 0) {
            res.write('event: end\ndata: {}\n\n');
            sse.close();
            return;
          }
          pending = true;
        }
      }
    } while (pending && !sse.isClosed());
  };
  controller.events.on('log', wake);
  controller.events.on('build', wake);
  wake(filter.buildId);
  await sse.done;
}
