/**
 * The streaming secret masker of one byte stream: every byte of output passes through a
 * masker before it is printed, stored or streamed, so no secret value shows in any log.
 * (A step's two streams go through one masker over both: stream-masker.ts.)
 *
 * Guarantee: concatenating everything `write` and `end` return equals the whole input with
 * every occurrence of every pattern replaced, leftmost first and longest at a position,
 * exactly as one replace over the whole stream would do — however the input was split
 * into chunks (a secret split over many writes, one byte per write, is still caught).
 *
 * To keep that promise it holds back only the longest suffix of the input that is a
 * proper prefix of some pattern (text that may still begin a secret), and releases
 * everything else at once: a line without a secret is never delayed. It works on bytes,
 * so binary output and UTF-8 split across chunks pass through untouched where nothing
 * matches. The patterns (secret-forms.ts) are the secrets and the forms they leak in.
 */
import { compileMatcher, decide, type Matcher } from './matcher.ts';
import { secretPatterns } from './secret-forms.ts';

export {
  MIN_SECRET_LENGTH,
  maskableSecrets,
  secretPatterns,
  shortSecretWarnings,
} from './secret-forms.ts';

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

const EMPTY = Buffer.alloc(0);
const compiledCache = new Map<string, Matcher | undefined>();

/** The compiled matcher of a set of secrets (cached: every step of a build shares it). */
export function matcherFor(secrets: readonly string[]): Matcher | undefined {
  const key = [...new Set(secrets)].sort().join('\u0000');
  if (!compiledCache.has(key)) {
    if (compiledCache.size > 64) compiledCache.clear();
    compiledCache.set(key, compileMatcher(secretPatterns(secrets)));
  }
  return compiledCache.get(key);
}

/** `buf[0, to)` with each match (pairs of [start, end) offsets) replaced. */
export function replaceMatches(
  buf: Buffer,
  matches: readonly number[],
  to: number,
  replacement: Buffer,
): Buffer {
  if (matches.length === 0) return to === buf.length ? buf : buf.subarray(0, to);
  const parts: Buffer[] = [];
  let pos = 0;
  for (let i = 0; i < matches.length; i += 2) {
    if (matches[i]! > pos) parts.push(buf.subarray(pos, matches[i]));
    parts.push(replacement);
    pos = matches[i + 1]!;
  }
  if (pos < to) parts.push(buf.subarray(pos, to));
  return Buffer.concat(parts);
}

/** A masker over one byte stream (see the top of this file). */
export function createMasker(secrets: readonly string[], options: MaskerOptions = {}): Masker {
  const replacement = Buffer.from(options.replacement ?? '***');
  let values = [...secrets];
  let matcher = matcherFor(values);
  let held: Buffer = EMPTY;

  const mask = (buf: Buffer, final: boolean): Buffer => {
    if (!matcher) return buf;
    const { matches, releaseTo } = decide(matcher, buf, final);
    held = releaseTo < buf.length ? Buffer.from(buf.subarray(releaseTo)) : EMPTY;
    return replaceMatches(buf, matches, releaseTo, replacement);
  };

  return {
    write(chunk) {
      if (!matcher) return chunk;
      return mask(held.length === 0 ? chunk : Buffer.concat([held, chunk]), false);
    },
    end() {
      const buf = held;
      held = EMPTY;
      return buf.length === 0 ? buf : mask(buf, true);
    },
    addSecret(value) {
      if (value === '' || values.includes(value)) return;
      values = [...values, value];
      matcher = matcherFor(values);
    },
  };
}
