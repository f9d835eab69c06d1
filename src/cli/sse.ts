/**
 * A Server-Sent Events reader (the WHATWG event-stream format): lines end with `\n`, `\r\n`
 * or `\r`; `data` lines join with `\n`; a blank line dispatches; `:` lines are comments.
 */

export interface SseEvent {
  /** `message` when the stream names none. */
  event: string;
  data: string;
  /** The `id` field of this event, when it had one. */
  id: string | undefined;
}

/** The events of a stream of bytes, in order; ends with the stream. */
export async function* readSse(
  body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  let event = '';
  let data: string[] = [];
  let id: string | undefined;
  for await (const piece of withEnd(body)) {
    const final = piece === undefined;
    buffer += final ? decoder.decode() : decoder.decode(piece, { stream: true });
    let start = 0;
    const ends = lineEnds(buffer);
    for (;;) {
      const end = ends(start);
      // A lone `\r` at the end of the buffer may be the first half of `\r\n`: wait.
      if (end < 0 || (!final && buffer[end] === '\r' && end === buffer.length - 1)) break;
      const line = buffer.slice(start, end);
      start = end + (buffer[end] === '\r' && buffer[end + 1] === '\n' ? 2 : 1);
      if (line === '') {
        if (data.length > 0) yield { event: event || 'message', data: data.join('\n'), id };
        event = '';
        data = [];
        id = undefined;
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id' && !value.includes('\0')) id = value;
    }
    buffer = buffer.slice(start);
  }
}

/** The pieces of a stream, then `undefined` for its end. */
async function* withEnd(
  body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): AsyncGenerator<Uint8Array | undefined> {
  for await (const piece of body) yield piece;
  yield undefined;
}

/** Finds line ends from increasing positions, each kind searched once per position (linear). */
function lineEnds(text: string): (from: number) => number {
  let lf = -2;
  let cr = -2;
  return (from) => {
    if (lf !== -1 && lf < from) lf = text.indexOf('\n', from);
    if (cr !== -1 && cr < from) cr = text.indexOf('\r', from);
    return cr < 0 ? lf : lf < 0 ? cr : Math.min(lf, cr);
  };
}
