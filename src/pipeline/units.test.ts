import { describe, expect, it } from 'vitest';
import { formatDuration, formatSize, parseDuration, parseSize } from './units.ts';

describe('durations', () => {
  it('reads compound durations', () => {
    expect(parseDuration('1h30m')).toEqual({ ok: true, value: 5_400_000 });
    expect(parseDuration('250ms')).toEqual({ ok: true, value: 250 });
    expect(parseDuration('1.5h')).toEqual({ ok: true, value: 5_400_000 });
  });
  it('refuses numbers without a unit, with a fix', () => {
    const result = parseDuration(10);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toContain('10s or 10m');
  });
  it('round-trips through formatDuration', () => {
    for (const text of ['90s', '10m', '1h30m', '2d', '250ms']) {
      const parsed = parseDuration(text);
      if (!parsed.ok) throw new Error(text);
      expect(parseDuration(formatDuration(parsed.value))).toEqual(parsed);
    }
  });
});

describe('sizes', () => {
  it('reads binary and decimal units like Docker', () => {
    expect(parseSize('512MiB')).toEqual({ ok: true, value: 512 * 1024 ** 2 });
    expect(parseSize('2g')).toEqual({ ok: true, value: 2 * 1024 ** 3 });
    expect(parseSize('100MB')).toEqual({ ok: true, value: 100_000_000 });
  });
  it('refuses unknown units and bare numbers', () => {
    expect(parseSize('5 parsecs').ok).toBe(false);
    expect(parseSize(512).ok).toBe(false);
  });
  it('formats with the largest exact unit', () => {
    expect(formatSize(64 * 1024 ** 2)).toBe('64MiB');
    expect(formatSize(1536 * 1024 ** 2)).toBe('1536MiB');
  });
});
