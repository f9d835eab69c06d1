/**
 * What the runtime tells the world while it runs: one event per happening, in order.
 * `slipway run --json` writes them as JSON lines; the human output and (later) the
 * agent's log shipping consume the same stream.
 */
import type { Outcome } from './outcome.ts';

interface Base {
  /** Milliseconds since the epoch. */
  time: number;
}

export type RunEvent =
  | (Base & { type: 'run.started'; runId: string; jobs: string[]; backend: string })
  | (Base & { type: 'job.started'; job: string; attempt: number })
  /** Progress of the runtime itself: pulling, starting services, caches, artifacts. */
  | (Base & { type: 'job.progress'; job: string; attempt: number; message: string })
  | (Base & { type: 'step.started'; job: string; attempt: number; step: number; name: string })
  | (Base & {
      type: 'output';
      job: string;
      attempt: number;
      step: number;
      stream: 'stdout' | 'stderr';
      /** The bytes after masking. JSON output carries them as UTF-8 text. */
      data: Buffer;
      /**
       * Raw (unmasked) bytes of each of the step's streams behind this output and all
       * before it: where a resumed step continues. Absent for the runtime's own lines.
       */
      raw?: { stdout: number; stderr: number };
    })
  | (Base & {
      type: 'step.finished';
      job: string;
      attempt: number;
      step: number;
      name: string;
      outcome: Outcome;
      reason: string;
      exitCode: number | null;
      durationMs: number;
      allowedFailure: boolean;
    })
  | (Base & {
      type: 'job.finished';
      job: string;
      attempt: number;
      outcome: Outcome;
      reason: string;
      durationMs: number;
      /** True when another attempt follows. */
      willRetry: boolean;
      allowedFailure: boolean;
    })
  | (Base & { type: 'run.finished'; outcome: Outcome; durationMs: number });

/** A consumer of run events. Must not throw; must be fast (it is on the output path). */
export type Reporter = (event: RunEvent) => void;

/** Distributive Omit, so each event variant keeps its own fields. */
export type EventInput = RunEvent extends infer E
  ? E extends RunEvent
    ? Omit<E, 'time'>
    : never
  : never;

/** Adds the timestamp to an event and hands it to the reporter. */
export function emit(reporter: Reporter, event: EventInput): void {
  reporter({ ...event, time: Date.now() });
}
