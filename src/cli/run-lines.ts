/**
 * Turns a step's output chunks into lines for `slipway run`'s human view. A line without
 * its newline yet (progress dots, a prompt) is not held back for long: it is printed when
 * the step's other stream speaks, so a failure message on stderr is not buried at the end
 * of a line of dots on stdout, and after a short pause of its own stream. A line longer
 * than `maxLine` is printed in pieces rather than held without bound.
 */

/** Time and timers, so tests can drive the pauses. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Why a piece was printed: a whole line, a piece of an over-long line, or a held part. */
export type LineEnd = 'newline' | 'long' | 'partial';

export interface LineAssemblerOptions {
  /** Receives each line (without its newline), with what it belongs to and when. */
  emit: (owner: string, text: Buffer, end: LineEnd, time: number) => void;
  /** How long a partial line waits for more of itself (default 150 ms). */
  pauseMs?: number;
  /** Longest piece held (default 64 KiB). */
  maxLine?: number;
  clock?: Clock;
}

interface Held {
  owner: string;
  data: Buffer;
  timer: unknown;
}

export class LineAssembler {
  private readonly held = new Map<string, Held>();
  private readonly pauseMs: number;
  private readonly maxLine: number;
  private readonly clock: Clock;

  constructor(private readonly options: LineAssemblerOptions) {
    this.pauseMs = options.pauseMs ?? 150;
    this.maxLine = options.maxLine ?? 64 * 1024;
    this.clock = options.clock ?? systemClock;
  }

  /**
   * Takes a chunk of one stream. `group` names the step (its streams are siblings),
   * `owner` is passed back with its lines (the job).
   */
  write(
    owner: string,
    group: string,
    stream: string,
    chunk: Buffer,
    time = this.clock.now(),
  ): void {
    if (chunk.length === 0) return;
    const key = keyOf(group, stream);
    // The other stream speaks: its words come after what this one has said so far.
    for (const other of this.held.keys())
      if (other !== key && other.startsWith(`${group}\0`)) this.flush(other, time);
    const held = this.held.get(key);
    let data = held ? Buffer.concat([held.data, chunk]) : chunk;
    if (held) this.clock.clearTimeout(held.timer);
    for (let nl = data.indexOf(10); nl >= 0; nl = data.indexOf(10)) {
      this.options.emit(owner, data.subarray(0, nl), 'newline', time);
      data = data.subarray(nl + 1);
    }
    while (data.length > this.maxLine) {
      this.options.emit(owner, data.subarray(0, this.maxLine), 'long', time);
      data = data.subarray(this.maxLine);
    }
    if (data.length === 0) {
      this.held.delete(key);
      return;
    }
    this.held.set(key, {
      owner,
      data: Buffer.from(data),
      timer: this.clock.setTimeout(() => this.flush(key), this.pauseMs),
    });
  }

  /** Prints what a step's streams hold (the step ended). */
  flushGroup(group: string, time = this.clock.now()): void {
    for (const key of [...this.held.keys()])
      if (key.startsWith(`${group}\0`)) this.flush(key, time);
  }

  /** Prints everything held and stops the timers. */
  close(time = this.clock.now()): void {
    for (const key of [...this.held.keys()]) this.flush(key, time);
  }

  private flush(key: string, time = this.clock.now()): void {
    const held = this.held.get(key);
    if (!held) return;
    this.held.delete(key);
    this.clock.clearTimeout(held.timer);
    this.options.emit(held.owner, held.data, 'partial', time);
  }
}

function keyOf(group: string, stream: string): string {
  return `${group}\0${stream}`;
}
