import { describe, expect, it } from 'vitest';
import { readSse, type SseEvent } from './sse-client.ts';

async function events(pieces: string[]): Promise<SseEvent[]> {
  const body = pieces.map((piece) => new TextEncoder().encode(piece));
  const out: SseEvent[] = [];
  for await (const event of readSse(body)) out.push(event);
  return out;
}

const STREAM =
  'retry: 1000\n\n: keep-alive\n\nid: 7\nevent: log\ndata: {"b64":"w6k="}\n\n' +
  'event: build\r\ndata: line one\r\ndata:line two\r\n\r\nevent: end\rdata: {}\r\r';

describe('readSse', () => {
  const expected: SseEvent[] = [
    { event: 'log', data: '{"b64":"w6k="}', id: '7' },
    { event: 'build', data: 'line one\nline two', id: undefined },
    { event: 'end', data: '{}', id: undefined },
  ];

  it('reads events, ids, multi-line data, comments and every kind of line end', async () => {
    expect(await events([STREAM])).toEqual(expected);
  });

  it('reads the same events however the stream is cut', async () => {
    for (let at = 0; at <= STREAM.length; at++)
      expect(await events([STREAM.slice(0, at), STREAM.slice(at)]), String(at)).toEqual(expected);
  });

  it('drops an event left unfinished when the stream ends', async () => {
    expect(await events(['id: 1\nevent: log\ndata: {}\n'])).toEqual([]);
  });
});
