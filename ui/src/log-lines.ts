/**
 * A step's log as lines, for the viewer: a window of the log's bytes [from, to) split into
 * lines that know their byte offset (so a match found on the server maps to a line) and,
 * when it is known, their line number. Pure: the viewer fetches, this assembles.
 */

export interface Line {
  text: string;
  /** When the controller stored the chunk the line starts in. */
  time: number;
  /** Byte offset of the line's first byte in the step's log. */
  offset: number;
}

/** Decoded text of a run of log bytes, with those bytes (newlines are found in bytes). */
export interface Piece {
  text: string;
  time: number;
  offset: number;
  bytes: Uint8Array;
}

/** A contiguous part of the log, as lines. */
export interface LogWindow {
  lines: Line[];
  /** Offset of the first line's first byte. */
  from: number;
  /** Offset after the last byte read. */
  to: number;
  /** The last line has no newline yet: the next bytes continue it. */
  open: boolean;
  /** The first line is cut: the bytes before `from` belong to it (a line longer than a window). */
  partialFirst: boolean;
  /** Line number (1-based) of the first line, when known. */
  firstLine: number | null;
}

export const EMPTY_WINDOW: LogWindow = {
  lines: [],
  from: 0,
  to: 0,
  open: false,
  partialFirst: false,
  firstLine: 1,
};

/** Decodes chunks into pieces; `decoder` carries characters split across chunks. */
export function toPieces(
  chunks: { offset: number; time: number; bytes: Uint8Array }[],
  decoder: TextDecoder,
): Piece[] {
  return chunks.map((c) => ({
    text: decoder.decode(c.bytes, { stream: true }),
    time: c.time,
    offset: c.offset,
    bytes: c.bytes,
  }));
}

/** Splits pieces into lines after `lines`; a trailing partial line stays open for the next piece. */
export function appendPieces(
  lines: Line[],
  pieces: Piece[],
  open: boolean,
): { lines: Line[]; open: boolean } {
  const out = lines.slice();
  let isOpen = open && out.length > 0;
  for (const piece of pieces) {
    const parts = piece.text.split('\n');
    // Where each part starts in bytes: after each newline byte of the piece.
    let searchFrom = 0;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      const start = i === 0 ? piece.offset : piece.offset + searchFrom;
      if (i < parts.length - 1) searchFrom = piece.bytes.indexOf(0x0a, searchFrom) + 1;
      const isLast = i === parts.length - 1;
      if (i === 0 && isOpen) {
        const previous = out[out.length - 1]!;
        out[out.length - 1] = { ...previous, text: previous.text + part };
      } else if (!(isLast && part === ''))
        out.push({ text: part, time: piece.time, offset: start });
      isOpen = isLast ? part !== '' || (i === 0 && isOpen) : false;
    }
  }
  return { lines: out, open: isOpen };
}

/**
 * A window from pieces read from `start`: when `start` is not the log's beginning, the
 * bytes up to the first newline belong to a line that began earlier and are dropped
 * (unless there is no newline at all: then the one cut line is kept, marked partial).
 */
export function windowOf(pieces: Piece[], start: number, end: number): LogWindow {
  const { lines, open } = appendPieces([], pieces, false);
  const hasNewline = lines.length > 1 || (lines.length === 1 && !open);
  if (start > 0 && hasNewline) {
    const rest = lines.slice(1);
    return {
      lines: rest,
      from: rest[0]?.offset ?? end,
      to: end,
      open: rest.length > 0 && open,
      partialFirst: false,
      firstLine: null,
    };
  }
  return {
    lines,
    from: start,
    to: end,
    open,
    partialFirst: start > 0,
    firstLine: start === 0 ? 1 : null,
  };
}

/** The window with an earlier one (ending where it starts) in front; returns how many lines came in front. */
export function prepend(
  current: LogWindow,
  earlier: LogWindow,
): { window: LogWindow; added: number } {
  let lines: Line[];
  let added: number;
  if (
    current.partialFirst &&
    earlier.open &&
    earlier.lines.length > 0 &&
    current.lines.length > 0
  ) {
    const joined = earlier.lines.at(-1)!;
    lines = [
      ...earlier.lines.slice(0, -1),
      { ...joined, text: joined.text + current.lines[0]!.text },
      ...current.lines.slice(1),
    ];
    added = earlier.lines.length - 1;
  } else {
    lines = [...earlier.lines, ...current.lines];
    added = earlier.lines.length;
  }
  const firstLine =
    earlier.from === 0 && !earlier.partialFirst
      ? 1
      : current.firstLine !== null
        ? current.firstLine - added
        : null;
  return {
    window: {
      ...current,
      lines,
      from: earlier.from,
      partialFirst: earlier.partialFirst,
      firstLine,
      open: current.lines.length === 0 ? earlier.open : current.open,
    },
    added,
  };
}

/** Index of the line that holds byte `offset`, or -1 when it is not in the window. */
export function lineAt(window: LogWindow, offset: number): number {
  const { lines } = window;
  if (lines.length === 0 || offset < window.from || offset >= window.to) return -1;
  let lo = 0;
  let hi = lines.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (lines[mid]!.offset <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
