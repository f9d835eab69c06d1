/**
 * One secret masker over both streams of a step, in the order their bytes arrived: a
 * value split across stdout and stderr is caught like one split across writes, and the
 * output keeps the order of the input. Each piece it returns is tagged with its stream;
 * a masked region belongs to the stream where it began.
 *
 * Matching is one leftmost-longest replace over the concatenation of every write, however
 * the input was split; every byte keeps its stream. Like the one-stream masker it holds
 * back only what may still begin a secret: the longest such suffix of both streams
 * together, and of each stream's own output. That per-stream prefix stays in place while
 * nothing of the other stream after it goes out; when the other stream's output goes out,
 * it is set aside and put back in front of its stream's next bytes. So a secret written in
 * pieces on one stream, around lines of the other, is masked, and the other stream is never
 * delayed for it; the ordered view then shows the prefix after those lines (within each
 * stream the order is kept). Since that order can put text next to text it never
 * followed, a last pass (ordered-guard.ts) masks the emitted order too, and marks a
 * cross-stream match in the other stream's own view where that stream's text may begin a
 * secret. With `swapWindowMs: 0` and no prefix set aside, the output is one replace over
 * the concatenation (plus such marks).
 *
 * The engine reads a step's stdout and stderr through separate pipes, so two writes made
 * microseconds apart on different streams can arrive swapped (measured: a third of the
 * time with Docker). So the first bytes of each run of one stream (where the stream
 * changes, or after a pause) wait up to `swapWindowMs` for the other stream: if bytes the other stream then writes end with
 * the beginning of a pattern whose rest starts that run, the two were swapped by the
 * engine, and the masker puts them back in writing order before matching.
 *
 * Every piece carries `raw`: how many input bytes of each stream are behind it. A step
 * resumed from those offsets re-reads exactly what was held back, so nothing held is lost
 * or shown.
 */
import { decide, findMatches } from './matcher.ts';
import { matcherFor, secretPatterns } from './masker.ts';
import {
  createOrderedGuard,
  type MaskedPiece,
  type RawPosition,
  type Segment,
  type StreamName,
} from './ordered-guard.ts';

export type { MaskedPiece, RawPosition, StreamName } from './ordered-guard.ts';

export interface StreamMaskerOptions {
  replacement?: string;
  /** Raw bytes of each stream consumed before this masker started (a resumed step). */
  start?: RawPosition;
  /** How long the start of a run of one stream waits for the other (ms); 0 turns it off. */
  swapWindowMs?: number;
  now?: () => number;
}

export interface StreamMasker {
  /** The pieces that are safe to emit now, in order (possibly none). */
  write(stream: StreamName, chunk: Buffer): MaskedPiece[];
  /** When held bytes are due for `release` (epoch ms), or undefined. */
  due(): number | undefined;
  /** Emits what waited for the other stream and is now due. */
  release(): MaskedPiece[];
  /** Flushes everything held, masked. */
  end(): MaskedPiece[];
  /** Registers a secret found at run time; it applies to every byte not yet returned. */
  addSecret(value: string): void;
  /** Raw bytes of each stream behind everything emitted so far. */
  readonly raw: RawPosition;
}

/**
 * Default wait for the other stream: above the swaps measured with Docker on a loaded
 * machine (up to 40 ms apart; most under 2 ms), and well below a 250 ms live budget.
 */
export const SWAP_WINDOW_MS = 50;
/** A run waits no longer for the other stream once this much follows it (bounds memory). */
const MAX_SWAP_HOLD = 64 * 1024;
/** A write after this long a pause starts a new run even on the same stream. */
const RUN_GAP_MS = 5;
/** How far into a run a swapped pattern's start is looked for (bounds the work per run). */
const SPLIT_SEARCH = 4096;

interface Run {
  stream: StreamName;
  data: Buffer;
}

/**
 * Where a run of one stream starts (absolute position in the masker's input), and until
 * when it waits for the other stream. Kept in input order, so deadlines ascend too.
 */
interface Junction {
  at: number;
  stream: StreamName;
  deadline: number;
}

const EMPTY = Buffer.alloc(0);

const other = (stream: StreamName): StreamName => (stream === 'stdout' ? 'stderr' : 'stdout');

/** A masker over both streams of one step (see the top of this file). */
export function createStreamMasker(
  secrets: readonly string[],
  options: StreamMaskerOptions = {},
): StreamMasker {
  const replacement = Buffer.from(options.replacement ?? '***');
  const windowMs = options.swapWindowMs ?? SWAP_WINDOW_MS;
  const now = options.now ?? Date.now;
  const consumed: RawPosition = { stdout: 0, stderr: 0, ...options.start };
  let values = [...secrets];
  let matcher = matcherFor(values);
  let patterns = secretPatterns(values);
  let runs: Run[] = [];
  let heldLength = 0;
  /** Absolute input position of the first held byte. */
  let base = 0;
  let junctions: Junction[] = [];
  let last: StreamName | undefined;
  let lastWrite = -Infinity;
  /**
   * Per stream: the end of its own output that may begin a secret, set aside when the
   * other stream's output after it went out. It goes back in front of the stream's next
   * bytes, so a secret written in pieces around the other stream's lines is still whole.
   */
  const pending: Record<StreamName, Buffer> = { stdout: EMPTY, stderr: EMPTY };
  /** How many times bytes were set aside or moved (the guard then checks all it gets). */
  let moves = 0;
  /** The last pass, over the order the pieces go out in (ordered-guard.ts). */
  const guard = createOrderedGuard(() => matcher, replacement, consumed);

  /**
   * The longest end of `stream`'s own bytes in held[from, end) that is a proper prefix of
   * some pattern, as held positions [start, end), or undefined. Only the last
   * (longest pattern − 1) bytes of the stream are read.
   */
  const candidateOf = (stream: StreamName, from: number): [number, number] | undefined => {
    const window = matcher!.maxLength - 1;
    const parts: { at: number; data: Buffer }[] = [];
    let length = 0;
    let end = heldLength;
    for (let i = runs.length - 1; i >= 0 && length < window && end > from; i--) {
      const r = runs[i]!;
      const start = end - r.data.length;
      if (r.stream === stream) {
        const at = Math.max(start, from, end - (window - length));
        parts.unshift({ at, data: r.data.subarray(at - start) });
        length += end - at;
      }
      end = start;
    }
    if (length === 0) return undefined;
    const own = parts.length === 1 ? parts[0]!.data : Buffer.concat(parts.map((p) => p.data));
    const first = matcher!.prefixes.suffixStarts(own, window)[0];
    if (first === undefined) return undefined;
    let skip = first;
    const part = parts.findIndex((p) => (skip -= p.data.length) < 0);
    const last = parts.at(-1)!;
    return [parts[part]!.at + parts[part]!.data.length + skip, last.at + last.data.length];
  };

  /** `stream`'s bytes in held[from, to), in order. */
  const ownBytes = (stream: StreamName, from: number, to: number): Buffer => {
    const parts: Buffer[] = [];
    let start = 0;
    for (const r of runs) {
      const end = start + r.data.length;
      if (r.stream === stream && end > from && start < to)
        parts.push(r.data.subarray(Math.max(0, from - start), Math.min(r.data.length, to - start)));
      start = end;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  };

  /** The held position of `stream`'s `k`-th byte from held position `from` on. */
  const positionOf = (stream: StreamName, from: number, k: number): number => {
    let start = 0;
    for (const r of runs) {
      const end = start + r.data.length;
      if (r.stream === stream && end > from) {
        const at = Math.max(start, from);
        if (k < end - at) return at + k;
        k -= end - at;
      }
      start = end;
    }
    return heldLength;
  };

  /** `stream`'s own possible secret start, outside every final match that holds its bytes. */
  const ownCandidate = (
    stream: StreamName,
    matches: readonly number[],
  ): [number, number] | undefined => {
    let from = 0;
    for (;;) {
      const candidate = candidateOf(stream, from);
      if (!candidate) return undefined;
      let next = from;
      for (let i = 0; i < matches.length; i += 2)
        if (matches[i]! < candidate[1] && matches[i + 1]! > candidate[0]) next = matches[i + 1]!;
      if (next === from) return candidate;
      from = next;
    }
  };

  /** Removes `stream`'s bytes in held[from, to) and returns them (junctions follow). */
  const extract = (stream: StreamName, from: number, to: number): Buffer => {
    const taken: Buffer[] = [];
    const rest: Run[] = [];
    let start = 0;
    for (const r of runs) {
      const end = start + r.data.length;
      const a = Math.max(start, from) - start;
      const b = Math.min(end, to) - start;
      if (r.stream === stream && a < b) {
        taken.push(r.data.subarray(a, b));
        if (a > 0) rest.push({ stream, data: r.data.subarray(0, a) });
        if (b < r.data.length) rest.push({ stream, data: r.data.subarray(b) });
      } else rest.push(r);
      start = end;
    }
    const out = Buffer.concat(taken);
    moves++;
    runs = rest;
    heldLength -= out.length;
    // A run that began inside the moved bytes waits no longer; later ones move with the rest.
    junctions = junctions
      .filter((j) => j.at - base < from || j.at - base >= to)
      .map((j) => (j.at - base >= to ? { ...j, at: j.at - out.length } : j));
    return out;
  };

  /**
   * Before `stream` writes `chunk`: the stream's possible secret start, where the other
   * stream's bytes followed it, moves to just before the chunk when the stream's own
   * output needs it there (a match or a possible start begins in it). Otherwise it stays
   * in its place, and the output keeps the order it was written in.
   */
  const join = (stream: StreamName, chunk: Buffer): Buffer => {
    if (pending[stream].length > 0) {
      const joined = Buffer.concat([pending[stream], chunk]);
      pending[stream] = EMPTY;
      return joined;
    }
    if (!runs.some((r) => r.stream !== stream)) return chunk;
    const candidate = candidateOf(stream, 0);
    if (!candidate || candidate[1] === heldLength) return chunk;
    const own = ownBytes(stream, candidate[0], candidate[1]);
    const { matches, releaseTo } = decide(matcher!, Buffer.concat([own, chunk]), false);
    const need = Math.min(matches[0] ?? Infinity, releaseTo);
    if (need >= own.length) return chunk;
    const from = need === 0 ? candidate[0] : positionOf(stream, candidate[0], need);
    return Buffer.concat([extract(stream, from, candidate[1]), chunk]);
  };

  /** Emits held[0, to) with `matches` replaced, each byte tagged with its run's stream. */
  const emit = (buf: Buffer, matches: readonly number[], to: number): Segment[] => {
    const pieces: Segment[] = [];
    // One segment per copied run and per replacement: the guard cuts copies at any byte.
    const push = (stream: StreamName, data: Buffer, replaced = false): void => {
      pieces.push({ stream, data, raw: { ...consumed }, replaced });
    };
    /** The streams whose bytes the last `take` consumed. */
    const took = new Set<StreamName>();
    let run = 0;
    let runStart = 0;
    // Consumes held[from, until) run by run; copies it out unless it is a replaced match.
    const take = (from: number, until: number, copy: boolean): void => {
      took.clear();
      for (let pos = from; pos < until;) {
        while (runStart + runs[run]!.data.length <= pos) runStart += runs[run++]!.data.length;
        const { stream, data } = runs[run]!;
        const end = Math.min(until, runStart + data.length);
        consumed[stream] += end - pos;
        took.add(stream);
        if (copy) push(stream, buf.subarray(pos, end));
        pos = end;
      }
    };
    const streamAt = (pos: number): StreamName => {
      let start = 0;
      for (const r of runs) {
        if (pos < start + r.data.length) return r.stream;
        start += r.data.length;
      }
      return runs.at(-1)!.stream;
    };
    let pos = 0;
    for (let i = 0; i < matches.length; i += 2) {
      const start = matches[i]!;
      const end = matches[i + 1]!;
      take(pos, start, true);
      const stream = streamAt(start);
      take(start, end, false);
      push(stream, replacement, true);
      if (took.has(other(stream))) pieces.at(-1)!.also = other(stream);
      pos = end;
    }
    take(pos, to, true);
    keep(to);
    return pieces;
  };

  /** Keeps held[to, end) as the new held runs. */
  const keep = (to: number): void => {
    const rest: Run[] = [];
    let start = 0;
    for (const r of runs) {
      const end = start + r.data.length;
      if (end > to) {
        const from = Math.max(0, to - start);
        rest.push({ stream: r.stream, data: Buffer.from(r.data.subarray(from)) });
      }
      start = end;
    }
    runs = rest;
    heldLength -= to;
    base += to;
    while (junctions.length > 0 && junctions[0]!.at < base) junctions.shift();
  };

  /** Masks and emits what can go now; `final` releases everything. */
  const flush = (final: boolean): Segment[] => {
    if (final)
      for (const stream of ['stdout', 'stderr'] as const)
        if (pending[stream].length > 0) {
          runs.push({ stream, data: pending[stream] });
          heldLength += pending[stream].length;
          pending[stream] = EMPTY;
        }
    if (heldLength === 0 || !matcher) return [];
    const time = now();
    if (final) junctions = [];
    for (;;) {
      // Runs that waited long enough, or that much output followed, wait no longer.
      while (
        junctions.length > 0 &&
        (junctions[0]!.deadline <= time || base + heldLength - junctions[0]!.at > MAX_SWAP_HOLD)
      )
        junctions.shift();
      const limit = junctions.length > 0 ? junctions[0]!.at - base : heldLength;
      if (limit === 0 && !final) return [];
      const buf = runs.length === 1 ? runs[0]!.data : Buffer.concat(runs.map((r) => r.data));
      let { matches, releaseTo } = decide(matcher, buf, final, limit);
      if (final || releaseTo === 0 || !runs.some((r) => r.stream !== runs[0]!.stream))
        return releaseTo === 0 ? [] : emit(buf, matches, releaseTo);
      // What may begin a secret in one stream's own output waits too: in place while
      // nothing of the other stream after it goes out, else set aside (see `pending`).
      const candidates = (['stdout', 'stderr'] as const).flatMap((stream) => {
        const candidate = ownCandidate(stream, matches);
        return candidate ? [{ stream, candidate }] : [];
      });
      for (let changed = true; changed;) {
        changed = false;
        for (const { candidate } of candidates)
          if (candidate[0] < releaseTo && releaseTo <= candidate[1]) {
            releaseTo = candidate[0];
            changed = true;
          }
        // A match the new limit cuts waits whole.
        while (matches.length > 0 && matches.at(-1)! > releaseTo) {
          releaseTo = Math.min(releaseTo, matches.at(-2)!);
          matches = matches.slice(0, -2);
          changed = true;
        }
      }
      const park = candidates.find(({ candidate }) => candidate[1] < releaseTo);
      if (!park) return releaseTo === 0 ? [] : emit(buf, matches, releaseTo);
      // Set aside (not consumed: a step resumed from `raw` reads it again), then match
      // again: the bytes on either side of it are now next to each other.
      const { stream, candidate } = park;
      pending[stream] = Buffer.concat([
        pending[stream],
        Buffer.from(extract(stream, candidate[0], candidate[1])),
      ]);
      if (heldLength === 0) return [];
    }
  };

  /**
   * The engine may have delivered a run of the other stream before bytes that `stream`
   * wrote first. If `stream`'s bytes since that run end with the start of a pattern that
   * the run begins with the rest of, put them back before the run. Either way that run
   * waits no longer: the other stream's first bytes after it have been seen.
   */
  const unswap = (stream: StreamName): void => {
    const index = junctions.findLastIndex((j) => j.stream === other(stream));
    const junction = junctions[index];
    if (!junction || !matcher) return;
    junctions.splice(index, 1);
    const at = junction.at - base;
    // The runs from the junction on (a few: walked from the end), split by stream.
    let first = runs.length;
    let start = heldLength;
    while (first > 0 && start > at) start -= runs[--first]!.data.length;
    const cut = (r: Run, i: number): Run =>
      i === first && start < at ? { stream: r.stream, data: r.data.subarray(at - start) } : r;
    const later = runs.slice(first).map((r, i) => cut(r, first + i));
    const mine = Buffer.concat(later.filter((r) => r.stream === stream).map((r) => r.data));
    const theirs = Buffer.concat(later.filter((r) => r.stream !== stream).map((r) => r.data));
    const window = matcher.maxLength - 1;
    const tail = mine.subarray(-window);
    const head = theirs.subarray(0, window);
    const matches = findMatches(matcher, Buffer.concat([tail, head]));
    let crosses = false;
    for (let i = 0; i < matches.length; i += 2)
      if (matches[i]! < tail.length && matches[i + 1]! > tail.length) crosses = true;
    // The engine may also have delivered this stream's next write in the same chunk
    // (`printf half; printf rest >&2; echo done`): then the run ends a pattern's start
    // somewhere inside, not at its end.
    const split = crosses ? mine.length : splitBefore(mine, theirs);
    if (split === undefined) return;
    const before = runs.slice(0, first);
    if (start < at)
      before.push({ stream: runs[first]!.stream, data: runs[first]!.data.subarray(0, at - start) });
    runs = [
      ...before,
      { stream, data: mine.subarray(0, split) },
      { stream: other(stream), data: theirs },
      { stream, data: mine.subarray(split) },
    ].filter((r) => r.data.length > 0);
    junctions = junctions.filter((j) => j.at < junction.at);
  };

  /**
   * The first place in `mine` (within its first SPLIT_SEARCH bytes) where a pattern's
   * start ends whose rest `theirs` begins with, or undefined.
   */
  const splitBefore = (mine: Buffer, theirs: Buffer): number | undefined => {
    // The longest such start wins (the most evidence), then the first place.
    let best: { at: number; length: number } | undefined;
    for (const pattern of patterns)
      for (let j = pattern.length - 1; j > 0 && (best?.length ?? 0) <= j; j--) {
        const rest = pattern.subarray(j);
        if (theirs[0] !== rest[0] || theirs.length < rest.length) continue;
        if (!theirs.subarray(0, rest.length).equals(rest)) continue;
        const found = mine.subarray(0, SPLIT_SEARCH).indexOf(pattern.subarray(0, j));
        const at = found + j;
        if (found >= 0 && at < mine.length)
          if (!best || j > best.length || at < best.at) best = { at, length: j };
      }
    return best?.at;
  };

  /** Held bytes, in order, up to the first one that may still be set aside (for the guard). */
  const certain = (): Buffer => {
    if (heldLength === 0 || !matcher) return EMPTY;
    // Runs after a junction may still be put back in writing order: not certain either.
    let to = junctions.length > 0 ? Math.min(heldLength, junctions[0]!.at - base) : heldLength;
    for (const stream of ['stdout', 'stderr'] as const) {
      const candidate = candidateOf(stream, 0);
      if (candidate) to = Math.min(to, candidate[0]);
    }
    const parts: Buffer[] = [];
    let length = 0;
    for (const r of runs) {
      if (length >= to) break;
      parts.push(r.data.subarray(0, to - length));
      length += Math.min(r.data.length, to - length);
    }
    return Buffer.concat(parts);
  };

  return {
    write(stream, chunk) {
      if (chunk.length === 0) return [];
      if (!matcher) {
        consumed[stream] += chunk.length;
        return guard.push([{ stream, data: chunk, raw: { ...consumed }, replaced: false }], false);
      }
      const moved = moves;
      chunk = join(stream, chunk);
      const time = now();
      // A run starts where the stream changes, or after a pause: the engine may deliver
      // its first bytes and a near-simultaneous write on the other stream in either order.
      if ((stream !== last || time - lastWrite >= RUN_GAP_MS) && windowMs > 0)
        junctions.push({ at: base + heldLength, stream, deadline: time + windowMs });
      last = stream;
      lastWrite = time;
      const previous = runs.at(-1);
      if (previous?.stream === stream && previous.data.length < 65536)
        previous.data = Buffer.concat([previous.data, chunk]);
      else runs.push({ stream, data: chunk });
      heldLength += chunk.length;
      if (windowMs > 0) unswap(stream);
      return guard.push(flush(false), false, certain(), moves === moved);
    },
    due() {
      return heldLength === 0 ? undefined : junctions[0]?.deadline;
    },
    release() {
      const moved = moves;
      const pieces = flush(false);
      return guard.push(pieces, false, certain(), moves === moved);
    },
    end() {
      const pieces = guard.push(flush(true), true);
      last = undefined;
      return pieces;
    },
    addSecret(value) {
      if (value === '' || values.includes(value)) return;
      values = [...values, value];
      matcher = matcherFor(values);
      patterns = secretPatterns(values);
    },
    get raw() {
      return guard.raw;
    },
  };
}
