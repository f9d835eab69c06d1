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
