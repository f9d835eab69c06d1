/**
 * Searching a step's log as it is read, chunk by chunk: the whole log is never in memory.
 * Matching is on bytes, case-insensitive for ASCII letters, and finds matches that span
 * two chunks (the scanner keeps the few bytes that could start one). A query never holds a
 * newline, so a match always lies within one line, and the line number and line start of
 * each match come from counting newlines on the way.
 */

/** One match: where it starts, on which line (1-based), and where that line starts. */
export interface LogMatch {
  offset: number;
  line: number;
  lineStart: number;
}

export interface LogSearchResult {
  matches: LogMatch[];
  /** More matches exist after the last one returned. */
  truncated: boolean;
  /** Bytes scanned (the log's size when not truncated). */
  scanned: number;
  /** Newlines in the bytes scanned. */
  newlines: number;
}

const NEWLINE = 0x0a;

/** Byte → byte with ASCII letters lowered (a table: one load per byte, no branches). */
const LOWER = Uint8Array.from({ length: 256 }, (_, b) => (b >= 0x41 && b <= 0x5a ? b + 0x20 : b));

function asciiLower(source: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(source.length);
  for (let i = 0; i < source.length; i++) out[i] = LOWER[source[i]!]!;
  return out;
}

/** Feeds chunks in offset order; stops taking matches after `limit` (and notes that more exist). */
export class LogScanner {
  private readonly needle: Buffer;
  private readonly fold: boolean;
  private readonly matches: LogMatch[] = [];
  private carry: Buffer = Buffer.alloc(0);
  private end = 0;
  private newlines = 0;
  private lastNewline = -1;
  /** No match may start before this (matches do not overlap). */
  private nextAllowed = 0;
  private full = false;

  constructor(
    query: string,
    private readonly limit: number,
  ) {
    if (query === '' || /[\r\n]/.test(query))
      throw new Error('a log search query is one non-empty line');
    this.needle = asciiLower(Buffer.from(query, 'utf8'));
    // Lowering every byte is most of the cost: skip it when no letter could differ in case.
    this.fold = /[A-Za-z]/.test(query);
  }

  /** Whether the limit is reached: the caller can stop reading. */
  get done(): boolean {
    return this.full;
  }

  push(offset: number, data: Uint8Array): void {
    if (this.full) return;
    // Re-sent or overlapping bytes were seen already; a gap breaks any match across it.
    let bytes = data;
    if (offset < this.end) bytes = data.subarray(Math.min(data.length, this.end - offset));
    else if (offset > this.end) this.carry = Buffer.alloc(0);
    const start = Math.max(offset, this.end);
    if (bytes.length === 0) return;
    const folded = this.fold
      ? asciiLower(bytes)
      : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    const hay = this.carry.length ? Buffer.concat([this.carry, folded]) : folded;
    const base = start - this.carry.length;
    // The carry never holds a newline, so counting starts after it.
    let counted = this.carry.length;
    const count = (upTo: number): void => {
      for (
        let n = hay.indexOf(NEWLINE, counted);
        n >= 0 && n < upTo;
        n = hay.indexOf(NEWLINE, n + 1)
      ) {
        this.newlines++;
        this.lastNewline = base + n;
      }
      counted = Math.max(counted, upTo);
    };
    for (
      let q = hay.indexOf(this.needle);
      q >= 0;
      q = hay.indexOf(this.needle, q + this.needle.length)
    ) {
      if (base + q < this.nextAllowed) continue;
      count(q);
      if (this.matches.length === this.limit) {
        this.full = true;
        this.end = base + q;
        return;
      }
      this.matches.push({
        offset: base + q,
        line: this.newlines + 1,
        lineStart: this.lastNewline + 1,
      });
      this.nextAllowed = base + q + this.needle.length;
    }
    count(hay.length);
    this.end = start + bytes.length;
    // Keep what could start a match that ends in the next chunk: never past a newline.
    const tail = hay.subarray(Math.max(0, hay.length - (this.needle.length - 1)));
    const cut = tail.lastIndexOf(NEWLINE);
    this.carry = Buffer.from(tail.subarray(cut + 1));
  }

  result(): LogSearchResult {
    return {
      matches: this.matches,
      truncated: this.full,
      scanned: this.end,
      newlines: this.newlines,
    };
  }
}
