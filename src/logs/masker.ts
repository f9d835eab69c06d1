/**
 * The streaming secret masker: every byte of build output passes through it before it is
 * printed, stored or streamed, so no secret value shows in any log.
 *
 * Guarantee: concatenating everything `write` and `end` return equals the whole input with
 * every occurrence of every pattern replaced, leftmost first and longest at a position,
 * exactly as one replace over the whole stream would do — however the input was split
 * into chunks (a secret split over many writes, one byte per write, is still caught).
 *
 * To keep that promise it holds back at most (longest pattern − 1) bytes between writes:
 * bytes that could still be the start of a secret. It never holds a whole line, so a
 * 50 MB line without a newline streams through. It works on bytes, so binary output and
 * UTF-8 split across chunks pass through untouched where nothing matches.
 *
 * Patterns are the secrets and the forms they leak in: base64 (standard and URL-safe,
 * with and without padding), URL-encoded, JSON-escaped, each line of a multi-line secret,
 * and the other line-ending variant. Matching is one Aho–Corasick automaton over bytes.
 */

/** Secrets shorter than this are not masked: masking "a" or "1" would destroy the log. */
export const MIN_SECRET_LENGTH = 4;
const MIN_LINE_LENGTH = 6;

export interface Masker {
  /** Returns the bytes that are safe to emit now (possibly empty). */
  write(chunk: Buffer): Buffer;
  /** Flushes what was held back, masked. The masker can be reused afterwards. */
  end(): Buffer;
  /** Registers a secret found at run time; it applies to every byte not yet returned. */
  addSecret(value: string): void;
}

export interface MaskerOptions {
  replacement?: string;
}

/** Splits secret values into the ones that will be masked and the ones that cannot be. */
export function maskableSecrets(values: readonly string[]): {
  masked: string[];
  ignored: { value: string; reason: string }[];
} {
  const masked: string[] = [];
  const ignored: { value: string; reason: string }[] = [];
  for (const value of new Set(values)) {
    if (value.length === 0) continue;
    if (Buffer.byteLength(value) < MIN_SECRET_LENGTH) {
      ignored.push({
        value,
        reason: `a ${value.length}-character secret is too short to mask (at least ${MIN_SECRET_LENGTH}) without destroying the log`,
      });
    } else masked.push(value);
  }
  return { masked, ignored };
}

/** Every byte pattern a secret can leak as. */
export function secretPatterns(values: readonly string[]): Buffer[] {
  const patterns = new Set<string>();
  const add = (text: string): void => {
    if (Buffer.byteLength(text) >= MIN_SECRET_LENGTH) patterns.add(text);
  };
  for (const value of maskableSecrets(values).masked) {
    const forms = new Set([value]);
    if (value.includes('\n')) {
      forms.add(
        value.includes('\r\n') ? value.replace(/\r\n/g, '\n') : value.replace(/\n/g, '\r\n'),
      );
      for (const line of value.split(/\r?\n/)) if (line.trim().length >= MIN_LINE_LENGTH) add(line);
    }
    for (const form of forms) {
      add(form);
      const bytes = Buffer.from(form);
      const b64 = bytes.toString('base64');
      add(b64);
      add(b64.replace(/=+$/, ''));
      const b64url = bytes.toString('base64url');
      add(b64url);
      add(b64url + '='.repeat((4 - (b64url.length % 4)) % 4));
      add(encodeURIComponent(form));
      add(JSON.stringify(form).slice(1, -1));
    }
  }
  return [...patterns].map((p) => Buffer.from(p));
}

/** A compiled automaton: a dense DFA over a compressed byte alphabet. */
interface Automaton {
  /** Byte → alphabet class (0 for bytes in no pattern). */
  classes: Uint8Array;
  width: number;
  delta: Int32Array;
  /** Longest pattern that ends at a state (after following output links), 0 if none. */
  longest: Int32Array;
  /** Per state: the next state on the output-link chain that ends a pattern, or -1. */
  outputLink: Int32Array;
  /** Lengths of the patterns ending exactly at a state (without output links). */
  ends: Int32Array;
  maxLength: number;
}

function compile(patterns: readonly Buffer[]): Automaton | undefined {
  if (patterns.length === 0) return undefined;
  const classes = new Uint8Array(256);
  let width = 1;
  for (const p of patterns) for (const b of p) if (classes[b] === 0) classes[b] = width++;
  if (width > 255) {
    // More than 254 distinct bytes: fall back to one class per byte value.
    for (let b = 0; b < 256; b++) classes[b] = b;
    width = 256;
  }
  // Trie.
  const children: Map<number, number>[] = [new Map<number, number>()];
  const ends: number[] = [0];
  for (const p of patterns) {
    let state = 0;
    for (const b of p) {
      const c = classes[b]!;
      let next = children[state]!.get(c);
      if (next === undefined) {
        next = children.length;
        children.push(new Map<number, number>());
        ends.push(0);
        children[state]!.set(c, next);
      }
      state = next;
    }
    ends[state] = Math.max(ends[state]!, p.length);
  }
  const states = children.length;
  const delta = new Int32Array(states * width);
  const fail = new Int32Array(states);
  const outputLink = new Int32Array(states).fill(-1);
  const longest = new Int32Array(states);
  // Breadth-first: fill the DFA and failure links.
  const queue: number[] = [];
  for (let c = 0; c < width; c++) {
    const next = children[0]!.get(c);
    delta[c] = next ?? 0;
    if (next !== undefined) queue.push(next);
  }
  for (let head = 0; head < queue.length; head++) {
    const state = queue[head]!;
    const f = fail[state]!;
    outputLink[state] = ends[f]! > 0 ? f : outputLink[f]!;
    longest[state] = Math.max(ends[state]!, longest[f]!);
    for (let c = 0; c < width; c++) {
      const next = children[state]!.get(c);
      if (next !== undefined) {
        fail[next] = delta[f * width + c]!;
        delta[state * width + c] = next;
        queue.push(next);
      } else delta[state * width + c] = delta[f * width + c]!;
    }
  }
  let maxLength = 0;
  for (const p of patterns) maxLength = Math.max(maxLength, p.length);
  return { classes, width, delta, longest, outputLink, ends: Int32Array.from(ends), maxLength };
}

/** Finds the leftmost-longest, non-overlapping matches in `buf` as [start, end) pairs. */
function findMatches(a: Automaton, buf: Buffer): number[] {
  const { classes, width, delta, longest, outputLink, ends } = a;
  // bestAt[start] = longest match beginning at start; collected sparsely.
  const starts: number[] = [];
  const lengths = new Map<number, number>();
  let state = 0;
  for (let i = 0; i < buf.length; i++) {
    state = delta[state * width + classes[buf[i]!]!]!;
    if (longest[state] === 0) continue;
    for (let s = state; s !== -1; s = outputLink[s]!) {
      const len = ends[s]!;
      if (len === 0) continue;
      const start = i - len + 1;
      const known = lengths.get(start);
      if (known === undefined) {
        starts.push(start);
        lengths.set(start, len);
      } else if (len > known) lengths.set(start, len);
    }
  }
  if (starts.length === 0) return [];
  starts.sort((x, y) => x - y);
  const out: number[] = [];
  let until = 0;
  for (const start of starts) {
    if (start < until) continue;
    const end = start + lengths.get(start)!;
    out.push(start, end);
    until = end;
  }
  return out;
}

const compiledCache = new Map<string, Automaton | undefined>();

function automatonFor(secrets: readonly string[]): Automaton | undefined {
  const key = [...new Set(secrets)].sort().join('\u0000');
  if (!compiledCache.has(key)) {
    if (compiledCache.size > 64) compiledCache.clear();
    compiledCache.set(key, compile(secretPatterns(secrets)));
  }
  return compiledCache.get(key);
}

export function createMasker(secrets: readonly string[], options: MaskerOptions = {}): Masker {
  const replacement = Buffer.from(options.replacement ?? '***');
  let values = [...secrets];
  let automaton = automatonFor(values);
  let held: Buffer = Buffer.alloc(0);

  const mask = (buf: Buffer, final: boolean): Buffer => {
    if (!automaton) return buf;
    const matches = findMatches(automaton, buf);
    // Bytes from here on could begin a pattern that continues in the next write.
    const safe = final ? buf.length : Math.max(0, buf.length - (automaton.maxLength - 1));
    const parts: Buffer[] = [];
    let pos = 0;
    for (let i = 0; i < matches.length; i += 2) {
      const start = matches[i]!;
      const end = matches[i + 1]!;
      if (start >= safe) break;
      if (start > pos) parts.push(buf.subarray(pos, start));
      parts.push(replacement);
      pos = end;
    }
    if (pos < safe) {
      parts.push(buf.subarray(pos, safe));
      pos = safe;
    }
    held = pos < buf.length ? Buffer.from(buf.subarray(pos)) : Buffer.alloc(0);
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  };

  return {
    write(chunk) {
      if (!automaton) return chunk;
      const buf = held.length === 0 ? chunk : Buffer.concat([held, chunk]);
      return mask(buf, false);
    },
    end() {
      const buf = held;
      held = Buffer.alloc(0);
      return buf.length === 0 ? buf : mask(buf, true);
    },
    addSecret(value) {
      if (value === '' || values.includes(value)) return;
      values = [...values, value];
      automaton = automatonFor(values);
    },
  };
}
