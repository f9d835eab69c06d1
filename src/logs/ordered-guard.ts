/**
 * The last pass of the stream masker: one masker over the pieces in the order they are
 * emitted, which is the order the log, the live stream and the UI show them in.
 *
 * The stream masker matches over the input order and over each stream's own output, and
 * sets a stream's possible secret start aside when the other stream's output goes out
 * first. The emitted order can then put text next to text it never followed in the input
 * (text already released next to the other stream's later text), so pieces of a secret
 * written on both streams with other output between can meet there. This pass replaces
 * every pattern in the emitted order too, holding back only the end of what was emitted
 * that may still begin one: a line without a secret is never delayed by it.
 *
 * It works on segments: a copied segment is a run of one stream's raw bytes (so its `raw`
 * can be cut at any byte), a replacement is whole.
 */
import { decide, type Matcher } from './matcher.ts';

const EMPTY = Buffer.alloc(0);

export type StreamName = 'stdout' | 'stderr';

/** Bytes of each raw (unmasked) stream. */
export interface RawPosition {
  stdout: number;
  stderr: number;
}

export interface MaskedPiece {
  stream: StreamName;
  data: Buffer;
  /** Raw bytes of each stream consumed once this piece (and all before it) is emitted. */
  raw: RawPosition;
}

/** An emitted piece of the inner masker: copied raw bytes of one stream, or a replacement. */
export interface Segment extends MaskedPiece {
  replaced: boolean;
  /** A replacement that also took bytes of this (the other) stream. */
  also?: StreamName;
}

export interface OrderedGuard {
  /**
   * Takes the inner masker's segments; returns the pieces safe to emit now. `next` is what
   * the inner masker holds, in order, up to the first byte it may still set aside: what
   * will follow the emitted text for sure (after it, anything may). `inOrder`: nothing
   * was set aside, so the segments are in the order the inner masker matched them in.
   */
  push(
    segments: readonly Segment[],
    final: boolean,
    next?: Buffer,
    inOrder?: boolean,
  ): MaskedPiece[];
  /** Raw bytes of each stream behind everything emitted so far. */
  readonly raw: RawPosition;
}

/** A guard over the emitted order (see the top of this file). */
export function createOrderedGuard(
  matcher: () => Matcher | undefined,
  replacement: Buffer,
  start: RawPosition,
): OrderedGuard {
  let held: Segment[] = [];
  let raw: RawPosition = { ...start };
  /** The end of what each stream showed so far (its own view, replacements included). */
  const tails: Record<StreamName, Buffer> = { stdout: EMPTY, stderr: EMPTY };

  /** The raw position once held[0, pos) is emitted (pos not inside a replacement). */
  const rawAt = (pos: number): RawPosition => {
    let at = 0;
    let result = raw;
    for (const s of held) {
      if (at >= pos) break;
      const end = at + s.data.length;
      result = end <= pos ? s.raw : { ...s.raw, [s.stream]: s.raw[s.stream] - (end - pos) };
      at = end;
    }
    return result;
  };

  /** Widens `pos` to the end of a replacement it falls inside (`up`), or to its start. */
  const align = (pos: number, up: boolean): number => {
    let at = 0;
    for (const s of held) {
      const end = at + s.data.length;
      if (s.replaced && at < pos && pos < end) return up ? end : at;
      at = end;
    }
    return pos;
  };

  const streamAt = (pos: number): StreamName => {
    let at = 0;
    for (const s of held) {
      if (pos < at + s.data.length) return s.stream;
      at += s.data.length;
    }
    return held.at(-1)!.stream;
  };

  return {
    push(segments, final, next = EMPTY, inOrder = false) {
      // Segments in the order the inner masker matched them in, after nothing held here:
      // only their end can still meet what comes next (this keeps long output cheap).
      const fresh = inOrder && !final && held.length === 0;
      held.push(...segments.filter((s) => s.data.length > 0));
      const current = matcher();
      if (held.length === 0) return [];
      const buf = held.length === 1 ? held[0]!.data : Buffer.concat(held.map((s) => s.data));
      let matches: number[] = [];
      let releaseTo = buf.length;
      if (current) {
        // What may begin a secret together with what surely follows it waits; a match
        // that reaches into what follows waits whole (it is replaced once it is here).
        const ahead = final ? EMPTY : next.subarray(0, current.maxLength);
        const from = fresh ? align(Math.max(0, buf.length - current.maxLength), false) : 0;
        const own = from === 0 ? buf : buf.subarray(from);
        const view = ahead.length === 0 ? own : Buffer.concat([own, ahead]);
        const decision = decide(current, view, final, own.length);
        let found = decision.matches.map((m) => m + from);
        let to = decision.releaseTo + from;
        while (found.length > 0 && found.at(-1)! > buf.length) {
          to = Math.min(to, found.at(-2)!);
          found = found.slice(0, -2);
        }
        matches = found.map((m, i) => align(m, i % 2 === 1));
        releaseTo = align(Math.max(to, matches.at(-1) ?? 0), false);
      }
      const pieces: MaskedPiece[] = [];
      const add = (stream: StreamName, data: Buffer, to: number): void => {
        if (current) {
          const tail = Buffer.concat([tails[stream], data]);
          tails[stream] = Buffer.from(tail.subarray(-(current.maxLength - 1)));
        }
        const position = rawAt(to);
        const previous = pieces.at(-1);
        if (previous?.stream === stream) {
          previous.data = Buffer.concat([previous.data, data]);
          previous.raw = position;
        } else pieces.push({ stream, data, raw: position });
      };
      /**
       * A replacement that took bytes of `also` too: where the end of what that stream
       * showed may begin a secret, its own view would join it to the stream's next bytes
       * across the gap, so the gap is marked there as well.
       */
      const mark = (also: StreamName | undefined, to: number): void => {
        if (!also || !current) return;
        const tail = tails[also];
        if (current.prefixes.suffixStarts(tail, current.maxLength - 1).length > 0)
          add(also, replacement, to);
      };
      // Copies held[from, to) segment by segment, each with its own stream.
      const copy = (from: number, to: number): void => {
        let at = 0;
        for (const s of held) {
          const end = at + s.data.length;
          const a = Math.max(at, from);
          const b = Math.min(end, to);
          if (a < b) add(s.stream, s.data.subarray(a - at, b - at), b);
          if (a < b && s.replaced) mark(s.also, b);
          at = end;
        }
      };
      /** The other stream, when held[from, to) holds bytes (or a replacement) of it. */
      const otherIn = (stream: StreamName, from: number, to: number): StreamName | undefined => {
        const other: StreamName = stream === 'stdout' ? 'stderr' : 'stdout';
        let at = 0;
        for (const s of held) {
          const end = at + s.data.length;
          if (at < to && end > from && (s.stream === other || s.also === other)) return other;
          at = end;
        }
        return undefined;
      };
      let pos = 0;
      for (let i = 0; i < matches.length; i += 2) {
        const matchStart = Math.max(pos, matches[i]!);
        const matchEnd = matches[i + 1]!;
        if (matchEnd <= pos) continue;
        copy(pos, matchStart);
        const stream = streamAt(matchStart);
        add(stream, replacement, matchEnd);
        mark(otherIn(stream, matchStart, matchEnd), matchEnd);
        pos = matchEnd;
      }
      copy(pos, releaseTo);
      if (releaseTo > 0) raw = rawAt(releaseTo);
      // Keep held[releaseTo, end): cut a copied segment where the release ends.
      const rest: Segment[] = [];
      let at = 0;
      for (const s of held) {
        const end = at + s.data.length;
        if (end > releaseTo)
          rest.push(
            at >= releaseTo ? s : { ...s, data: Buffer.from(s.data.subarray(releaseTo - at)) },
          );
        at = end;
      }
      held = rest;
      return pieces;
    },
    get raw() {
      return { ...raw };
    },
  };
}
