import { describe, expect, it } from 'vitest';
import { createAuthThrottle, throttleKey } from './auth-throttle.ts';

function clock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1_000_000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('the failed-authentication throttle', () => {
  it('locks an address after N failures in the window, until the window has passed', () => {
    const time = clock();
    const throttle = createAuthThrottle({ failures: 3, windowMs: 60_000, now: time.now });
    throttle.fail('10.0.0.1');
    throttle.fail('10.0.0.1');
    expect(throttle.retryAfter('10.0.0.1')).toBe(0);
    throttle.fail('10.0.0.1');
    expect(throttle.retryAfter('10.0.0.1')).toBe(60);
    time.advance(59_500);
    expect(throttle.retryAfter('10.0.0.1')).toBe(1);
    time.advance(500);
    expect(throttle.retryAfter('10.0.0.1')).toBe(0);
    // A fresh window: it takes N failures again.
    throttle.fail('10.0.0.1');
    expect(throttle.retryAfter('10.0.0.1')).toBe(0);
  });

  it('counts failures within one window only', () => {
    const time = clock();
    const throttle = createAuthThrottle({ failures: 3, windowMs: 1000, now: time.now });
    throttle.fail('a');
    throttle.fail('a');
    time.advance(1000);
    throttle.fail('a');
    expect(throttle.retryAfter('a')).toBe(0);
  });

  it('keeps addresses apart', () => {
    const throttle = createAuthThrottle({ failures: 2, windowMs: 60_000 });
    throttle.fail('10.0.0.1');
    throttle.fail('10.0.0.1');
    expect(throttle.retryAfter('10.0.0.1')).toBeGreaterThan(0);
    expect(throttle.retryAfter('10.0.0.2')).toBe(0);
  });

  it('holds at most maxAddresses entries however many addresses fail', () => {
    const throttle = createAuthThrottle({ failures: 5, windowMs: 60_000, maxAddresses: 1000 });
    for (let i = 0; i < 100_000; i++) throttle.fail(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`);
    expect(throttle.size).toBeLessThanOrEqual(1000);
    // The newest are still counted.
    for (let i = 0; i < 4; i++) throttle.fail('10.1.134.159');
    expect(throttle.retryAfter('10.1.134.159')).toBeGreaterThan(0);
  });

  it('counts an IPv6 /64 as one address and IPv4-mapped addresses as IPv4', () => {
    expect(throttleKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(throttleKey('2001:db8:1:2::1')).toBe(throttleKey('2001:db8:1:2:ffff:1:2:3'));
    expect(throttleKey('2001:0db8:0001:0002:0:0:0:1')).toBe(throttleKey('2001:db8:1:2::9'));
    expect(throttleKey('2001:db8:1:3::1')).not.toBe(throttleKey('2001:db8:1:2::1'));
    expect(throttleKey('::1')).toBe('0:0:0:0::/64');
    const throttle = createAuthThrottle({ failures: 2, windowMs: 60_000 });
    throttle.fail('2001:db8:1:2::1');
    throttle.fail('2001:db8:1:2::2');
    expect(throttle.retryAfter('2001:db8:1:2::3')).toBeGreaterThan(0);
  });
});
