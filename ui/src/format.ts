/** Small formatting helpers shared by the pages. */

export function duration(start: number | null, end: number | null, now = Date.now()): string {
  if (start === null) return '—';
  const ms = (end ?? now) - start;
  if (ms < 1000) return `${ms} ms`;
  const s = Math.round(ms / 100) / 10;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m}m ${Math.round(s % 60)}s`;
}

export function age(time: number | null, now = Date.now()): string {
  if (time === null) return '—';
  const s = Math.max(0, Math.round((now - time) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

const INFRA = new Set(['image_pull', 'image_missing', 'infra_error']);

/** How an outcome is shown: user failures and infrastructure errors look different. */
export function outcomeKind(
  outcome: string | null,
  status: string,
): 'ok' | 'user' | 'infra' | 'canceled' | 'skipped' | 'running' | 'queued' {
  if (outcome === 'success' || status === 'success') return 'ok';
  if (outcome && INFRA.has(outcome)) return 'infra';
  if (status === 'error') return 'infra';
  if (outcome === 'canceled' || status === 'canceled') return 'canceled';
  if (outcome === 'skipped' || status === 'skipped') return 'skipped';
  if (status === 'running') return 'running';
  if (status === 'queued' || status === 'waiting') return 'queued';
  return 'user';
}

export function outcomeLabel(outcome: string | null, status: string): string {
  switch (outcome) {
    case 'oom_killed':
      return 'out of memory';
    case 'infra_error':
      return 'infrastructure error';
    case 'image_missing':
      return 'image missing';
    case 'image_pull':
      return 'image pull failed';
    case 'timeout':
      return 'timed out';
    case null:
      return status;
    default:
      return outcome;
  }
}

/** Where and how to show times; by default the viewer's own zone and locale. */
export interface Zone {
  timeZone?: string;
  locale?: string;
}

function formatter(options: Intl.DateTimeFormatOptions, zone: Zone): Intl.DateTimeFormat {
  return new Intl.DateTimeFormat(zone.locale, {
    hourCycle: 'h23',
    ...options,
    ...(zone.timeZone ? { timeZone: zone.timeZone } : {}),
  });
}

/** The zone's short name at a time: `CET`, `GMT+5:30`, `UTC`. */
export function zoneName(time: number, zone: Zone = {}): string {
  return (
    formatter({ timeZoneName: 'short' }, zone)
      .formatToParts(time)
      .find((p) => p.type === 'timeZoneName')?.value ?? ''
  );
}

/**
 * A point in time for people: the local time with its zone (`14:02 GMT+1`), and the date
 * in front when it is not today (`3 Jun 2025, 14:02 GMT+1`).
 */
export function dateTime(time: number, now = Date.now(), zone: Zone = {}): string {
  const day = formatter({ year: 'numeric', month: 'short', day: 'numeric' }, zone);
  const clock = formatter({ hour: '2-digit', minute: '2-digit' }, zone).format(time);
  const date = day.format(time) === day.format(now) ? '' : `${day.format(time)}, `;
  return `${date}${clock} ${zoneName(time, zone)}`;
}

/** A log timestamp in the local zone, to the millisecond: `14:02:03.120`. */
export function logClock(time: number, zone: Zone = {}): string {
  return formatter(
    { hour: '2-digit', minute: '2-digit', second: '2-digit', fractionalSecondDigits: 3 },
    zone,
  ).format(time);
}

/** The full instant with its UTC offset, for tooltips and `<time dateTime>`. */
export function isoWithOffset(time: number, zone: Zone = {}): string {
  const parts = Object.fromEntries(
    formatter(
      {
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
        second: '2-digit',
        timeZoneName: 'longOffset',
      },
      { ...zone, locale: 'en-US' },
    )
      .formatToParts(time)
      .map((p) => [p.type, p.value]),
  );
  const offset = parts.timeZoneName === 'GMT' ? '+00:00' : String(parts.timeZoneName).slice(3);
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}:${parts.second}${offset}`;
}
