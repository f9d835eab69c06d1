/**
 * Prints a build's output as lines prefixed `[job:step]`. Chunks arrive cut anywhere, in
 * the middle of a line or of a UTF-8 character, and the steps of parallel jobs interleave:
 * each (attempt, step) has its own streaming UTF-8 decoder and partial line, and a line is
 * printed, with its prefix once, when it is complete, when it grows too long, or when its
 * step ends. Each line is made safe for the terminal (see terminal-filter.ts).
 */
import { StringDecoder } from 'node:string_decoder';
import { renderCarriageReturns, sanitizeForTerminal } from './terminal-filter.ts';

export interface LogPrinterOptions {
  /** Receives whole lines, each with its line end. */
  write: (text: string) => void;
  /** The job label of an attempt's lines. */
  label: (attempt: number) => string;
  /** Keep the build's colours (a terminal that takes them); otherwise plain text. */
  colors: boolean;
  /** Longest partial line held before it is printed anyway (characters). */
  maxLine?: number;
}

interface Pending {
  attempt: number;
  step: number;
  decoder: StringDecoder;
  partial: string;
  /** Bytes received for this step. */
  bytes: number;
}

/** Where a step's lines stand: how many bytes were received, whether a line is unfinished. */
export interface StepProgress {
  attempt: number;
  step: number;
  bytes: number;
  partial: boolean;
}

export class LogPrinter {
  private readonly steps = new Map<string, Pending>();
  private readonly maxLine: number;

  constructor(private readonly options: LogPrinterOptions) {
    this.maxLine = options.maxLine ?? 64 * 1024;
  }

  /** The next bytes of one step's output. */
  chunk(attempt: number, step: number, data: Uint8Array): void {
    const key = `${attempt}:${step}`;
    let pending = this.steps.get(key);
    if (!pending) {
      pending = { attempt, step, decoder: new StringDecoder('utf8'), partial: '', bytes: 0 };
      this.steps.set(key, pending);
    }
    pending.bytes += data.length;
    const text =
      pending.partial +
      pending.decoder.write(Buffer.from(data.buffer, data.byteOffset, data.length));
    const end = text.lastIndexOf('\n');
    let lines = end >= 0 ? text.slice(0, end).split('\n') : [];
    let rest = end >= 0 ? text.slice(end + 1) : text;
    if (rest.length > this.maxLine) {
      // A line without an end is printed in pieces rather than held without bound.
      const pieces: string[] = [];
      while (rest.length > this.maxLine) {
        pieces.push(`${rest.slice(0, this.maxLine)} ↩`);
        rest = rest.slice(this.maxLine);
      }
      lines = [...lines, ...pieces];
    }
    pending.partial = rest;
    if (lines.length > 0) this.print(pending, lines);
  }

  /** A step ended: its unfinished line (and any incomplete character) is printed. */
  endStep(attempt: number, step: number): void {
    const pending = this.steps.get(`${attempt}:${step}`);
    if (!pending) return;
    const rest = pending.partial + pending.decoder.end();
    pending.partial = '';
    pending.decoder = new StringDecoder('utf8');
    if (rest) this.print(pending, [rest]);
  }

  /** Every step with output so far. */
  progress(): StepProgress[] {
    return [...this.steps.values()].map((p) => ({
      attempt: p.attempt,
      step: p.step,
      bytes: p.bytes,
      partial: p.partial.length > 0,
    }));
  }

  /** The output ended: every unfinished line is printed. */
  end(): void {
    for (const p of this.steps.values()) this.endStep(p.attempt, p.step);
  }

  private print(pending: Pending, lines: readonly string[]): void {
    const label = this.options.label(pending.attempt);
    // Agent lines (step -1) are labelled by the job only.
    const prefix = `[${label}${pending.step >= 0 ? `:${pending.step + 1}` : ''}] `;
    const safePrefix = sanitizeForTerminal(prefix, { colors: false });
    let text = '';
    for (const line of lines)
      text += `${safePrefix}${renderCarriageReturns(sanitizeForTerminal(line, { colors: this.options.colors }))}\n`;
    this.options.write(text);
  }
}
