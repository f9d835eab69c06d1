/**
 * How `slipway run` shows a run: live output with each line prefixed by its job, step
 * start/finish lines, and a summary table; or one JSON event per line (`--json`).
 */
import type { RunEvent, Reporter } from '../runtime/events.ts';
import { formatMs, isInfrastructure, type Outcome } from '../runtime/outcome.ts';
import type { RunResult } from '../runtime/plan-runner.ts';
import { table } from './output.ts';
import { LineAssembler, type Clock } from './run-lines.ts';

export interface HumanOutputOptions {
  write: (text: string) => void;
  color: boolean;
  timestamps: boolean;
  /** Longest partial line held before it is printed anyway. */
  maxLine?: number;
  /** How long a line without its newline waits for the rest (default 150 ms). */
  pauseMs?: number;
  clock?: Clock;
}

const JOB_COLORS = ['36', '35', '33', '34', '32', '96', '95', '93'];
const GREEN = '32';
const RED = '31;1';
const YELLOW = '33';
const DIM = '2';

/** Writes events as JSON lines; output bytes are written as UTF-8 text. */
export function jsonReporter(write: (text: string) => void): Reporter {
  return (event) => {
    const plain = event.type === 'output' ? { ...event, data: event.data.toString('utf8') } : event;
    write(`${JSON.stringify(plain)}\n`);
  };
}

/** The live, human view of a run. */
export function humanReporter(options: HumanOutputOptions): Reporter {
  const paint = (code: string, text: string): string =>
    options.color ? `\u001b[${code}m${text}\u001b[0m` : text;
  const colors = new Map<string, string>();
  let width = 12;

  const prefix = (job: string, time: number): string => {
    let color = colors.get(job);
    if (!color) {
      color = JOB_COLORS[colors.size % JOB_COLORS.length]!;
      colors.set(job, color);
    }
    const stamp = options.timestamps
      ? `${paint(DIM, new Date(time).toISOString().slice(11, 23))} `
      : '';
    const name = job.length > width ? `${job.slice(0, width - 1)}…` : job.padEnd(width);
    return `${stamp}${paint(color, name)} │ `;
  };
  const line = (job: string, time: number, text: string): void =>
    options.write(`${prefix(job, time)}${text}\n`);
  const lines = new LineAssembler({
    emit: (job, text, end, time) =>
      // A piece of an over-long line says that it goes on.
      line(job, time, `${printable(text)}${end === 'long' ? paint(DIM, ' ↩') : ''}`),
    ...(options.maxLine === undefined ? {} : { maxLine: options.maxLine }),
    ...(options.pauseMs === undefined ? {} : { pauseMs: options.pauseMs }),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
  const group = (e: { job: string; attempt: number; step: number }): string =>
    `${e.job}\0${e.attempt}\0${e.step}`;

  return (event: RunEvent) => {
    switch (event.type) {
      case 'run.started':
        width = Math.min(32, Math.max(8, ...event.jobs.map((j) => j.length)));
        return;
      case 'job.started':
        line(
          event.job,
          event.time,
          paint(DIM, event.attempt > 1 ? `attempt ${event.attempt}` : 'starting'),
        );
        return;
      case 'job.progress':
        line(event.job, event.time, paint(DIM, event.message));
        return;
      case 'step.started':
        line(event.job, event.time, paint('1', `▶ ${event.name}`));
        return;
      case 'output':
        lines.write(event.job, group(event), event.stream, event.data, event.time);
        return;
      case 'step.finished': {
        lines.flushGroup(group(event), event.time);
        const took = event.durationMs > 0 ? ` (${formatMs(event.durationMs)})` : '';
        if (event.outcome === 'success')
          line(event.job, event.time, paint(GREEN, `✓ ${event.name}${took}`));
        else if (event.outcome === 'skipped')
          line(event.job, event.time, paint(DIM, `○ ${event.name}: ${event.reason}`));
        else {
          const note = event.allowedFailure ? ' (allowed to fail)' : '';
          line(
            event.job,
            event.time,
            paint(
              event.allowedFailure ? YELLOW : RED,
              `✗ ${event.name}: ${event.reason} [${event.outcome}]${note}${took}`,
            ),
          );
        }
        return;
      }
      case 'job.finished': {
        const retry = event.willRetry ? ', retrying' : '';
        const color =
          event.outcome === 'success'
            ? GREEN
            : event.outcome === 'skipped'
              ? DIM
              : event.allowedFailure
                ? YELLOW
                : RED;
        const text =
          event.outcome === 'success'
            ? `job succeeded in ${formatMs(event.durationMs)}`
            : `job ${event.outcome}: ${event.reason}${retry}`;
        line(event.job, event.time, paint(color, text));
        return;
      }
      case 'run.finished':
        lines.close(event.time);
        return;
    }
  };
}

/** Replaces control characters that would disturb a terminal (keeps tabs and colours). */
function printable(bytes: Buffer): string {
  return (
    bytes
      .toString('utf8')
      .replace(/\r$/, '')
      // eslint-disable-next-line no-control-regex -- matching control characters is the point
      .replace(/[\u0000-\u0008\u000b-\u001a\u001c-\u001f\u007f]/g, '\ufffd')
  );
}

/** The exit code of `slipway run` for an outcome. */
export function exitCodeFor(outcome: Outcome): number {
  if (outcome === 'success' || outcome === 'skipped') return 0;
  if (outcome === 'canceled') return 130;
  if (isInfrastructure(outcome)) return 3;
  return 1;
}

/** The table printed at the end of a run. */
export function summaryTable(result: RunResult, color: boolean): string {
  const paint = (code: string, text: string): string =>
    color ? `\u001b[${code}m${text}\u001b[0m` : text;
  const rows = [
    ['JOB', 'STATUS', 'DURATION', 'REASON'],
    ...result.jobs.map((job) => {
      const status = job.allowedFailure ? `${job.outcome} (allowed)` : job.outcome;
      const attempts = job.attempts.length > 1 ? ` (${job.attempts.length} attempts)` : '';
      return [
        job.job,
        status + attempts,
        job.attempts.length > 0 ? formatMs(job.durationMs) : '-',
        // The table keeps one line per job; the full reason was printed with the job.
        job.outcome === 'success' ? '' : (job.reason.split('\n')[0] ?? ''),
      ];
    }),
  ];
  const code = exitCodeFor(result.outcome);
  const verdict =
    result.outcome === 'success'
      ? paint(GREEN, 'succeeded')
      : result.outcome === 'canceled'
        ? paint(YELLOW, 'was canceled')
        : isInfrastructure(result.outcome)
          ? paint(RED, `hit an infrastructure error (${result.outcome})`)
          : paint(RED, `failed (${result.outcome})`);
  return `\n${table(rows)}\n\nrun ${result.runId} ${verdict} in ${formatMs(result.durationMs)} (exit ${code})`;
}
