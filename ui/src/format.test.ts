import { describe, expect, it } from 'vitest';
import { dateTime, isoWithOffset, logClock, zoneName } from './format.ts';

describe('times in the viewer zone', () => {
  const at = Date.UTC(2025, 0, 15, 8, 32, 7, 120); // 08:32:07.120 UTC
  const kolkata = { timeZone: 'Asia/Kolkata', locale: 'en-GB' };

  it('shows the local time with its zone, and the date when it is not today', () => {
    expect(dateTime(at, at, kolkata)).toBe('14:02 GMT+5:30');
    expect(dateTime(at, at + 3 * 86_400_000, kolkata)).toBe('15 Jan 2025, 14:02 GMT+5:30');
    expect(dateTime(at, at, { timeZone: 'UTC', locale: 'en-GB' })).toBe('08:32 UTC');
    expect(zoneName(at, { timeZone: 'America/New_York', locale: 'en-US' })).toBe('EST');
  });

  it('gives log timestamps to the millisecond and full instants with their offset', () => {
    expect(logClock(at, kolkata)).toBe('14:02:07.120');
    expect(isoWithOffset(at, kolkata)).toBe('2025-01-15T14:02:07+05:30');
    expect(isoWithOffset(at, { timeZone: 'UTC' })).toBe('2025-01-15T08:32:07+00:00');
  });
});
