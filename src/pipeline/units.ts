/** Durations and sizes as users write them (`1h30m`, `512MiB`), parsed strictly. */

const DURATION_UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;

/** The result of reading a unit value: the number, or why it cannot be read. */
export type UnitResult = { ok: true; value: number } | { ok: false; reason: string };

/**
 * Parses a duration like `90s`, `10m`, `1h30m` or `1.5h` into milliseconds.
 * A bare number is refused because its unit would be a guess.
 */
export function parseDuration(input: unknown): UnitResult {
  if (typeof input === 'number') {
    return {
      ok: false,
      reason: `${input} has no unit; write ${input}s or ${input}m (units: ms, s, m, h, d)`,
    };
  }
  if (typeof input !== 'string')
    return { ok: false, reason: 'a duration must be a string like 10m' };
  const text = input.trim();
  if (text === '') return { ok: false, reason: 'the duration is empty; write one like 10m' };
  if (/^\d+(\.\d+)?$/.test(text)) {
    return {
      ok: false,
      reason: `"${text}" has no unit; write ${text}s or ${text}m (units: ms, s, m, h, d)`,
    };
  }
  let total = 0;
  DURATION_PART.lastIndex = 0;
  let consumed = 0;
  for (let match = DURATION_PART.exec(text); match; match = DURATION_PART.exec(text)) {
    const [, amount, unit] = match;
    total += Number(amount) * DURATION_UNITS[unit as keyof typeof DURATION_UNITS];
    consumed = DURATION_PART.lastIndex;
  }
  if (consumed !== text.length) {
    return {
      ok: false,
      reason: `"${text}" is not a duration; write it like 90s, 10m or 1h30m (units: ms, s, m, h, d)`,
    };
  }
  if (total <= 0) return { ok: false, reason: `"${text}" must be longer than zero` };
  return { ok: true, value: Math.round(total) };
}

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
};

/**
 * Parses a size like `512MiB`, `2GiB`, `1.5G` or `100MB` into bytes.
 * `K`, `M`, `G` (as Docker reads them) are binary; `KB`, `MB`, `GB` are decimal.
 */
export function parseSize(input: unknown): UnitResult {
  if (typeof input === 'number') {
    return { ok: false, reason: `${input} has no unit; write it like ${input}MiB or ${input}GiB` };
  }
  if (typeof input !== 'string')
    return { ok: false, reason: 'a size must be a string like 512MiB' };
  const match = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(input.trim());
  if (!match)
    return { ok: false, reason: `"${input}" is not a size; write it like 512MiB or 2GiB` };
  const [, amount, unitText = ''] = match;
  if (unitText === '') {
    return {
      ok: false,
      reason: `"${input}" has no unit; write it like ${amount}MiB or ${amount}GiB`,
    };
  }
  const unit = SIZE_UNITS[unitText.toLowerCase()];
  if (unit === undefined) {
    return {
      ok: false,
      reason: `"${unitText}" is not a size unit; use B, KiB, MiB, GiB, TiB (or KB, MB, GB, TB)`,
    };
  }
  const bytes = Math.round(Number(amount) * unit);
  if (bytes <= 0) return { ok: false, reason: `"${input}" must be larger than zero` };
  return { ok: true, value: bytes };
}

/** Formats milliseconds the way they are written in pipelines: `1h30m`, `90s`, `250ms`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  let rest = Math.round(ms / 1000);
  const parts: string[] = [];
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  if (rest > 0 || parts.length === 0) parts.push(`${rest}s`);
  return parts.join('');
}

/** Formats bytes with the largest binary unit that divides them evenly: `512MiB`. */
export function formatSize(bytes: number): string {
  for (const [unit, size] of [
    ['TiB', 1024 ** 4],
    ['GiB', 1024 ** 3],
    ['MiB', 1024 ** 2],
    ['KiB', 1024],
  ] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)}MiB`;
  return `${bytes}B`;
}
