/**
 * Every way a step or job can end, classified in one place. User failures and
 * infrastructure errors stay distinct all the way to the exit code and the summary.
 */
import type { Outcome } from '../domain/status.ts';
import type { PodFailureClass, StepExit } from '../backends/backend.ts';
import type { FailureClass } from '../pipeline/plan.ts';
import { formatSize } from '../pipeline/units.ts';

// The outcomes are the domain's words (src/domain/status.ts), shared with the wire and the store.
export { OUTCOMES, type Outcome } from '../domain/status.ts';

/** An outcome with the sentence that explains it. */
export interface Ending {
  outcome: Outcome;
  /** Human explanation: `exit code 3`, `killed: out of memory (limit 64MiB)`. */
  reason: string;
  exitCode: number | null;
  /** How a stop went when it was not the usual way (a frozen container killed from outside). */
  note?: string;
}

/** Why the runtime stopped a step, when it did. */
export type StopCause = 'timeout' | 'canceled';

/** Classifies how a step ended. The one exhaustive switch over StepExit. */
export function classifyStep(
  exit: StepExit,
  stopCause: StopCause | undefined,
  timeoutMs?: number | null,
): Ending {
  switch (exit.kind) {
    case 'exited':
      if (stopCause) return stopped(stopCause, exit.exitCode, timeoutMs);
      return exit.exitCode === 0
        ? { outcome: 'success', reason: 'exit code 0', exitCode: 0 }
        : { outcome: 'failure', reason: describeExit(exit.exitCode), exitCode: exit.exitCode };
    case 'stopped': {
      const ending = stopped(stopCause ?? 'canceled', exit.exitCode, timeoutMs);
      return exit.message
        ? { ...ending, reason: `${ending.reason}; ${exit.message}`, note: exit.message }
        : ending;
    }
    case 'oom_killed':
      return {
        outcome: 'oom_killed',
        reason: `killed: out of memory (limit ${exit.limitBytes === null ? 'unknown' : formatSize(exit.limitBytes)}); raise resources.memory or use less`,
        exitCode: exit.exitCode,
      };
    case 'infra_error':
      return { outcome: 'infra_error', reason: exit.message, exitCode: null };
  }
}

function stopped(cause: StopCause, exitCode: number | null, timeoutMs?: number | null): Ending {
  if (cause === 'timeout') {
    const limit = timeoutMs ? ` after ${formatMs(timeoutMs)}` : '';
    return { outcome: 'timeout', reason: `timed out${limit}`, exitCode };
  }
  return { outcome: 'canceled', reason: 'canceled', exitCode };
}

/** Classifies a failure to create the pod. */
export function classifyPodFailure(failure: PodFailureClass, message: string): Ending {
  switch (failure) {
    case 'image_missing':
      return { outcome: 'image_missing', reason: message, exitCode: null };
    case 'image_pull':
      return { outcome: 'image_pull', reason: message, exitCode: null };
    case 'service_not_ready':
      return {
        outcome: /not ready after/.test(message) ? 'timeout' : 'failure',
        reason: message,
        exitCode: null,
      };
    case 'policy':
      return { outcome: 'failure', reason: message, exitCode: null };
    case 'canceled':
      return { outcome: 'canceled', reason: message, exitCode: null };
    case 'infra_error':
      return { outcome: 'infra_error', reason: message, exitCode: null };
  }
}

/** Which `retry.on` class an outcome belongs to, or null when it is never retried. */
export function failureClass(outcome: Outcome): FailureClass | null {
  switch (outcome) {
    case 'failure':
      return 'failure';
    case 'oom_killed':
      return 'oom_killed';
    case 'timeout':
      return 'timeout';
    case 'image_pull':
    case 'image_missing':
    case 'infra_error':
      return 'infra';
    case 'success':
    case 'canceled':
    case 'skipped':
      return null;
  }
}

/** True for endings caused by the infrastructure rather than the user's commands. */
export function isInfrastructure(outcome: Outcome): boolean {
  return failureClass(outcome) === 'infra';
}

/** True for endings that count as "it worked" for the things after it. */
export function isSuccess(outcome: Outcome): boolean {
  return outcome === 'success' || outcome === 'skipped';
}

function describeExit(code: number): string {
  if (code > 128 && code < 160) {
    const names: Record<number, string> = {
      1: 'SIGHUP',
      2: 'SIGINT',
      6: 'SIGABRT',
      9: 'SIGKILL',
      11: 'SIGSEGV',
      13: 'SIGPIPE',
      15: 'SIGTERM',
    };
    const name = names[code - 128];
    return `exit code ${code}${name ? ` (killed by ${name})` : ''}`;
  }
  if (code === 127) return 'exit code 127 (command not found)';
  if (code === 126) return 'exit code 126 (command not executable)';
  return `exit code ${code}`;
}

/** `1.2s`, `3m04s`. */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  return `${minutes}m${String(seconds).padStart(2, '0')}s`;
}
