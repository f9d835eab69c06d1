/**
 * Follows a build's output live (`slipway logs -f`, `trigger --follow`) over the SSE log
 * stream until the build ends. A controller that goes away (a restart, a crash, a network
 * cut) is reconnected to with backoff and `Last-Event-ID`, so every chunk is printed once;
 * after `reconnectForMs` without a controller it gives up with a clear message.
 */
import { SlipwayError } from '../errors/index.ts';
import type { LogEvent } from '../api/schemas.ts';
import { attemptLabels, type Build, type BuildDetail, type Client } from './api-client.ts';
import { LogPrinter } from './log-printer.ts';
import type { Output } from './output.ts';

export interface FollowOptions {
  /** Bytes as they are, without prefixes (`--raw`). */
  raw: boolean;
  /** How long to keep trying to reach a controller that went away. */
  reconnectForMs: number;
  /** Silence (not even the 15 s heartbeat) after which a connection counts as lost. */
  idleMs?: number;
}

/** A stream answer that is worth retrying: the controller is (re)starting or overloaded. */
const RETRIABLE_STATUS = new Set([502, 503, 504]);
const FIRST_DELAY_MS = 250;
const MAX_DELAY_MS = 5000;
/** How often the steps of unfinished lines are looked up, at most. */
const STEP_CHECK_MS = 1000;

/** Follows a build until it ends; returns its final state (with its detail). */
export async function followBuild(
  api: Client,
  buildId: number,
  output: Output,
  options: FollowOptions,
): Promise<BuildDetail> {
  let detail = await api.request<BuildDetail>('GET', `/api/v1/builds/${buildId}`);
  let labels = attemptLabels(detail);
  const printer = new LogPrinter({
    write: (text) => output.write(text),
    label: (attempt) => labels.get(attempt) ?? String(attempt),
    colors: output.outColor,
  });
  const relearn = async (): Promise<void> => {
    try {
      detail = await api.request<BuildDetail>('GET', `/api/v1/builds/${buildId}`);
    } catch (error) {
      // A controller going away answers badly for a moment: reconnect, do not fail.
      throw new SlipwayError('SW_SERVER_UNREACHABLE', (error as Error).message);
    }
    labels = attemptLabels(detail);
  };
  const steps = stepEnds(printer, relearn, () => detail);
  const asked = new Set<number>();
  let final: Build = detail;
  let lostSince: number | undefined;
  let delay = FIRST_DELAY_MS;
  const idleMs = options.idleMs ?? 45_000;
  // Loaded here, not at start-up: a client command that does not follow never needs it.
  const { followSse } = await import('../api/sse-client.ts');
  try {
    await followSse({
      idleMs,
      connect: (headers, signal) =>
        api.fetch('GET', `/api/v1/builds/${buildId}/logs?follow=1`, undefined, headers, signal),
      onOpen() {
        if (lostSince !== undefined)
          output.err(`slipway: reconnected to ${api.server}; the output goes on`);
        lostSince = undefined;
        delay = FIRST_DELAY_MS;
      },
      async onEvent(event) {
        if (event.event === 'log') {
          const chunk = JSON.parse(event.data) as LogEvent;
          const data = Buffer.from(chunk.b64, 'base64');
          if (options.raw) output.write(data);
          else {
            if (!labels.has(chunk.attempt) && !asked.has(chunk.attempt)) {
              // A new attempt (a retry, the next job): learn its job's name once.
              await relearn();
              asked.add(chunk.attempt);
            }
            steps.before(chunk.attempt, chunk.step);
            printer.chunk(chunk.attempt, chunk.step, data);
          }
        } else if (event.event === 'build') {
          final = JSON.parse(event.data) as Build;
          steps.check();
        } else if (event.event === 'end') {
          printer.end();
          return 'end';
        }
      },
      async onLost(loss) {
        const { response, error } = loss;
        if (response && !RETRIABLE_STATUS.has(response.status))
          throw new SlipwayError(
            'SW_API_ERROR',
            `the log stream of build ${buildId}: ${response.status} ${await response.text()}`,
          );
        if (error instanceof SlipwayError && error.code !== 'SW_SERVER_UNREACHABLE') throw error;
        const reason = loss.idle
          ? `no word from the controller for ${Math.round(idleMs / 1000)}s`
          : error instanceof SlipwayError
            ? error.message.replace(/; start it.*$/, '')
            : loss.reason;
        const now = Date.now();
        if (lostSince === undefined) {
          lostSince = now;
          output.err(`slipway: lost the log stream of build ${buildId}: ${reason}; reconnecting`);
        } else if (now - lostSince >= options.reconnectForMs) {
          throw new SlipwayError(
            'SW_SERVER_UNREACHABLE',
            `gave up following build ${buildId}: no controller at ${api.server} for ${Math.round((now - lostSince) / 1000)}s (${reason}); the build itself goes on: follow it again with \`slipway logs -f ${buildId}\``,
          );
        }
        const wait = delay;
        delay = Math.min(delay * 2, MAX_DELAY_MS);
        return wait;
      },
    });
    return { ...detail, ...final };
  } finally {
    steps.stop();
  }
}

/**
 * Decides when a step has ended, to print its unfinished line: at once when a later step of
 * the same attempt starts printing (steps of an attempt run in order); otherwise after a
 * `build` event, when the build's detail says the step finished and every byte it stored
 * has arrived (so a late chunk cannot split the line).
 */
function stepEnds(
  printer: LogPrinter,
  relearn: () => Promise<void>,
  detail: () => BuildDetail,
): { before(attempt: number, step: number): void; check(): void; stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let lastCheck = 0;
  const finishedSteps = (): void => {
    const d = detail();
    for (const p of printer.progress()) {
      if (!p.partial) continue;
      const attempt = d.jobRuns.flatMap((r) => r.attempts).find((a) => a.id === p.attempt);
      const step = attempt?.steps.find((s) => s.index === p.step);
      const done =
        p.step >= 0
          ? step?.finishedAt != null && p.bytes >= step.logBytes
          : attempt?.finishedAt != null;
      if (done) printer.endStep(p.attempt, p.step);
    }
  };
  const run = (): void => {
    timer = undefined;
    if (running) return;
    running = true;
    lastCheck = Date.now();
    relearn()
      .then(finishedSteps)
      .catch(() => undefined) // the next build event tries again
      .finally(() => (running = false));
  };
  return {
    before(attempt, step) {
      if (step < 0) return;
      for (const p of printer.progress())
        if (p.attempt === attempt && p.step >= 0 && p.step < step && p.partial)
          printer.endStep(p.attempt, p.step);
    },
    check() {
      if (timer || !printer.progress().some((p) => p.partial)) return;
      timer = setTimeout(run, Math.max(0, lastCheck + STEP_CHECK_MS - Date.now()));
    },
    stop() {
      clearTimeout(timer);
    },
  };
}
