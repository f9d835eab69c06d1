/**
 * Throttling of failed authentication per client address: after `failures` wrong tokens
 * within `windowMs`, the address is refused (429) until `windowMs` has passed since the
 * failure that locked it. A success resets nothing: neither its own address (a user
 * behind the same NAT as an attacker would otherwise buy the attacker new guesses) nor
 * any other. Memory is bounded: at most `maxAddresses` are tracked; when full, the
 * oldest entry is forgotten.
 */

export interface AuthThrottleOptions {
  /** Wrong tokens allowed per window before the address is locked. */
  failures: number;
  windowMs: number;
  /** Most addresses tracked at once (default 10,000). */
  maxAddresses?: number;
  now?: () => number;
}

export interface AuthThrottle {
  /** Seconds the address must still wait, or 0 when it may try. */
  retryAfter(address: string): number;
  /** Records a failed authentication from the address. */
  fail(address: string): void;
  /** Addresses tracked now (for tests of the memory bound). */
  readonly size: number;
}

interface Entry {
  /** When the current window started (the first failure in it). */
  since: number;
  count: number;
  /** Set once the address is locked: refused until then. */
  until: number;
}

/**
 * The key an address is counted under: IPv4-mapped IPv6 addresses as plain IPv4, and
 * other IPv6 addresses by their /64 (one host usually holds a whole /64, so counting
 * single addresses would give it 2^64 tries).
 */
export function throttleKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(':')) return address;
  const [head = '', tail = ''] = address.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = address.includes('::')
    ? [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

export function createAuthThrottle(options: AuthThrottleOptions): AuthThrottle {
  const now = options.now ?? Date.now;
  const max = options.maxAddresses ?? 10_000;
  const entries = new Map<string, Entry>();

  const expired = (entry: Entry, at: number): boolean =>
    entry.until > 0 ? at >= entry.until : at - entry.since >= options.windowMs;

  return {
    retryAfter(address) {
      const entry = entries.get(throttleKey(address));
      const at = now();
      if (!entry || entry.until <= at) return 0;
      return Math.max(1, Math.ceil((entry.until - at) / 1000));
    },
    fail(address) {
      const key = throttleKey(address);
      const at = now();
      let entry = entries.get(key);
      if (entry && expired(entry, at)) {
        entries.delete(key);
        entry = undefined;
      }
      if (!entry) {
        // Full: forget the oldest (a Map keeps insertion order, so this is O(1)). An
        // attacker with many addresses can push its own entries out, but gains nothing it
        // could not get by using a fresh address.
        while (entries.size >= max) entries.delete(entries.keys().next().value!);
        entry = { since: at, count: 0, until: 0 };
        entries.set(key, entry);
      }
      entry.count += 1;
      if (entry.count >= options.failures && entry.until === 0) entry.until = at + options.windowMs;
    },
    get size() {
      return entries.size;
    },
  };
}
