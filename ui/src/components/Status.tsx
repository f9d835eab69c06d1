import { outcomeKind, outcomeLabel } from '../format.ts';

const ICON: Record<string, string> = {
  ok: '✓',
  user: '✗',
  infra: '⚠',
  canceled: '⊘',
  skipped: '↷',
  running: '●',
  queued: '◌',
};

/** A status badge; the kind (user failure vs infrastructure) is in its class and its icon. */
export function Status({ status, outcome = null }: { status: string; outcome?: string | null }) {
  const kind = outcomeKind(outcome, status);
  return (
    <span className={`status status-${kind}`} data-status={status} data-kind={kind}>
      <span aria-hidden="true">{ICON[kind]}</span> {outcomeLabel(outcome, status)}
    </span>
  );
}
